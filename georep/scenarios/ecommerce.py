"""Scenario ``ecommerce``: an order retried through another region while the first reply is lost.

Place in the data flow: a scenario (:mod:`.base`), run by :mod:`.run`. Its requests are recorded
as a Jepsen-style history (:class:`~georep.harness.recorder.Recorder`, in memory) with every
region's final read of the orders, and judged by the harness's own ``duplicates`` checker.

The story: during a partition between ``a`` and ``b`` a user checks out (idempotency key
checkout-42): the app server in ``a`` places order_abc123 for $299.99 and charges the card, but
the reply never reaches the user, who retries through an app server in ``b``. The shop claims
"idempotency key prevented duplication". The variants keep the idempotency record:

* ``local``: in the region that takes the request, written through georep. ``b`` cannot see
  ``a``'s record during the partition and places a second order (a second charge);
* ``home``: in the home region ``a``, claimed with a conditional write from the request's
  region through the link. The retry during the partition cannot reach home and is refused with
  a clear error; the user's retry after heal finds the claim and gets order_abc123 back.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..core.checkers.presence import duplicates
from ..harness.recorder import Recorder
from .base import Context, Row, Scenario
from .home import HomeRecords, HomeUnreachable

IDEM = "checkout-42"
CENTS = 29999
ORDER_IDS = ("order_abc123", "order_abc124")  # each app server's next order id


class Shop:
    """The app servers of one variant: place an order for an idempotency key."""

    def __init__(self, ctx: Context, records: HomeRecords | None) -> None:
        self.ctx, self.records = ctx, records
        self.table = ctx.tables["lww"]

    async def checkout(self, region: str, order: str) -> dict[str, Any]:
        """Place ``order`` (or return the one the key already has); HomeUnreachable when the
        home region cannot be asked."""
        lab, idem = self.ctx.lab, self.ctx.key(IDEM)
        if self.records is not None:
            earlier = await self.records.claim(region, idem, {"order": self.ctx.key(order)})
        else:
            record = await lab.get(region, self.table, idem)
            earlier = None if record is None else {"order": str(record["order"])}
            if earlier is None:
                await lab.put(region, self.table, idem, {"order": self.ctx.key(order)})
        if earlier is not None and await lab.get(region, self.table, earlier["order"]):
            return {"order": earlier["order"], "deduplicated": True}
        # a claimed order not placed here (the claimer failed half-way, or it has not
        # replicated yet) is placed again under the claimed id: the same items, never a new one
        oid = self.ctx.key(order) if earlier is None else earlier["order"]
        await lab.put(region, self.table, oid, {"idem": idem, "cents": CENTS})
        await lab.put(region, self.table, f"charge_{oid}", {"order": oid, "cents": CENTS})
        return {"order": oid, "deduplicated": earlier is not None}


class Ecommerce(Scenario):
    name = "ecommerce"
    title = "E-commerce checkout: the same order retried through another region"
    story = ("order_abc123 for $299.99 is placed during a partition; its reply is lost; the "
             "user retries through an app server in the other region.")
    claim = "idempotency key prevented duplication"
    variants: ClassVar[dict[str, str]] = {"local": "lww", "home": "lww"}
    documented: ClassVar[dict[str, dict[str, Any]]] = {
        "local": {"holds": False, "measured": {"orders": 2, "charges": 2, "charged": "$599.98",
                                               "duplicates_found": True,
                                               "retry_during_partition": "ok",
                                               "converged": True}},
        "home": {"holds": True, "measured": {"orders": 1, "charges": 1, "charged": "$299.99",
                                             "duplicates_found": False,
                                             "retry_during_partition": "fail",
                                             "converged": True}},
    }

    async def run_variant(self, ctx: Context, variant: str) -> Row:
        if variant == "local":
            return await self._run(ctx, variant, Shop(ctx, None))
        async with HomeRecords(ctx.lab, ctx.tables["lww"], ctx.a) as records:
            return await self._run(ctx, variant, Shop(ctx, records))

    async def _run(self, ctx: Context, variant: str, shop: Shop) -> Row:
        lab, a, b = ctx.lab, ctx.a, ctx.b
        rec = Recorder(None)
        lab.partition(a, b)
        ctx.say(f"partition between {a} and {b}")

        async def checkout(region: str, order: str, why: str, lose_reply: bool = False) -> str:
            invoked = rec.invoke(region, "order", {"key": IDEM, "cents": CENTS}, region)
            try:
                placed = await shop.checkout(region, order)
            except HomeUnreachable as exc:
                rec.complete(invoked, "fail", error=str(exc))
                ctx.say(f"{why}: refused at {region}: {exc}", region=region,
                        index=invoked["index"])
                return "fail"
            kind = "info" if lose_reply else "ok"
            rec.complete(invoked, kind, {**invoked["value"], **placed},
                         error="reply lost" if lose_reply else None)
            ctx.say(f"{why}: {region} " + (f"returns the existing {placed['order']}"
                                           if placed["deduplicated"] else
                                           f"places {placed['order']} and charges $299.99")
                    + ("; the reply is lost" if lose_reply else ""),
                    region=region, index=invoked["index"])
            return kind

        await checkout(a, ORDER_IDS[0], "the user checks out", lose_reply=True)
        during = await checkout(b, ORDER_IDS[1], "the user retries through the other region")
        lab.heal(a, b)
        await lab.settle()
        ctx.say("partition healed; the regions caught up")
        if during == "fail":
            await checkout(b, ORDER_IDS[1], "the user retries again")
            await lab.settle()
        return await self._row(ctx, variant, shop, rec, during)

    async def _row(self, ctx: Context, variant: str, shop: Shop, rec: Recorder,
                   during: str) -> Row:
        idem, charges, placed = ctx.key(IDEM), {}, {}
        hk = ctx.lab.config.table(shop.table).hash_key.name
        for r in ctx.lab.config.regions:
            items = await ctx.lab.scan(r.name, shop.table)
            orders = {str(i[hk]): {"idem": IDEM, "cents": int(i["cents"])}
                      for i in items if i.get("idem") == idem}
            charges[r.name] = sorted(str(i[hk]) for i in items
                                     if str(i.get("order", "")) in orders and "cents" in i)
            placed[r.name] = sorted(orders)
            rec.complete(rec.invoke("final", "final-read", None, r.name), "ok",
                         {"table": shop.table, "items": orders, "siblings": {}})
        verdict = duplicates(rec.ops) or {}
        orders, n = placed[ctx.a], len(charges[ctx.a])
        measured = {"orders": len(orders), "charges": n,
                    "charged": f"${n * CENTS // 100}.{n * CENTS % 100:02d}",
                    "duplicates_found": verdict.get("valid") is False,
                    "retry_during_partition": during,
                    "converged": all(v == orders for v in placed.values())
                    and all(v == charges[ctx.a] for v in charges.values())}
        holds = (len(orders) == 1 and n == 1 and verdict.get("valid") is True
                 and measured["converged"])
        text = (f"{len(orders)} order(s) {', '.join(orders)} and {n} charge(s) "
                f"({measured['charged']}) for one checkout; the duplicates checker "
                + ("found the duplicate" if measured["duplicates_found"] else "found none")
                + ("; the retry during the partition was refused with a clear error"
                   if during == "fail" else ""))
        evidence = {"idempotency_key": idem, "table": shop.table, "orders": orders,
                    "orders_by_region": placed,
                    "charges": charges, "checker": verdict, "history": rec.ops}
        return Row(variant, holds, text, measured, evidence)


SCENARIO = Ecommerce()
