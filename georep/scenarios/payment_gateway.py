"""Scenario ``payment-gateway``: payments flow while a partition cuts the gateway from its
processor; a circuit breaker in front of the processor, or none.

Place in the data flow: a scenario (:mod:`.base`), run by :mod:`.run`. The gateway's side is
measured on its own requests; the replicator's side (its link's breaker, the link's DLQ) from the
lab's events, the same ones the live lab's metrics are kept from (on a live lab the outcome also
carries the ``georep_breaker_state`` and ``georep_dlq_depth`` gauges of the link).

The story: a payment gateway in ``a`` charges each payment in the processor's ledger in ``b``
(a conditional write keyed by the payment id, through the link a>b: a retry of the same payment
is recognised, never charged again) and writes a receipt through georep in ``a``, which the
replicator ships to ``b``. A partition cuts a from b. The story claims "0 duplicates, circuit
breaker prevented uncertain state processing", with the breaker opening at T+30s. The variants:

* ``breaker``: the gateway's breaker opens after 3 failed charges; while it is open a payment is
  refused at once, before anything is sent (certain: not charged), until a probe succeeds;
* ``no-breaker``: every payment during the partition waits for its timeout and ends uncertain
  (sent, no answer: it may have been charged).

Payments continue until the replicator's own breaker on a>b has opened too (so receipts reach
the link's DLQ); then the partition heals, traffic returns, every uncertain payment is retried
with its id, and the DLQ drains.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from ..core.breaker import BreakerState, CircuitBreaker
from ..core.divergence import dlq_depth_series
from ..errors import LabError
from ..runtime.waits import wait_for
from .base import Context, Row, Scenario, link_events
from .home import HomeRecords, HomeUnreachable

THRESHOLD, COOLDOWN_S = 3, 5.0  # the gateway's breaker
PACE_S = 0.2  # between payments
MIN_DURING, PARTITION_LIMIT_S = 6, 90.0
STORY_OPEN_S = 30.0


class Gateway:
    def __init__(self, ctx: Context, ledger: HomeRecords, breaker: CircuitBreaker | None) -> None:
        self.ctx, self.ledger, self.breaker = ctx, ledger, breaker
        self.table = ctx.tables["lww"]
        self.payments: list[dict[str, Any]] = []
        self.opened_at: float | None = None  # monotonic time the breaker opened

    async def pay(self, pid: str, phase: str, cents: int = 4200) -> dict[str, Any]:
        """Charge ``pid`` once: ok (charged or recognised), refused (not sent: certain) or
        uncertain (sent, no answer)."""
        lab, a = self.ctx.lab, self.ctx.a
        t0 = time.monotonic()
        p = {"index": len(self.payments), "payment": pid, "phase": phase, "t": t0}
        if self.breaker is not None and not self.breaker.allow(t0):
            p.update(result="refused", error="circuit open: the payment processor is "
                     "unreachable; not charged, try again later")
        else:
            try:
                earlier = await self.ledger.claim(a, self.ctx.key(pid), {"cents": str(cents)})
            except HomeUnreachable as exc:
                p.update(result="uncertain", error=str(exc))
                self._record(False, str(exc))
            else:
                p.update(result="ok", charged=earlier is None)
                self._record(True)
        p["ms"] = round((time.monotonic() - t0) * 1000, 3)
        await lab.put(a, self.table, self.ctx.key(f"receipt_{pid}_{p['index']}"),
                      {"payment": self.ctx.key(pid), "status": p["result"]})
        self.payments.append(p)
        return p

    def _record(self, ok: bool, reason: str = "") -> None:
        if self.breaker is None:
            return
        now = time.monotonic()
        if ok:
            self.breaker.record_success(now)
            return
        was = self.breaker.state
        self.breaker.record_failure(now, reason)
        if was is not BreakerState.OPEN and self.breaker.state is BreakerState.OPEN \
                and self.opened_at is None:
            self.opened_at = now


def _dlq_depth(lab: Any, link: str) -> int:
    series = [d for _, ln, d in dlq_depth_series(lab.run_events(), 0.0) if ln == link]
    return series[-1] if series else 0


def _gauges(lab: Any, link: str) -> dict[str, float] | None:
    """The live lab's metrics for ``link`` (None on the embedded lab)."""
    control = getattr(lab, "control", None)
    if control is None:
        return None
    out = {}
    for line in str(control.call("GET", "/metrics")).splitlines():
        for name in ("georep_breaker_state", "georep_dlq_depth"):
            if line.startswith(f'{name}{{link="{link}"}}'):
                out[name] = float(line.rsplit(" ", 1)[1])
    return out


