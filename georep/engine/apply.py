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
docs/design.md, "Apply"); with ``in_flight=1`` the keys go one after the other, in order.

An item written by a plain AWS client and not yet stamped by its own region's replicator has no
honest version to merge with: its key is *blocked* (returned in :attr:`ApplyResult.blocked`),
never merged against a stand-in; the caller waits for the stamp or dead-letters the version.

A deleted key has no item: its current version is its region's tombstone row
(:mod:`georep.aws.tombstones`), read for the keys the BatchGetItem did not find. A merge result
that is a tombstone is buried (:mod:`georep.engine.burial`), and a tombstone item left by a
delete that did not finish is finished when a merge finds nothing to change.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..aws.tombstones import State, TombstoneStore, read_states
from ..config import Table
from ..core.meta import Version, is_stamped, key_id, key_of, split
from ..core.policy import Conflict, ConflictPolicy
from ..errors import RetriableError, UnstampedDestination
from .burial import buried_item, finish, write_version

# A test-only knob, never for real use: with GEOREP_TEST_SKIP_MERGE_KEY=<value> in a process's
# environment, a replicated version of the key whose hash key is <value> is written as it
# came, over whatever the destination holds (no merge, no conflict recorded): a planted bug
# for the suite to show that a deterministic run finds it and replays it.
SKIP_MERGE_ENV = "GEOREP_TEST_SKIP_MERGE_KEY"

MAX_ROUNDS = 20  # re-read rounds for a key whose conditional write keeps losing races
IN_FLIGHT = 16  # conditional PutItems at once per applier (the client pool holds 16)


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
        self._planted = os.environ.get(SKIP_MERGE_ENV) if writer == "replicator" else None
        # Write-ahead for the conflict feed: ``journal(incoming, conflict)`` records a conflict
        # before the write that resolves it (a crash after the write cannot lose the entry);
        # ``unjournal(token)`` takes it back when that write lost a race and is redone.
        self.journal: Callable[[Version, Conflict], Awaitable[Any]] | None = None
        self.unjournal: Callable[[Any], Awaitable[None]] | None = None

    def _kid(self, v: Version | dict) -> str:
        attrs = v.attrs if isinstance(v, Version) else v
        return key_id(key_of(attrs, self.table.key_names))

    def _merge(self, state: State, incoming: Version) -> Outcome:
        if self._planted and \
                self._planted == str(incoming.attrs[self.table.hash_key.name].get("S")):
            return Outcome(incoming, incoming.written_by(self.writer))  # the planted bug
        merge = self.policy.merge(self.base(state), incoming)
        if merge.write is None:
            return Outcome(incoming, None)
        return Outcome(incoming, merge.write.written_by(self.writer), merge.conflict)

    async def apply(self, versions: Sequence[Version], *, create: bool = True,
                    failed: list[tuple[Version, BaseException]] | None = None) -> ApplyResult:
        """Merge ``versions`` (distinct keys) into the region: idempotent, conditional.
        ``create=False`` leaves absent items absent (counted as suppressed). A key whose write
        fails raises its error once the others are done; with ``failed``, the error is added
        there with its version instead, and the result holds the others' outcomes."""
        current = await self.read(versions)
        result = ApplyResult()
        gate = asyncio.Semaphore(self.in_flight)
        if self.in_flight == 1:  # one key after the other, in order (the deterministic mode)
            done: list = []
            for v in versions:
                try:
                    done.append(await self._apply_one(v, current[self._kid(v)], gate, result,
                                                      create))
                except Exception as exc:
                    if failed is None:
                        raise
                    done.append(exc)
        else:
            done = await asyncio.gather(
                *(self._apply_one(v, current[self._kid(v)], gate, result, create)
                  for v in versions),
                return_exceptions=True)
            errors = [d for d in done if isinstance(d, BaseException)]
            if errors and failed is None:
                raise errors[0]
        for v, outcome in zip(versions, done, strict=True):
            if isinstance(outcome, BaseException):
                failed.append((v, outcome))  # type: ignore[union-attr]
            elif outcome is None:
                result.blocked.append(v)
            else:
                result.outcomes.append(outcome)
        return result

    async def _apply_one(self, v: Version, state: State, gate: asyncio.Semaphore,
                         result: ApplyResult, create: bool) -> Outcome | None:
        """One key: merge and write conditionally; re-read and merge again on a lost race.
        None when the destination holds a plain write not yet stamped."""
        for _ in range(MAX_ROUNDS):
            raw = state[0]
            if raw is None and not create:
                return Outcome(v, None)
            try:
                outcome = self._merge(state, v)
            except UnstampedDestination:
                return None
            if outcome.written is None:
                left = buried_item(raw)
                if left is not None:  # a delete that did not finish: steps (b) and (c)
                    async with gate:
                        await finish(self.client, self.table, self.tombs, self.policy, left,
                                     raw.get("_georep"), self.row_journal(v))
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
            state = (await self.read([v]))[self._kid(v)]
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

    def base(self, state: State) -> Version | None:
        """The current version: the item's if present, else the tombstone row's."""
        raw, row = state
        return self.current(raw) if raw is not None else row

    @property
    def tombs(self) -> TombstoneStore:
        return TombstoneStore(self.client, self.table.name)

    async def read(self, versions: Sequence[Version]) -> dict[str, State]:
        """Every key's state in the region: its item, else its tombstone row's version. One
        BatchGetItem reads both (a round trip is what costs)."""
        return await read_states(self.client, self.table.name, self.table.key_names,
                                 [key_of(v.attrs, self.table.key_names) for v in versions])

    async def _put_if_unchanged(self, version: Version, raw: dict | None) -> bool:
        """Write ``version`` over ``raw`` (None: no item, whatever the row holds); a tombstone
        without siblings is buried."""
        return await write_version(self.client, self.table, self.tombs, self.policy, version,
                                   raw, self.row_journal(version))

    def row_journal(self, incoming: Version):
        """The journal of a conflict found merging into a tombstone row (no unjournal: the
        row's merge is retried until it lands, and a retry names the same versions)."""
        if self.journal is None:
            return None
        journal = self.journal

        async def record(conflict: Conflict) -> None:
            await journal(incoming, conflict)

        return record
