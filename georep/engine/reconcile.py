"""Reconcile: Merkle-tree anti-entropy that repairs the regions and proves them equal.

Place in the data flow: run after a heal (``georep reconcile``, ``Lab.reconcile``), once the
runtime has redriven the DLQs and waited for the replicators to catch up. For each table:

1. bring each region's tree up to date (:mod:`georep.engine.aae`): from its persistent store
   and the stream records written since (*incremental*), or by parallel segmented Scans into
   a store on disk (*full*: the first time, when a store cannot be trusted, or asked for), so
   no table is ever held in memory;
2. compare the trees and fetch (BatchGetItem) only the keys of the ranges that differ;
3. merge each divergent key's versions with the table's policy (conflicts go to the feed) and
   write the result to every region that differs, conditionally (``Applier.apply``, writer
   ``reconcile``), so a client write racing the repair is merged, never lost; a key holding a
   plain client's write that no replicator stamped is left alone and reported (``unstamped``),
   and the report is then not verified;
4. verify: re-read every key of the differing ranges in every region, update the trees (and
   the stores) and compare again.

With an ``emit`` callable (the lab's event log), each phase ends with a ``reconcile-phase``
event and every (key, region) a repair wrote is a ``reconcile-repair`` event.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ..aws.batches import drain
from ..aws.conflicts import ConflictFeed, of_conflict
from ..aws.tombstones import TombstoneStore
from ..aws.values import to_python
from ..config import Table
from ..core.merkle import Tree, depth_for, differing_leaves, item_digest
from ..core.meta import Version, key_id, key_of, key_of_id
from ..core.policies import policy_named
from ..errors import UnstampedDestination
from .aae import Trees, build, retry
from .apply import Applier, ApplyResult
from .treestore import Change, TreeStore, entry

REPAIR_CHUNK = 50  # keys per apply: one BatchGetItem, then its conditional writes
PLANNED_KEYS = 100  # keys a dry run names (it counts them all)


@dataclass
class TableReport:
    table: str
    depth: int = 0
    mode: str = "full"  # full: every region scanned; incremental: trees caught up from streams
    full_why: str | None = None  # why a full scan (None: incremental, or no persistent trees)
    scanned: dict[str, int] = field(default_factory=dict)  # region -> items a scan read
    stream_records: dict[str, int] = field(default_factory=dict)  # region -> records read
    items: dict[str, int] = field(default_factory=dict)  # region -> items in its tree
    ranges: int = 0
    ranges_differing: int = 0
    keys_diverged: int = 0
    repaired: dict[str, int] = field(default_factory=dict)  # region -> keys written
    dry_run: bool = False  # nothing written: ``planned`` says what a repair would write
    planned: dict[str, int] = field(default_factory=dict)  # region -> keys it would write
    planned_keys: list[dict[str, Any]] = field(default_factory=list)  # {key, region}, 100 at most
    conflicts: int = 0
    verified: bool = False
    still_differing: list[int] = field(default_factory=list)
    unstamped: list[Any] = field(default_factory=list)  # keys left alone: unstamped plain writes
    # keys a region refused to store (DynamoDB's limits: the merged item is too large): left
    # as they were, each with the region and the error; reconcile goes on with the others
    failed: list[dict[str, Any]] = field(default_factory=list)
    why: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> seconds


def _fold(policy, appliers: dict[str, Applier], fetched: dict[str, dict[str, dict]],
          rows: dict[str, dict[str, Version]], kid: str) -> tuple[Version, list] | None:
    """Every region's version of a key (its item, else its tombstone row) merged with the
    policy, and the conflicts found; None when a region holds an unstamped plain write."""
    final, conflicts = None, []
    for r, applier in appliers.items():
        try:
            current = applier.base((fetched[r].get(kid), rows[r].get(kid)))
        except UnstampedDestination:
            return None
        if current is not None:
            m = policy.merge(final, current)
            final = m.write if m.write is not None else final
            if m.conflict is not None:
                conflicts.append(m.conflict)
    return final, conflicts


async def _rows(client, table: Table, keys: list[str],
                have: dict[str, dict]) -> dict[str, Version]:
    """The tombstone rows' versions of the keys without an item."""
    store = TombstoneStore(client, table.name)
    found = await retry(lambda: store.get_many(k for k in keys if k not in have))
    return {k: row.version for k, row in found.items() if row.version is not None}


