"""The register workload: writes of unique values and reads, by key, in every region, through
georep or through plain AWS clients beside it.

Place in the data flow: a workload client (:mod:`.clients`) the runner drives. Option
``writers``: ``georep`` (default: georep's write path, which reports the item each write
replaced), ``plain`` (every client a plain DynamoDB client, as an application that never heard
of georep) or ``mixed`` (odd-numbered processes plain). A plain client is a careful one: a
consistent read, then a PutItem conditional on what it read, so an acknowledged plain write
replaced exactly the value it read (its ``replaced``), and a refused condition is a definite
``fail``. Reads always go through georep (its view of the item).

On policy ``crdt`` the register is an MV-register attribute ``v``: a write is an assignment
through georep's CRDT write path (there are no plain writers), which supersedes every value the
region held; its ``replaced`` is the list of those values, and a read gives the concurrent
values, one value alone as itself. Writes concurrent across regions all stand after the merge.
"""

from __future__ import annotations

from typing import Any

from ..core.plan import PlannedOp
from ..errors import LabError
from .clients import TableNeed, WorkloadClient, open_clients
from .outcome import Refused, one_line
from .recorder import Recorder

WRITERS = ("georep", "plain", "mixed")
PLAIN_CONNECT_S, PLAIN_READ_S = 1.0, 4.0


class Register(WorkloadClient):
    name = "register"

    def __init__(self, policy: str, options: dict[str, str], prefix: str = "") -> None:
        super().__init__(policy, options, prefix)
        self.writers = self.options.get("writers", "georep")
        if self.writers not in WRITERS:
            raise LabError(f"option writers is {', '.join(WRITERS)}, not {self.writers!r}")
        self._plain: dict[str, Any] = {}  # region -> a plain client straight to it

    def needs(self) -> list[TableNeed]:
        self.require_policy("lww", "vclock", "crdt")
        if self.policy == "crdt":
            if self.writers != "georep":
                raise LabError("option writers is georep on policy crdt: a plain client "
                               "cannot write an MV-register")
            return [TableNeed("register", "crdt", {"v": "mvregister"})]
        return [TableNeed("register", self.policy)]

    async def setup(self, lab: Any, rec: Recorder, keys: list[str]) -> None:
        if self.writers != "georep":
            self._plain = await open_clients(
                self.stack, lab, {r.name: (r.name, r.name) for r in lab.config.regions},
                connect_s=PLAIN_CONNECT_S, read_s=PLAIN_READ_S)

    def plain(self, process: int) -> bool:
        return self.writers == "plain" or (self.writers == "mixed" and process % 2 == 1)

    async def _do(self, lab: Any, op: PlannedOp, value: dict[str, Any]) -> dict:
        table, key = self.tables["register"], self.k(value["key"])
        if op.f == "read":
            item = await lab.get(op.region, table, key)
            return {**value, "value": None if item is None else one(item.get("v"))}
        if self.policy == "crdt":
            replaced: list = []
            await lab.crdt(op.region, table, key, [("v", "=", value["value"])],
                           replaced=replaced)
            return {**value, "replaced": mv_values(replaced[0] if replaced else None)}
        if self.plain(op.process):
            old = await self._plain_write(lab, op.region, table, key, value["value"])
            return {**value, "replaced": old}
        replaced: list = []
        await lab.put(op.region, table, key, {"v": value["value"]}, replaced=replaced)
        return {**value, "replaced": raw_attr(replaced[0] if replaced else None, "v")}

    async def _plain_write(self, lab: Any, region: str, table: str, key: str,
                           new: str) -> str | None:
        """Read, then write conditional on the value read; the value replaced. An
        acknowledged write is a ``plain-put`` event in the lab's log."""
        client, hk = self._plain[region], self.hash_keys["register"]
        try:
            got = await client.get_item(TableName=table, Key={hk: {"S": key}},
                                        ConsistentRead=True)
        except Exception as exc:  # nothing was written yet
            raise Refused(f"the read before the write failed: {one_line(exc)}") from exc
        item = got.get("Item")
        old = raw_attr(item, "v")
        if item is None:
            cond, values = "attribute_not_exists(#k)", {}
        elif old is None:
            cond, values = "attribute_not_exists(#v)", {}
        else:
            cond, values = "#v = :old", {":old": {"S": old}}
        names = {"#k": hk} if item is None else {"#v": "v"}
        await client.put_item(TableName=table, Item={hk: {"S": key}, "v": {"S": new}},
                              ConditionExpression=cond, ExpressionAttributeNames=names,
                              **({"ExpressionAttributeValues": values} if values else {}))
        lab.plain_write("put", region, table, key, {"v": new})
        return old


def one(value: Any) -> Any:
    """An MV-register's values as a read shows them: one value alone as itself."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else (value or None)
    return value


def mv_values(raw: Any) -> list[str]:
    """The MV-register values of ``v`` a CRDT write replaced (its raw item; None: absent)."""
    if not raw or "v" not in raw:
        return []
    (kind, v), = raw["v"].items()
    if kind == "L":
        return sorted(x["S"] for x in v if "S" in x)
    return [v] if kind == "S" else []


def raw_attr(raw: Any, name: str) -> Any:
    """An attribute of a raw DynamoDB item (``replaced`` gives raw items), as a plain value."""
    if not raw or name not in raw:
        return None
    (kind, v), = raw[name].items()
    return v if kind == "S" else str(v)
