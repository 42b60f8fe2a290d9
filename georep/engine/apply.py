"""The apply step: merge incoming versions into the destination region, conditionally.

Place in the data flow: the replicator hands each batch of local versions from the source stream
to :meth:`Applier.apply`, which talks to the destination only (through the link proxy).

For each key: read the destination item (consistent read), merge with the table's policy, and if
anything changes write it with a condition that the destination did not change since the read.
A condition failure (a local write raced the apply) sends the key round again: re-read, re-merge.
Reads are batched with BatchGetItem and writes with TransactWriteItems, which, unlike
BatchWriteItem, takes a condition per item.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..config import Table
from ..core.causality import advance
from ..core.meta import META, Meta, Version, digest, is_stamped, key_of, split
from ..core.policy import Conflict, ConflictPolicy
from ..errors import RetriableError, UnstampedDestination

READ_CHUNK = 100  # BatchGetItem limit
WRITE_CHUNK = 100  # TransactWriteItems limit
MAX_ROUNDS = 20  # re-read rounds for keys whose conditional write lost a race


def key_id(key: dict[str, Any]) -> str:
    return json.dumps(
        {k: {t: (v.hex() if isinstance(v, bytes) else v) for t, v in av.items()}
         for k, av in key.items()},
        sort_keys=True,
    )


@dataclass
class Outcome:
    version: Version  # the incoming version
    written: Version | None  # what was written, None if suppressed
    conflict: Conflict | None = None


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    races: int = 0  # conditional writes that lost to a concurrent local write and were redone

    @property
    def applied(self) -> int:
        return sum(1 for o in self.outcomes if o.written is not None)

    @property
    def suppressed(self) -> int:
        return sum(1 for o in self.outcomes if o.written is None)

    @property
    def conflicts(self) -> list[Conflict]:
        return [o.conflict for o in self.outcomes if o.conflict is not None]


class Applier:
    def __init__(self, client, table: Table, policy: ConflictPolicy, region: str) -> None:
        self.client = client
        self.table = table
        self.policy = policy
        self.region = region  # the destination region

    async def apply(self, versions: Sequence[Version], *, allow_unstamped=False) -> ApplyResult:
        """Merge ``versions`` (distinct keys) into the destination. Idempotent."""
        result = ApplyResult()
        pending = {key_id(key_of(v.attrs, self.table.key_names)): v for v in versions}
        for _ in range(MAX_ROUNDS):
            if not pending:
                return result
            current = await self._read(pending)
            writes: list[tuple[str, Outcome, dict]] = []
            for kid, incoming in pending.items():
                raw = current.get(kid)
                cur = self._current(raw, allow_unstamped)
                merge = self.policy.merge(cur, incoming)
                if merge.write is None:
                    result.outcomes.append(Outcome(incoming, None))
                    continue
                written = merge.write.written_by("replicator")
                writes.append((kid, Outcome(incoming, written, merge.conflict), raw))
            pending = {}
            for start in range(0, len(writes), WRITE_CHUNK):
                chunk = writes[start:start + WRITE_CHUNK]
                if await self._write(chunk):
                    result.outcomes.extend(o for _, o, _ in chunk)
                else:
                    result.races += 1
                    pending.update((kid, o.version) for kid, o, _ in chunk)
        raise RetriableError(f"{len(pending)} keys kept racing local writes; will retry")

    def _current(self, raw: dict | None, allow_unstamped: bool) -> Version | None:
        if raw is None:
            return None
        attrs, meta = split(raw)
        if is_stamped(attrs, meta):
            return Version(attrs, meta)
        if not allow_unstamped:
            key = key_of(attrs, self.table.key_names)
            raise UnstampedDestination(
                f"{self.region}/{self.table.name} {key_id(key)}: written by a plain client and "
                "not yet stamped by its region's replicator"
            )
        # The destination's own replicator never stamped this plain write. Stand in for its
        # stamp with a dot of the destination region no other version has seen, so that the
        # policy treats it as concurrent and any loss is recorded as a conflict, not silent.
        base_hlc = meta.hlc if meta else 0
        vv = advance(meta.vv if meta else {}, self.region, (base_hlc + 1, 0))
        stand_in = Meta(base_hlc, 0, self.region, "client", False, vv, digest(attrs))
        return Version(attrs, stand_in)

    async def _read(self, pending: dict[str, Version]) -> dict[str, dict]:
        keys = [key_of(v.attrs, self.table.key_names) for v in pending.values()]
        out: dict[str, dict] = {}
        for start in range(0, len(keys), READ_CHUNK):
            request = {self.table.name: {"Keys": keys[start:start + READ_CHUNK],
                                         "ConsistentRead": True}}
            while request:
                resp = await self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table.name, []):
                    out[key_id(key_of(item, self.table.key_names))] = item
                request = resp.get("UnprocessedKeys") or None
        return out

    async def _write(self, chunk: list[tuple[str, Outcome, dict | None]]) -> bool:
        """One transaction of conditional puts. False if a condition failed (a race)."""
        items = []
        for _, outcome, raw in chunk:
            put: dict[str, Any] = {"TableName": self.table.name, "Item": outcome.written.item()}
            if raw is None:
                put["ConditionExpression"] = "attribute_not_exists(#k)"
                put["ExpressionAttributeNames"] = {"#k": self.table.hash_key.name}
            elif META in raw:
                put["ConditionExpression"] = "#m = :m"
                put["ExpressionAttributeNames"] = {"#m": META}
                put["ExpressionAttributeValues"] = {":m": raw[META]}
            else:
                put["ConditionExpression"] = "attribute_not_exists(#m)"
                put["ExpressionAttributeNames"] = {"#m": META}
            items.append({"Put": put})
        try:
            await self.client.transact_write_items(TransactItems=items)
            return True
        except ClientError as exc:
            err = exc.response.get("Error", {})
            if err.get("Code") == "TransactionCanceledException":
                reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
                if reasons <= {"None", "ConditionalCheckFailed", None}:
                    return False
            raise