async def _fetch(client, table: Table, keys: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for start in range(0, len(keys), 100):
        request = {table.name: {"Keys": [key_of_id(k) for k in keys[start:start + 100]],
                                "ConsistentRead": True}}
        async for resp in drain(lambda r: retry(lambda: client.batch_get_item(RequestItems=r)),
                                request, unprocessed="UnprocessedKeys"):
            for item in resp.get("Responses", {}).get(table.name, []):
                out[key_id(key_of(item, table.key_names))] = item
    return out


async def reconcile_table(clients: dict[str, Any], table: Table, *, clock=time.time,
                          progress: Callable[[str, int], None] | None = None,
                          emit: Callable[..., Any] | None = None,
                          trees: Trees | None = None, dry_run: bool = False) -> TableReport:
    """Repair ``table`` across the regions of ``clients`` and verify them equal. ``emit``, if
    given, records a ``reconcile-phase`` event at the end of each phase (its ``seconds`` on
    ``clock``, the lab's) and a ``reconcile-repair`` event for each key a repair wrote.
    ``trees``: where the regions' trees persist (:class:`georep.engine.aae.Trees`); without
    it, every region is scanned in full. ``dry_run`` writes nothing to any region (no repair,
    no conflict-feed entry): the report says what a repair would write, and ``verified`` is
    whether the regions are equal as they stand."""
    run = _Reconcile(clients, table, clock, emit)
    run.report.dry_run = dry_run
    estimate = max([0, *[(await c.describe_table(TableName=table.name))["Table"].get(
        "ItemCount", 0) for c in clients.values()]])
    run.report.depth = depth_for(estimate)
    with tempfile.TemporaryDirectory(prefix="georep-reconcile-") as tmp:
        try:
            await run.scan(trees or Trees(), Path(tmp), progress)
            await run.compare()
            await run.repair()
            await run.verify()
        finally:
            for store in run.stores.values():
                store.close()
    return run.report


class _Reconcile:
    """One table's reconcile, phase by phase (scan, compare, repair, verify)."""

    def __init__(self, clients: dict[str, Any], table: Table, clock,
                 emit: Callable[..., Any] | None) -> None:
        self.clients, self.table, self.clock, self.emit = clients, table, clock, emit
        self.report = TableReport(table.name)
        self.policy = policy_named(table.policy, **table.policy_options())
        self.regions = list(clients)
        self.buried: set[str] = set()  # keys of tombstone items: deletes that did not finish
        self.trees: dict[str, Tree] = {}
        self.stores: dict[str, TreeStore] = {}
        self.scanned: dict[str, dict[str, int]] = {}  # per region, digests in its tree
        self.ordered: list[str] = []  # the keys of the differing ranges (and buried ones)
        self.fetched: dict[str, dict[str, dict]] = {}
        self.rows: dict[str, dict[str, Version]] = {}
        self._started = (time.perf_counter(), clock())

    def _phase(self, name: str, **counts: Any) -> None:
        """The phase ``name`` ended: its seconds in the report, its event, the next begins."""
        t, at = self._started
        self.report.seconds[name] = round(time.perf_counter() - t, 3)
        if self.emit is not None:  # the lab's clock: virtual in a simulated run
            self.emit("reconcile-phase", table=self.table.name, phase=name,
                      seconds=round(self.clock() - at, 3), **counts)
        self._started = (time.perf_counter(), self.clock())

    def _key(self, attrs: dict) -> Any:
        return to_python(key_of(attrs, self.table.key_names))

    async def scan(self, trees: Trees, tmp: Path,
                   progress: Callable[[str, int], None] | None) -> None:
        report = self.report
        built = await build(self.clients, self.table, trees, tmp, progress)
        self.stores = built.stores
        report.mode, report.full_why = built.mode, built.why
        report.scanned, report.stream_records = built.scanned, built.records
        for r, store in self.stores.items():
            self.trees[r], report.items[r] = store.tree(report.depth)
        self._phase("scan", mode=report.mode, scanned=dict(report.scanned),
                    stream_records=dict(report.stream_records))

    async def compare(self) -> None:
        report = self.report
        report.ranges = 1 << report.depth
        differing = set(differing_leaves(self.trees.values()))
        report.ranges_differing = len(differing)
        keys: set[str] = set()
        for r, store in self.stores.items():
            self.scanned[r] = store.keys_in(differing, report.depth)
            keys.update(self.scanned[r])
            self.buried.update(store.buried())
        self.ordered = sorted(keys | self.buried)
        for r in self.regions:
            self.fetched[r] = await _fetch(self.clients[r], self.table, self.ordered)
            self.rows[r] = await _rows(self.clients[r], self.table, self.ordered, self.fetched[r])
        self._phase("compare", ranges_differing=report.ranges_differing, keys=len(self.ordered))

    def _entries(self, r: str, conflicts: list) -> list[dict]:
        return [of_conflict(c, region=r, table=self.table.name, time=self.clock(),
                            key=self._key(c.winner.attrs)) for c in conflicts]

    async def repair(self) -> None:
        report, regions = self.report, self.regions
        appliers = {r: Applier(self.clients[r], self.table, self.policy, r, writer="reconcile")
                    for r in regions}
        for r, applier in appliers.items():  # a repair's own merge conflicts: write-ahead too
            async def journal(incoming, c, r=r):
                await ConflictFeed(self.clients[r]).record(self._entries(r, [c]))
                report.conflicts += 1
            applier.journal = journal
        # each fetched item's digest and tombstone flag, decoded once for both uses below
        seen = {r: {kid: entry(kid, item) for kid, item in self.fetched[r].items()}
                for r in regions}
        todo: list[tuple[str, Version, int, list]] = []
        for kid in self.ordered:
            digests = {seen[r][kid][1] if kid in seen[r] else None for r in regions}
            if len(digests) == 1 and kid not in self.buried:
                continue  # equal after all (changed while we scanned): nothing to repair
            report.keys_diverged += int(len(digests) > 1)
            folded = _fold(self.policy, appliers, self.fetched, self.rows, kid)
            if folded is None:
                # A plain client's write no replicator has stamped (or could: too large for the
                # metadata). Nothing honest to merge it with, and it must not be replaced.
                report.unstamped.append(to_python(key_of_id(kid)))
                continue
            final, conflicts = folded
            todo.append((kid, final, item_digest(kid, final.item()), conflicts))
        await asyncio.gather(*(self._repair_region(appliers[r], todo, seen[r])
                               for r in regions))
        self._phase("repair", keys_diverged=report.keys_diverged, repaired=dict(report.repaired),
                    planned=dict(report.planned),
                    unstamped=len(report.unstamped), failed=len(report.failed))

    async def _repair_region(self, applier: Applier, todo: list[tuple[str, Version, int, list]],
                             seen: dict[str, Change]) -> None:
        """Write each merged version to the applier's region, unless it holds it already
        (``seen``: its fetched items' entries): in batches (a BatchGetItem and up to 16
        conditional writes at once, as an apply does)."""
        r, report = applier.region, self.report
        need, entries = [], []
        for kid, final, digest, conflicts in todo:
            have = seen.get(kid)
            if have is not None and not have[2] and have[1] == digest:
                continue  # the region holds the merged version (a tombstone item: buried)
            need.append(final)
            entries.extend(self._entries(r, conflicts))
        if report.dry_run:  # what this region's repair would write; nothing is
            report.planned[r] = len(need)
            report.conflicts += len(entries)
            room = PLANNED_KEYS - len(report.planned_keys)
            report.planned_keys += [{"key": self._key(v.attrs), "region": r} for v in need[:room]]
            return
        # The fold's conflicts reach the feed before the writes (a crash after them cannot
        # lose an entry; at worst an interrupted reconcile names a conflict it did not resolve).
        if entries:
            await ConflictFeed(self.clients[r]).record(entries)
            report.conflicts += len(entries)
        for start in range(0, len(need), REPAIR_CHUNK):
            failed: list[tuple[Version, BaseException]] = []
            self._tally(r, await applier.apply(need[start:start + REPAIR_CHUNK], failed=failed))
            for final, exc in failed:  # a key the region refuses (its limits): the others went
                code = exc.response.get("Error", {}).get("Code") \
                    if isinstance(exc, ClientError) else None
                if code != "ValidationException":
                    raise exc
                report.failed.append({"key": self._key(final.attrs), "region": r,
                                      "error": str(exc)[:300]})

    def _tally(self, r: str, result: ApplyResult) -> None:
        report = self.report
        for v in result.blocked:  # a plain client wrote it meanwhile: its stamp comes first
            report.unstamped.append(self._key(v.attrs))
        for o in result.outcomes:
            if o.written is None:
                continue
            report.repaired[r] = report.repaired.get(r, 0) + 1
            if self.emit is not None:
                self.emit("reconcile-repair", table=self.table.name, region=r,
                          key=self._key(o.written.attrs), hlc=o.written.meta.hlc)

    async def verify(self) -> None:
        """Fresh reads: every key of the differing ranges, as it is now in each region,
        replaces what the scan saw in that region's tree; then the trees must be equal."""
        report = self.report
        for r in self.regions:
            after = await _fetch(self.clients[r], self.table, self.ordered)
            fresh = [entry(kid, after.get(kid)) for kid in self.ordered]
            for kid, digest, _ in fresh:
                self.trees[r].replace(kid, self.scanned[r].get(kid), digest)
            self.stores[r].load(fresh)  # as read now: the stream's next records follow it
        report.still_differing = differing_leaves(self.trees.values())
        report.verified = not report.still_differing and not report.unstamped and not report.failed
        report.why = _why(report)
        self._phase("verify", verified=report.verified,
                    still_differing=len(report.still_differing))


def _why(report: TableReport) -> str | None:
    if report.dry_run and not report.verified:
        return (f"dry run, nothing was written: a repair would write "
                f"{sum(report.planned.values())} key(s) ({report.keys_diverged} diverged)"
                + (f", and leave {len(report.unstamped)} unstamped key(s) alone"
                   if report.unstamped else ""))
    if report.failed:
        return (f"{len(report.failed)} repair(s) refused by a region (first: "
                f"{report.failed[0]['region']} {report.failed[0]['key']}: "
                f"{report.failed[0]['error'][:120]}); those keys were left as they were")
    if report.unstamped:
        return (f"{len(report.unstamped)} key(s) hold a plain client's write that no "
                "replicator has stamped (is every replicator running? is the item too "
                "large for georep's metadata?); they were not replaced")
    if not report.verified:
        return ("items changed while reconcile ran (client writes or replication in "
                "flight); run it again once the regions are quiet")
    return None
