"""Workload clients: each planned operation done on a lab, and recorded as it completes.

Place in the data flow: the runner (:mod:`.runner`) hands each client a
:class:`~georep.core.plan.PlannedOp`; the client records the ``invoke``, does the operation on
the lab through the :class:`~georep.runtime.surface.LabSurface` (georep's write path in the
process's region), and records ``ok``, ``fail`` or ``info`` (:mod:`.outcome`). After the run it
reads every region for the history's final reads. The tables a workload needs are described by
:class:`TableNeed`; :mod:`.tables` finds or adds them.

Keys in the history are the plan's; in DynamoDB they carry the client's ``prefix`` (a live lab
keeps earlier runs' items), so runs never read each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.session import AioSession

from ..aws.clients import async_client
from ..core.plan import PlannedOp
from ..errors import LabError
from ..runtime.sim import SIM_TIMEOUT_S
from .outcome import Refused, classify, one_line
from .recorder import Recorder

OPENING_PER_REGION = 50  # bank: each region deposits this into every account
OP_TIMEOUT_S = 5.0  # an operation not done by then is given up: info (a write), fail (a read)


@dataclass(frozen=True)
class TableNeed:
    """A table a workload uses: its role, policy and CRDT attribute types."""

    role: str
    policy: str
    crdt: dict[str, str] = field(default_factory=dict)


async def open_clients(stack: contextlib.AsyncExitStack, lab: Any,
                       routes: dict[str, tuple[str, str]], *, connect_s: float,
                       read_s: float) -> dict[str, Any]:
    """name -> a DynamoDB client of the workload's own (no retries inside botocore) for each
    (src, dst) route: dst reached from src through ``lab.route`` (the link's proxy, or the
    region itself when src is dst), open until ``stack`` closes. In a simulated run the
    timeouts are :data:`~georep.runtime.sim.SIM_TIMEOUT_S` (a cut answers at once there)."""
    if getattr(lab, "sim", None) is not None:  # no wall-clock timeout in a simulated run
        connect_s = read_s = SIM_TIMEOUT_S
    session = AioSession()
    return {name: await stack.enter_async_context(async_client(
        session, "dynamodb", lab.route(src, dst), connect_s=connect_s, read_s=read_s))
        for name, (src, dst) in routes.items()}


async def read_table(lab: Any, region: str, table: str, keys: list[str],
                     key_of: Callable[[str], str] = str,
                     shown: Callable[[Any], Any] = lambda item: item) -> dict[str, Any]:
    """A ``final-read`` value: ``keys`` of ``table`` as ``region`` holds them (``key_of``: the
    DynamoDB key of a history key; ``shown``: an item as the history shows it), and for a
    vclock table every key's concurrent values when it has more than one."""
    items = {key: shown(await lab.get(region, table, key_of(key))) for key in keys}
    siblings: dict[str, list] = {}
    if lab.config.table(table).policy == "vclock":
        for key in keys:
            versions = await lab.siblings(region, table, key_of(key))
            if len(versions) > 1:
                siblings[key] = [shown(v) for v in versions]
    return {"table": table, "items": items, "siblings": siblings}