class PaymentGateway(Scenario):
    name = "payment-gateway"
    title = "Payment gateway behind a circuit breaker: a partition cuts it from its processor"
    story = ("payments flow from the gateway in one region to the processor's ledger in the "
             "other; a partition cuts them apart; it heals; uncertain payments are retried.")
    claim = "0 duplicates, circuit breaker prevented uncertain state processing"
    variants: ClassVar[dict[str, str]] = {"breaker": "lww", "no-breaker": "lww"}
    documented: ClassVar[dict[str, dict[str, Any]]] = {
        "breaker": {"holds": True, "measured": {
            "charged_twice": 0, "refused_charged": 0, "uncertain_before_open": THRESHOLD,
            "every_payment_settled": True, "dlq_after": 0}},
        "no-breaker": {"holds": False, "measured": {
            "charged_twice": 0, "refused_charged": 0, "refused_fast": 0,
            "every_payment_settled": True, "dlq_after": 0}},
    }

    async def run_variant(self, ctx: Context, variant: str) -> Row:
        breaker = CircuitBreaker(THRESHOLD, COOLDOWN_S) if variant == "breaker" else None
        async with HomeRecords(ctx.lab, ctx.tables["lww"], ctx.b) as ledger:
            gateway = Gateway(ctx, ledger, breaker)
            return await self._run(ctx, variant, gateway)

    async def _run(self, ctx: Context, variant: str, gw: Gateway) -> Row:
        lab, a, b, link = ctx.lab, ctx.a, ctx.b, f"{ctx.a}>{ctx.b}"
        for n in range(3):
            await gw.pay(f"pay_{n:03d}", "before")
        await lab.settle()
        ctx.say(f"3 payments from the gateway in {a} charged in the ledger in {b}")
        lab.partition(a, b)
        cut_mono, cut_wall, cut_mark = time.monotonic(), lab.clock(), len(lab.run_events())
        ctx.say(f"partition between {a} and {b}")
        n = 3
        while (len(gw.payments) - 3 < MIN_DURING
               or not link_events(lab, "breaker", link, cut_mark)):
            if time.monotonic() - cut_mono > PARTITION_LIMIT_S:
                raise LabError(f"the replicator's breaker on {link} did not open within "
                               f"{PARTITION_LIMIT_S:.0f}s of the partition")
            p = await gw.pay(f"pay_{n:03d}", "partition")
            n += 1
            if p["result"] != "uncertain":
                await asyncio.sleep(PACE_S)  # the next customer; not a wait for a condition
        opened = [e for e in link_events(lab, "breaker", link, cut_mark)
                  if e.get("new") == "open"]
        during = [p for p in gw.payments if p["phase"] == "partition"]
        ctx.say(f"{len(during)} payments during the partition: "
                f"{_count(during, 'uncertain')} uncertain, {_count(during, 'refused')} refused "
                "at once" + (f"; the gateway's breaker opened {gw.opened_at - cut_mono:.1f}s "
                             "after the cut" if gw.opened_at else ""))
        gauges_cut = _gauges(lab, link)
        lab.heal(a, b)
        heal_mono, heal_wall = time.monotonic(), lab.clock()
        ctx.say("partition healed")
        returned = await self._traffic_returns(gw, n)
        ctx.say(f"traffic returned {returned - heal_mono:.1f}s after the heal")
        for p in [p for p in gw.payments if p["result"] == "uncertain"]:
            await gw.pay(p["payment"], "retry")
        ctx.say("every uncertain payment retried with its payment id")
        await wait_for(lambda: _dlq_depth(lab, link) == 0, timeout=60,
                       what=f"the DLQ of {link} to drain")
        drained = lab.clock() - heal_wall
        await lab.settle()
        ctx.say(f"the DLQ of {link} drained {drained:.1f}s after the heal")
        facts = {"cut_wall": cut_wall, "cut_mono": cut_mono, "opened": opened,
                 "returned_s": returned - heal_mono, "drained_s": drained,
                 "gauges": {"during the partition": gauges_cut,
                            "after the drain": _gauges(lab, link)}}
        return await self._row(ctx, variant, gw, facts)

    async def _traffic_returns(self, gw: Gateway, n: int) -> float:
        """Pay until a payment goes through; the monotonic time it did."""
        deadline = time.monotonic() + COOLDOWN_S + 30
        while time.monotonic() < deadline:
            p = await gw.pay(f"pay_{n:03d}", "after")
            n += 1
            if p["result"] == "ok":
                return time.monotonic()
            await asyncio.sleep(PACE_S)
        raise LabError("no payment went through within 30s of the heal and the cool-down")

    async def _row(self, ctx: Context, variant: str, gw: Gateway, facts: dict) -> Row:
        mine, ledger, hk = {ctx.key(p["payment"]) for p in gw.payments}, {}, gw.ledger.hash_key
        for r in ctx.lab.config.regions:
            items = await ctx.lab.scan(r.name, gw.table)
            ledger[r.name] = sorted(k for k in (str(i[hk]) for i in items if "cents" in i)
                                    if k in mine)
        charged = [pid for pid in ledger[ctx.b] if pid in mine]
        wins: dict[str, int] = {}
        for p in gw.payments:
            if p.get("charged"):
                wins[p["payment"]] = wins.get(p["payment"], 0) + 1
        final = {p["payment"]: p["result"] for p in gw.payments}  # each id's last attempt
        refused = {p["payment"] for p in gw.payments if p["result"] == "refused"}
        settled = [pid for pid, res in final.items() if res == "ok"]
        during = [p for p in gw.payments if p["phase"] == "partition"]
        before_open = [p for p in during if p["result"] == "uncertain"
                       and (gw.opened_at is None or p["t"] < gw.opened_at)]
        fast = [p["ms"] for p in during if p["result"] == "refused"]
        slow = [p["ms"] for p in during if p["result"] == "uncertain"]
        opened = facts["opened"]
        measured = {
            "charged_twice": sum(1 for c in wins.values() if c > 1),
            "refused_charged": len({ctx.key(pid) for pid in refused - set(settled)}
                                   & set(charged)),
            "uncertain_before_open": len(before_open), "uncertain": len(slow),
            "refused_fast": len(fast),
            "every_payment_settled": sorted(ctx.key(p) for p in settled) == sorted(charged)
            and all(set(v) == set(ledger[ctx.b]) for v in ledger.values()),
            "dlq_after": _dlq_depth(ctx.lab, f"{ctx.a}>{ctx.b}"),
            "gateway_breaker_open_s": None if gw.opened_at is None else
            round(gw.opened_at - facts["cut_mono"], 2),
            "link_breaker_open_s": round(opened[0]["time"] - facts["cut_wall"], 2)
            if opened else None,
            "fail_fast_ms_max": max(fast) if fast else None,
            "timeout_ms_mean": round(sum(slow) / len(slow)) if slow else None,
            "traffic_returned_s": round(facts["returned_s"], 2),
            "dlq_drained_s": round(facts["drained_s"], 2)}
        holds = (measured["charged_twice"] == 0 and measured["refused_charged"] == 0
                 and measured["every_payment_settled"] and gw.opened_at is not None
                 and len(before_open) <= THRESHOLD)
        text = self._text(variant, measured)
        for p in gw.payments:
            p["t"] = round(p["t"] - facts["cut_mono"], 3)  # seconds since the cut
        evidence = {"table": ctx.tables["lww"], "payments": gw.payments, "ledger": charged,
                    "link_breaker": opened, "metrics": facts["gauges"],
                    "story_open_s": STORY_OPEN_S}
        return Row(variant, holds, text, measured, evidence)

    @staticmethod
    def _text(variant: str, m: dict[str, Any]) -> str:
        head = (f"breaker open {m['gateway_breaker_open_s']}s after the cut (story: T+"
                f"{STORY_OPEN_S:.0f}s), then {m['refused_fast']} payments refused in at most "
                f"{m['fail_fast_ms_max']} ms" if variant == "breaker" else
                f"{m['uncertain']} payments each waited {m['timeout_ms_mean']} ms and ended "
                "uncertain")
        return (f"{head}; {m['charged_twice']} charged twice; the replicator's breaker opened "
                f"{m['link_breaker_open_s']}s after the cut; traffic back "
                f"{m['traffic_returned_s']}s and the DLQ drained {m['dlq_drained_s']}s after "
                "the heal")


def _count(payments: list[dict[str, Any]], result: str) -> int:
    return sum(1 for p in payments if p["result"] == result)


SCENARIO = PaymentGateway()
