"""The apply step: merge incoming versions into the destination region.

Place in the data flow: the replicator hands each batch of local versions from the source stream
to :meth:`Applier.apply`, which talks to the destination only (through the link proxy).

For each key: read the destination item (consistent read), merge with the table's policy, and
write what changed. Two write paths:

* :meth:`Applier.apply`, the hot path, reads with BatchGetItem and writes with BatchWriteItem,
  which takes no conditions. A local write landing between the read and the write is
  overwritten, but never silently: the destination's stream records the overwrite with the lost
  version as its OldImage, and the destination's own replicators merge it back
  (:func:`georep.core.records.clobbered`, :meth:`merge_in`). moto's TransactWriteItems, which
  would take conditions, copies every table it touches per call and fails under concurrent
  requests (docs/design.md), so it cannot carry the hot path.
* :meth:`Applier.merge_in`, the safe path, writes each item with PutItem conditioned on the item
  not having changed since the read, and re-reads on ConditionalCheckFailed. It repairs and
  stamps, where volumes are small.
"""

from __future__ import annotations

import asyncio
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
WRITE_CHUNK = 25  # BatchWriteItem limit
MAX_ROUNDS = 20  # re-read rounds for a key whose conditional write keeps losing races


def key_id(key: dict[str, Any]) -> str:
    return json.dumps(
        {k: {t: (v.hex() if isinstance(v, bytes) else v) for t, v in av.items()}
         for k, av in key.items()},
        sort_keys=True,
    )


def unchanged_since(raw: dict | None, table: Table) -> dict[str, Any]:
    """Condition arguments: the item is still as ``raw`` (None: still absent).

    Every georep write changes the metadata, so comparing it stands for comparing the item.
    """
    if raw is None:
        return {"ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": table.hash_key.name}}
    if META in raw:
        return {"ConditionExpression": "#m = :m", "ExpressionAttributeNames": {"#m": META},
                "ExpressionAttributeValues": {":m": raw[META]}}
    return {"ConditionExpression": "attribute_not_exists(#m)",
            "ExpressionAttributeNames": {"#m": META}}


@dataclass
class Outcome:
    version: Version  # the incoming version
    written: Version | None  # what was written, None if suppressed
    conflict: Conflict | None = None


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    races: int = 0  # conditional writes (merge_in) that lost to a concurrent write and were redone

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
    def __init__(self, client, table: Table, policy: ConflictPolicy, region: str, *,
                 in_flight: int = 4, writer: str = "replicator") -> None:
        self.writer = writer  # the writer kind its writes carry: replicator or reconcile
        self.client = client
        self.table = table
        self.policy = policy
        self.region = region  # the region this applier writes to
        self.in_flight = in_flight

    def _kid(self, v: Version | dict) -> str:
        attrs = v.attrs if isinstance(v, Version) else v
        return key_id(key_of(attrs, self.table.key_names))

    def _merge(self, raw: dict | None, incoming: Version, allow_unstamped: bool) -> Outcome:
        merge = self.policy.merge(self.current(raw, allow_unstamped), incoming)
        if merge.write is None:
            return Outcome(incoming, None)
        return Outcome(incoming, merge.write.written_by(self.writer), merge.conflict)

    async def apply(self, versions: Sequence[Version], *, allow_unstamped=False) -> ApplyResult:
        """Merge ``versions`` (distinct keys) into the region: batched, idempotent."""
        current = await self._read(versions)
        result = ApplyResult([self._merge(current.get(self._kid(v)), v, allow_unstamped)
                              for v in versions])
        await self._batch_write([o.written.item() for o in result.outcomes if o.written])
        return result

    async def merge_in(self, versions: Sequence[Version], *,
                       allow_unstamped=False) -> ApplyResult:
        """Merge ``versions`` one conditional write at a time; safe against concurrent writers."""
        result = ApplyResult()
        for v in versions:
            for _ in range(MAX_ROUNDS):
                raw = (await self._read([v])).get(self._kid(v))
                outcome = self._merge(raw, v, allow_unstamped)
                if outcome.written is None or await self._put_if_unchanged(outcome.written, raw):
                    result.outcomes.append(outcome)
                    break
                result.races += 1
            else:
                raise RetriableError(f"{self.region}/{self.table.name}: a key kept racing writes")
        return result

    def current(self, raw: dict | None, allow_unstamped: bool) -> Version | None:
        """The region's version of a raw item for merging (a stand-in stamp for an unstamped
        plain write when ``allow_unstamped``; otherwise UnstampedDestination)."""
        if raw is None:
            return None
        attrs, meta = split(raw)
        if is_stamped(attrs, meta):
            return Version(attrs, meta)
        if not allow_unstamped:
            raise UnstampedDestination(
                f"{self.region}/{self.table.name} {self._kid(attrs)}: written by a plain client "
                "and not yet stamped by its region's replicator"
            )
        # The region's own replicator never stamped this plain write. Stand in for its stamp
        # with a dot of this region that no other version has seen, so the policy treats it
        # as concurrent and any loss is recorded as a conflict, not silent.
        base_hlc = meta.hlc if meta else 0
        vv = advance(meta.vv if meta else {}, self.region, (base_hlc + 1, 0))
        return Version(attrs, Meta(base_hlc, 0, self.region, "client", False, vv, digest(attrs)))

    async def _read(self, versions: Sequence[Version]) -> dict[str, dict]:
        keys = [key_of(v.attrs, self.table.key_names) for v in versions]
        out: dict[str, dict] = {}
        for start in range(0, len(keys), READ_CHUNK):
            request = {self.table.name: {"Keys": keys[start:start + READ_CHUNK],
                                         "ConsistentRead": True}}
            while request:
                resp = await self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table.name, []):
                    out[self._kid(item)] = item
                request = resp.get("UnprocessedKeys") or None
        return out

    async def _batch_write(self, items: list[dict]) -> None:
        chunks = [items[i:i + WRITE_CHUNK] for i in range(0, len(items), WRITE_CHUNK)]
        gate = asyncio.Semaphore(self.in_flight)

        async def write(chunk: list[dict]) -> None:
            async with gate:
                request = {self.table.name: [{"PutRequest": {"Item": it}} for it in chunk]}
                while request:
                    resp = await self.client.batch_write_item(RequestItems=request)
                    request = resp.get("UnprocessedItems") or None

        await asyncio.gather(*(write(c) for c in chunks))

    async def _put_if_unchanged(self, version: Version, raw: dict | None) -> bool:
        kw = {"TableName": self.table.name, "Item": version.item(),
              **unchanged_since(raw, self.table)}
        try:
            await self.client.put_item(**kw)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