class WorkloadClient:
    """One workload's operations. Subclasses set ``needs`` and write ``_do``."""

    name = ""
    reads = ("read",)
    # an operation not done by then is given up (wall seconds; None: never, as in the
    # deterministic mode, where an operation waits on virtual time while others run)
    op_timeout_s: float | None = OP_TIMEOUT_S

    def __init__(self, policy: str, options: dict[str, str], prefix: str = "") -> None:
        self.policy, self.options, self.prefix = policy, dict(options), prefix
        self.tables: dict[str, str] = {}  # role -> the lab's table name
        self.hash_keys: dict[str, str] = {}  # role -> its hash key attribute
        self.stack = contextlib.AsyncExitStack()  # the workload's own clients, if any

    def needs(self) -> list[TableNeed]:
        raise NotImplementedError

    def require_policy(self, *allowed: str) -> None:
        """LabError unless the workload's policy is one it can run on."""
        if self.policy not in allowed:
            raise LabError(f"the {self.name} workload runs on policy {' or '.join(allowed)}, "
                           f"not {self.policy}")

    def bind(self, tables: dict[str, Any]) -> None:
        """Use these lab tables (role -> :class:`~georep.config.Table`)."""
        self.tables = {role: t.name for role, t in tables.items()}
        self.hash_keys = {role: t.hash_key.name for role, t in tables.items()}

    def k(self, key: str) -> str:
        return self.prefix + key

    async def setup(self, lab: Any, rec: Recorder, keys: list[str]) -> None:
        return None

    async def close(self) -> None:
        await self.stack.aclose()

    async def invoke(self, lab: Any, rec: Recorder, op: PlannedOp) -> dict[str, Any]:
        invoked = rec.invoke(op.process, op.f, op.value, op.region)
        return await self.complete(lab, rec, invoked, op)

    async def complete(self, lab: Any, rec: Recorder, invoked: dict[str, Any],
                       op: PlannedOp) -> dict[str, Any]:
        try:
            value = await asyncio.wait_for(self._do(lab, op, dict(op.value)),
                                           self.op_timeout_s)
        except Exception as exc:  # every failure is recorded; the run goes on
            return rec.complete(invoked, classify(exc, read=op.f in self.reads),
                                error=one_line(exc))
        return rec.complete(invoked, "ok", value)

    async def _do(self, lab: Any, op: PlannedOp, value: dict[str, Any]) -> dict:
        """Do ``op`` (its argument ``value``, a copy); the ok completion's value."""
        raise NotImplementedError

    async def final_read(self, lab: Any, region: str, keys: list[str]) -> list[dict]:
        """One ``final-read`` value per table: {table, items, siblings}."""
        return [await read_table(lab, region, table, keys, self.k,
                                 lambda item, role=role: self._unprefix(role, item))
                for role, table in self.tables.items()]

    def _unprefix(self, role: str, item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None or not self.prefix:
            return item
        hk = self.hash_keys[role]
        return {**item, hk: str(item[hk]).removeprefix(self.prefix)}


class Counter(WorkloadClient):
    name = "counter"

    def needs(self) -> list[TableNeed]:
        self.require_policy("crdt")
        return [TableNeed("counter", "crdt", {"n": "pncounter"})]

    async def _do(self, lab: Any, op: PlannedOp, value: dict[str, Any]) -> dict:
        region, f = op.region, op.f
        table, key = self.tables["counter"], self.k(value["key"])
        if f == "add":
            d = value["delta"]
            await lab.crdt(region, table, key, [("n", "+=" if d > 0 else "-=", abs(d))])
            return value
        item = await lab.get(region, table, key)
        return {**value, "value": 0 if item is None else item.get("n", 0)}


class SetWorkload(WorkloadClient):
    name = "set"

    def needs(self) -> list[TableNeed]:
        self.require_policy("crdt")
        return [TableNeed("set", "crdt", {"members": "orset"})]

    async def _do(self, lab: Any, op: PlannedOp, value: dict[str, Any]) -> dict:
        region, f = op.region, op.f
        table, key = self.tables["set"], self.k(value["key"])
        if f in ("add", "remove"):
            how = "+=" if f == "add" else "-="
            await lab.crdt(region, table, key, [("members", how, value["element"])])
            return value
        item = await lab.get(region, table, key)
        members = [] if item is None else item.get("members") or []
        return {**value, "value": sorted(members)}


class Bank(WorkloadClient):
    """ATMs in every region withdraw from shared accounts. The balance is a plain number
    (policy lww: read, check, write), a PN-counter or a bounded counter (policy crdt,
    option ``balance``); a withdrawal checks the region's balance first, as an ATM does."""

    name = "bank"

    def balance_type(self) -> str:
        kind = self.options.get("balance", "pncounter")
        if kind not in ("pncounter", "bcounter"):
            raise LabError(f"option balance is pncounter or bcounter, not {kind!r}")
        return kind

    def needs(self) -> list[TableNeed]:
        self.require_policy("lww", "crdt")
        if self.policy == "lww":
            return [TableNeed("bank", "lww")]
        return [TableNeed("bank", "crdt", {"balance": self.balance_type()})]

    async def setup(self, lab: Any, rec: Recorder, keys: list[str]) -> None:
        regions = [r.name for r in lab.config.regions]
        for key in keys:
            if self.policy == "lww":  # one opening write of the whole balance
                await self._deposit(lab, rec, regions[0], key,
                                    OPENING_PER_REGION * len(regions))
                continue
            for region in regions:  # each region's deposit gives it bcounter rights
                await self._deposit(lab, rec, region, key, OPENING_PER_REGION)

    async def _deposit(self, lab: Any, rec: Recorder, region: str, key: str, n: int) -> None:
        invoked = rec.invoke("setup", "deposit", {"key": key, "amount": n}, region)
        table = self.tables["bank"]
        if self.policy == "lww":
            await lab.put(region, table, self.k(key), {"balance": n})
        else:
            await lab.crdt(region, table, self.k(key), [("balance", "+=", n)])
        rec.complete(invoked, "ok")

    async def _do(self, lab: Any, op: PlannedOp, value: dict[str, Any]) -> dict:
        region, f = op.region, op.f
        table, key = self.tables["bank"], self.k(value["key"])
        item = await lab.get(region, table, key)
        balance = 0 if item is None else int(item.get("balance", 0))
        if f == "read":
            return {**value, "value": balance}
        amount = value["amount"]
        if f == "deposit":
            if self.policy == "lww":
                await lab.put(region, table, key, {"balance": balance + amount})
            else:
                await lab.crdt(region, table, key, [("balance", "+=", amount)])
            return value
        if balance < amount:
            raise Refused(f"insufficient funds: balance {balance} < {amount}")
        if self.policy == "lww":
            await lab.put(region, table, key, {"balance": balance - amount})
        else:
            await lab.crdt(region, table, key, [("balance", "-=", amount)])
        return value
