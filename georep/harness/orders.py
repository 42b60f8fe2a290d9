"""The orders workload: orders placed with an idempotency key, retried in another region when
the reply does not come back (the seed's e-commerce incident).

Place in the data flow: a workload client (:mod:`.clients`) the runner drives. An order is an
item of the orders table (id = the order id, ``idem`` = its idempotency key); the idempotency
record (id = the key, ``order`` = the order id) is kept, by option ``idempotency``:

* ``local`` (default): in the region that takes the request, through georep. A retry in
  another region during a partition does not see it, and places a second order.
* ``home``: in one home region (the first), claimed with a conditional PutItem through the
  link from the request's region (so the lab's faults apply), behind a circuit breaker per
  region. A claim that cannot reach home fails; one whose reply is lost is unknown; a retry
  that finds the claim re-creates the claimed order (same id: idempotent), never a new one.

A planned op with ``lose_reply`` records its first attempt as ``info`` whatever happened (the
user never saw the reply) and retries the same key in ``retry``'s region.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..core.breaker import CircuitBreaker
from ..core.plan import PlannedOp
from ..errors import LabError
from .clients import TableNeed, WorkloadClient, open_clients
from .outcome import Refused, classify, one_line
from .recorder import Recorder

CLAIM_CONNECT_S, CLAIM_READ_S = 0.5, 1.0


class Orders(WorkloadClient):
    name = "orders"
    reads = ()

    def __init__(self, policy: str, options: dict[str, str], prefix: str = "") -> None:
        super().__init__(policy, options, prefix)
        self.mode = self.options.get("idempotency", "local")
        if self.mode not in ("local", "home"):
            raise LabError(f"option idempotency is local or home, not {self.mode!r}")
        self._routes: dict[str, Any] = {}  # region -> a DynamoDB client of home, via the link
        self._breakers: dict[str, CircuitBreaker] = {}
        self.home = ""
        self._now = time.monotonic  # the breakers' clock: the lab's (virtual when simulated)

    def needs(self) -> list[TableNeed]:
        self.require_policy("lww", "vclock")
        return [TableNeed("orders", self.policy), TableNeed("idem", self.policy)]

    async def setup(self, lab: Any, rec: Recorder, keys: list[str]) -> None:
        self.home = lab.config.regions[0].name
        self._now = lab.clock
        if self.mode != "home":
            return
        regions = [r.name for r in lab.config.regions]
        self._routes = await open_clients(self.stack, lab, {r: (r, self.home) for r in regions},
                                          connect_s=CLAIM_CONNECT_S, read_s=CLAIM_READ_S)
        self._breakers = {r: CircuitBreaker(failure_threshold=3, cooldown_s=2.0)
                          for r in regions}

    async def invoke(self, lab: Any, rec: Recorder, op: PlannedOp) -> dict[str, Any]:
        first = rec.invoke(op.process, op.f, op.value, op.region)
        try:
            value = await asyncio.wait_for(self._place(lab, op.region, dict(op.value)),
                                           self.op_timeout_s)
            done = ("info", None, "reply lost (planned)") if op.lose_reply else \
                ("ok", value, None)
        except Exception as exc:
            done = (classify(exc), None, one_line(exc))
        result = rec.complete(first, done[0], done[1], error=done[2])
        if done[0] != "info" or op.retry is None:
            return result
        again = PlannedOp(op.at, op.process, op.retry, op.f, {**op.value, "attempt": 2})
        return await self.complete(lab, rec, rec.invoke(op.process, op.f, again.value,
                                                         op.retry), again)

    async def _do(self, lab: Any, op: PlannedOp, value: dict[str, Any]) -> dict:
        return await self._place(lab, op.region, value)

    async def _place(self, lab: Any, region: str, value: dict[str, Any]) -> dict:
        key, amount = value["key"], value["amount"]
        order = f"o-{key}-{value['attempt']}"
        if self.mode == "home":
            claimed = await self._claim(lab, region, key, order, amount)
        else:
            record = await lab.get(region, self.tables["idem"], self.k(key))
            claimed = None if record is None else str(record["order"])
            if claimed is None:
                await lab.put(region, self.tables["idem"], self.k(key),
                              {"order": self.k(order)})
        oid = order if claimed is None else claimed.removeprefix(self.prefix)
        await lab.put(region, self.tables["orders"], self.k(oid),
                      {"idem": self.k(key), "amount": amount})
        return {**value, "order": oid, "deduplicated": claimed is not None}

    async def _claim(self, lab: Any, region: str, key: str, order: str,
                     amount: int) -> str | None:
        """Claim ``key`` in the home region for ``order``; the order id an earlier claim
        holds, or None when this claim won (a plain client's write: a ``plain-put`` event)."""
        breaker, now = self._breakers[region], self._now()
        if not breaker.allow(now):
            raise Refused(f"circuit open: home region {self.home} unreachable from {region}")
        client, table = self._routes[region], self.tables["idem"]
        hk = self.hash_keys["idem"]
        try:
            try:
                await client.put_item(
                    TableName=table, ConditionExpression="attribute_not_exists(#k)",
                    ExpressionAttributeNames={"#k": hk},
                    Item={hk: {"S": self.k(key)}, "order": {"S": self.k(order)},
                          "amount": {"N": str(amount)}})
                won = None
                lab.plain_write("put", self.home, table, self.k(key),
                                {"order": self.k(order), "amount": amount})
            except client.exceptions.ConditionalCheckFailedException:
                got = await client.get_item(TableName=table, Key={hk: {"S": self.k(key)}},
                                            ConsistentRead=True)
                won = got["Item"]["order"]["S"]
        except Exception:
            breaker.record_failure(self._now(), "home unreachable")
            raise
        breaker.record_success(self._now())
        return won

    async def final_read(self, lab: Any, region: str, keys: list[str]) -> list[dict]:
        """The orders table in full (this run's items), keyed by order id."""
        hk, items = self.hash_keys["orders"], {}
        for item in await lab.scan(region, self.tables["orders"]):
            oid = str(item[hk])
            if oid.startswith(self.prefix):
                items[oid.removeprefix(self.prefix)] = {
                    **item, hk: oid.removeprefix(self.prefix),
                    "idem": str(item.get("idem", "")).removeprefix(self.prefix)}
        return [{"table": self.tables["orders"], "items": dict(sorted(items.items())),
                 "siblings": {}}]
