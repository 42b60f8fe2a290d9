"""The apply step: merge incoming versions into a region, never over a version it did not read.

Place in the data flow: the replicator hands each batch of local versions from the source stream
to :meth:`Applier.apply`, which talks to the destination only (through the link proxy); the DLQ
redrive and reconcile use the same step.

For each key: read the item (BatchGetItem, consistent), merge with the table's policy, and, if
the merge changed anything, write it only if the item is still exactly what was read
(:func:`georep.engine.condwrite.write_if_unchanged`). A write that loses the race to a
concurrent writer (a local client, another link's apply) re-reads that key and merges again. So
every write georep makes has read the version it replaces: invariant 1 of ARCHITECTURE.md.
``in_flight`` conditional writes run at once (moto's per-request cost dominates; see
docs/design.md, "Apply").

An item written by a plain AWS client and not yet stamped by its own region's replicator has no
honest version to merge with: its key is *blocked* (returned in :attr:`ApplyResult.blocked`),
never merged against a stand-in; the caller waits for the stamp or dead-letters the version.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Table
from ..core.meta import Version, is_stamped, key_of, split
from ..core.policy import Conflict, ConflictPolicy
from ..errors import RetriableError, UnstampedDestination
from .condwrite import write_if_unchanged

READ_CHUNK = 100  # BatchGetItem limit
MAX_ROUNDS = 20  # re-read rounds for a key whose conditional write keeps losing races
IN_FLIGHT = 8  # conditional PutItems at once per applier


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
    races: int = 0  # conditional writes that lost to a concurrent write and were redone
    blocked: list[Version] = field(default_factory=list)  # destination holds an unstamped write

    @property
    def applied(self) -> int:
        return sum(1 for o in self.outcomes if o.written is not None)

    @property
    def suppressed(self) -> int:
        return sum(1 for o in self.outcomes if o.written is None)

    @property
    def conflicts(self) -> list[Conflict]:
        return [o.conflict for o in self.outcomes if o.conflict is not None]

    def extend(self, other: ApplyResult) -> None:
        self.outcomes.extend(other.outcomes)
        self.races += other.races
        self.blocked.extend(other.blocked)


class Applier:
    def __init__(self, client, table: Table, policy: ConflictPolicy, region: str, *,
                 in_flight: int = IN_FLIGHT, writer: str = "replicator") -> None:
        self.writer = writer  # the writer kind its writes carry: replicator or reconcile
        self.client = client
        self.table = table
        self.policy = policy
        self.region = region  # the region this applier writes to
        self.in_flight = in_flight
        # Write-ahead for the conflict feed: ``journal(incoming, conflict)`` records a conflict
        # before the write that resolves it (a crash after the write cannot lose the entry);
        # ``unjournal(token)`` takes it back when that write lost a race and is redone.
        self.journal: Callable[[Version, Conflict], Awaitable[Any]] | None = None
        self.unjournal: Callable[[Any], Awaitable[None]] | None = None

    def _kid(self, v: Version | dict) -> str:
        attrs = v.attrs if isinstance(v, Version) else v
        return key_id(key_of(attrs, self.table.key_names))

    def _merge(self, raw: dict | None, incoming: Version) -> Outcome:
        merge = self.policy.merge(self.current(raw), incoming)
        if merge.write is None:
            return Outcome(incoming, None)
        return Outcome(incoming, merge.write.written_by(self.writer), merge.conflict)

    async def apply(self, versions: Sequence[Version], *, create: bool = True) -> ApplyResult:
        """Merge ``versions`` (distinct keys) into the region: idempotent, conditional.
        ``create=False`` leaves absent items absent (counted as suppressed)."""
        current = await self._read(versions)
        result = ApplyResult()
        gate = asyncio.Semaphore(self.in_flight)
        done = await asyncio.gather(
            *(self._apply_one(v, current.get(self._kid(v)), gate, result, create)
              for v in versions),
            return_exceptions=True)
        errors = [d for d in done if isinstance(d, BaseException)]
        if errors:
            raise errors[0]
        for v, outcome in zip(versions, done, strict=True):
            if outcome is None:
                result.blocked.append(v)
            else:
                result.outcomes.append(outcome)
        return result

    async def _apply_one(self, v: Version, raw: dict | None, gate: asyncio.Semaphore,
                         result: ApplyResult, create: bool) -> Outcome | None:
        """One key: merge and write conditionally; re-read and merge again on a lost race.
        None when the destination holds a plain write not yet stamped."""
        for _ in range(MAX_ROUNDS):
            if raw is None and not create:
                return Outcome(v, None)
            try:
                outcome = self._merge(raw, v)
            except UnstampedDestination:
                return None
            if outcome.written is None:
                return outcome
            token = None
            if outcome.conflict is not None and self.journal is not None:
                token = await self.journal(v, outcome.conflict)
            async with gate:
                if await self._put_if_unchanged(outcome.written, raw):
                    return outcome
            if token is not None and self.unjournal is not None:
                await self.unjournal(token)
            result.races += 1
            raw = (await self._read([v])).get(self._kid(v))
        raise RetriableError(f"{self.region}/{self.table.name}: a key kept racing writes")

    def current(self, raw: dict | None) -> Version | None:
        """The region's version of a raw item for merging; UnstampedDestination when a plain
        client wrote it and its region's replicator has not stamped it yet: merging against a
        made-up stamp could replace a write nobody has seen."""
        if raw is None:
            return None
        attrs, meta = split(raw)
        if is_stamped(attrs, meta):
            return Version(attrs, meta)
        raise UnstampedDestination(
            f"{self.region}/{self.table.name} {self._kid(attrs)}: written by a plain client "
            "and not yet stamped by its region's replicator")

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

    async def _put_if_unchanged(self, version: Version, raw: dict | None) -> bool:
        return await write_if_unchanged(self.client, self.table, version, raw)
