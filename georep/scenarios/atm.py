"""Scenario ``atm``: a withdrawal whose reply is lost, failed over during a partition, retried.

Place in the data flow: a scenario (:mod:`.base`), run by :mod:`.run`.

The story: account acct_1001 holds $1000. A partition cuts the primary region (``a``) from the
backup (``b``). The ATM asks the primary for $500 (txn_7); the primary debits the account but the
reply never reaches the ATM. The ATM fails over to the backup, which has not seen the debit, and
asks again. The partition heals; the ATM's original request is retried at the primary. The bank
claims "no duplicate withdrawal occurred". A second account, acct_1002 with $600, goes through
the same steps: it shows what each design does when the balance cannot cover both debits.

Every request checks the region's balance first, as an ATM does. The variants:

* ``lww-balance``: the balance is a plain number (read, check, write), policy lww;
* ``pn-counter``: a PN-counter (``net``), policy crdt: every debit counts;
* ``bounded-counter``: a bounded counter (``balance``), policy crdt: the primary holds the
  rights and gives the backup half; a region debits only within its own rights;
* ``home-idempotency``: a plain balance, and before it a record of the transaction id claimed in
  the home region (the primary) with a conditional write, carrying its status (pending, then
  debited or refused). A request that cannot reach home is refused; a retry of a debited
  transaction is recognised (paid out, not debited again); a refused one is judged again; a
  pending one (its outcome unknown) is in doubt and refused, never paid twice.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from ..errors import WriteRefused
from .base import Context, Row, Scenario, plural
from .home import HomeRecords, HomeUnreachable

AMOUNT = 500
ACCOUNTS = {"acct_1001": 1000, "acct_1002": 600}
TXNS = {"acct_1001": "txn_7", "acct_1002": "txn_8"}


class Refused(Exception):
    """The bank declined the request; nothing was debited."""


class Bank:
    """One variant's account operations on the lab."""

    def __init__(self, ctx: Context, variant: str, records: HomeRecords | None) -> None:
        self.ctx, self.variant, self.records = ctx, variant, records
        self.table = ctx.tables[ATM.variants[variant]]
        self.attr = {"pn-counter": "net", "bounded-counter": "balance"}.get(variant, "balance")
        self.crdt = variant in ("pn-counter", "bounded-counter")

    async def open(self, key: str, amount: int) -> None:
        lab, a, b = self.ctx.lab, self.ctx.a, self.ctx.b
        if not self.crdt:
            await lab.put(a, self.table, key, {"balance": amount})
            return
        await lab.crdt(a, self.table, key, [(self.attr, "+=", amount)])
        if self.variant == "bounded-counter":
            await lab.transfer_rights(a, self.table, key, self.attr, b, amount // 2)

    async def balance(self, region: str, key: str) -> int:
        item = await self.ctx.lab.get(region, self.table, key)
        return int((item or {}).get(self.attr, 0))

    async def withdraw(self, region: str, key: str, txn: str) -> str:
        """Debit AMOUNT at ``region``: "debited"; _Recognised for a retry of a transaction the
        home record says was debited; Refused when the bank declines (nothing debited)."""
        if self.records is None:
            return await self._debit(region, key)
        tkey = self.ctx.key(txn)
        await self._own(region, tkey, key)
        try:
            done = await self._debit(region, key)
        except Refused:
            with contextlib.suppress(HomeUnreachable):  # unreachable: it stays pending
                await self.records.settle(region, tkey, "pending", "refused")
            raise
        with contextlib.suppress(HomeUnreachable):  # debited either way; a retry finds it
            await self.records.settle(region, tkey, "pending", "debited")  # pending: in doubt
        return done

    async def _own(self, region: str, tkey: str, key: str) -> None:
        """Claim the transaction at home as pending, or take back one refused before;
        "recognised" (raised as _Recognised) when it was debited already."""
        assert self.records is not None
        try:
            record = await self.records.claim(region, tkey, {"account": key,
                                                             "amount": str(AMOUNT),
                                                             "status": "pending"})
            if record is None:
                return
            if record.get("status") == "debited":
                raise _Recognised()
            if record.get("status") == "refused" and await self.records.settle(
                    region, tkey, "refused", "pending"):
                return
        except HomeUnreachable as exc:
            raise Refused(f"{exc}: not processed") from None
        raise Refused(f"transaction {tkey} is in doubt at home (pending): not paid out; "
                      "it needs settling by hand")

    async def _debit(self, region: str, key: str) -> str:
        held = await self.balance(region, key)
        if held < AMOUNT:
            raise Refused(f"insufficient funds: {region} reads a balance of {held}")
        if not self.crdt:
            await self.ctx.lab.put(region, self.table, key, {"balance": held - AMOUNT})
            return "debited"
        try:
            await self.ctx.lab.crdt(region, self.table, key, [(self.attr, "-=", AMOUNT)])
        except WriteRefused as exc:  # refused before writing: no rights in this region
            raise Refused(str(exc).split(": ")[-1].split(" (")[0]) from None
        return "debited"


class _Recognised(Exception):
    """A retry of a transaction the home record says was debited."""


class ATM(Scenario):
    name = "atm"
    title = "ATM withdrawal: a lost reply, a failover during a partition, a retry after heal"
    story = ("$500 from a $1000 account: the primary debits but its reply is lost; the ATM "
             "fails over to the backup during the partition; the original request is retried "
             "after heal. A $600 account goes through the same steps.")
    claim = "no duplicate withdrawal occurred"
    variants: ClassVar[dict[str, str]] = {"lww-balance": "lww", "pn-counter": "crdt",
                                          "bounded-counter": "crdt", "home-idempotency": "lww"}
    documented: ClassVar[dict[str, dict[str, Any]]] = {
        "lww-balance": {"holds": False, "measured": {
            "paid_out": 1000, "balance": 0, "debits": 3, "overwritten": 1,
            "low_paid_out": 500, "low_balance": 100, "converged": True}},
        "pn-counter": {"holds": False, "measured": {
            "paid_out": 500, "balance": 0, "debits": 2, "overwritten": 0,
            "low_paid_out": 500, "low_balance": -400, "converged": True}},
        "bounded-counter": {"holds": False, "measured": {
            "paid_out": 500, "balance": 0, "debits": 2, "overwritten": 0,
            "low_paid_out": 0, "low_balance": 600, "converged": True}},
        "home-idempotency": {"holds": True, "measured": {
            "paid_out": 500, "balance": 500, "debits": 1, "overwritten": 0,
            "low_paid_out": 500, "low_balance": 100, "converged": True}},
    }

    async def run_variant(self, ctx: Context, variant: str) -> Row:
        if variant != "home-idempotency":
            return await self._run(ctx, variant, Bank(ctx, variant, None))
        async with HomeRecords(ctx.lab, ctx.tables["lww"], ctx.a) as records:
            return await self._run(ctx, variant, Bank(ctx, variant, records))

    async def _run(self, ctx: Context, variant: str, bank: Bank) -> Row:
        lab, a, b = ctx.lab, ctx.a, ctx.b
        keys = {name: ctx.key(name) for name in ACCOUNTS}
        for name, amount in ACCOUNTS.items():
            await bank.open(keys[name], amount)
        await lab.settle()
        ctx.say(f"accounts opened at {a} and replicated: acct_1001 ${ACCOUNTS['acct_1001']}, "
                f"acct_1002 ${ACCOUNTS['acct_1002']}" + (
                    f"; {a} gave {b} half of each account's rights" if
                    variant == "bounded-counter" else ""))
        lab.partition(a, b)
        ctx.say(f"partition between {a} (primary) and {b} (backup)")
        requests: list[dict[str, Any]] = []

        async def ask(region: str, name: str, why: str, reply_lost: bool = False) -> None:
            request = {"index": len(requests), "account": name, "txn": TXNS[name],
                       "region": region, "why": why}
            try:
                request["result"] = await bank.withdraw(region, keys[name], TXNS[name])
            except _Recognised:
                request["result"] = "recognised"
            except Refused as exc:
                request.update(result="refused", error=str(exc))
            request["paid_out"] = 0 if reply_lost or request["result"] == "refused" else AMOUNT
            if reply_lost:
                request["reply"] = "lost: the ATM timed out"
            requests.append(request)
            ctx.say(f"{why}: {region} {request['result']} {name} ${AMOUNT}"
                    + (f" ({request.get('error')})" if "error" in request else "")
                    + ("; the reply is lost" if reply_lost else
                       f"; the ATM pays out ${request['paid_out']}"), region=region)

        for name in ACCOUNTS:
            await ask(a, name, "the ATM asks the primary", reply_lost=True)
        for name in ACCOUNTS:
            await ask(b, name, "it fails over to the backup")
        lab.heal(a, b)
        await lab.settle()
        ctx.say("partition healed; the regions caught up")
        for name in ACCOUNTS:
            await ask(a, name, "the original request is retried at the primary")
        await lab.settle()
        return await self._row(ctx, variant, bank, keys, requests)

    async def _row(self, ctx: Context, variant: str, bank: Bank, keys: dict[str, str],
                   requests: list[dict[str, Any]]) -> Row:
        finals = {name: {r.name: await bank.balance(r.name, key)
                         for r in ctx.lab.config.regions} for name, key in keys.items()}
        feed = await ctx.lab.conflicts(bank.table, keys["acct_1001"])
        overwritten = list({(o["region"], str(o["hlc"])): o
                            for e in feed for o in e["losers"]}.values())

        def of(name: str, field: str) -> list[dict[str, Any]]:
            return [r for r in requests if r["account"] == name and r["result"] == field]

        main, low = finals["acct_1001"][ctx.a], finals["acct_1002"][ctx.a]
        paid = sum(r["paid_out"] for r in requests if r["account"] == "acct_1001")
        low_paid = sum(r["paid_out"] for r in requests if r["account"] == "acct_1002")
        measured = {"paid_out": paid, "balance": main,
                    "debits": len(of("acct_1001", "debited")),
                    "overwritten": len(overwritten), "low_paid_out": low_paid,
                    "low_balance": low,
                    "converged": all(len(set(v.values())) == 1 for v in finals.values())}
        holds = (measured["converged"] and paid == AMOUNT and main == ACCOUNTS["acct_1001"] - paid
                 and low == ACCOUNTS["acct_1002"] - low_paid)
        charged = ACCOUNTS["acct_1001"] - main
        text = (f"${paid} paid out for one ${AMOUNT} withdrawal, ${charged} taken from the "
                f"balance ({plural(len(of('acct_1001', 'debited')), 'debit')}"
                + (f", {len(overwritten)} overwritten and named in the feed" if overwritten
                   else "") + f"); the ${ACCOUNTS['acct_1002']} account ends at {low}"
                + (" (an overdraft)" if low < 0 else "")
                + (f" after ${low_paid} paid out" if low_paid else ", nothing paid out"))
        evidence = {"accounts": keys, "table": bank.table, "balances": finals,
                    "requests": requests, "overwritten": overwritten}
        return Row(variant, holds, text, measured, evidence)


SCENARIO = ATM()
