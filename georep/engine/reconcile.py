"""Reconcile: Merkle-tree anti-entropy that repairs the regions and proves them equal.

Place in the data flow: run after a heal (``georep reconcile``, ``Lab.reconcile``), once the
runtime has redriven the DLQs and waited for the replicators to catch up. For each table:

1. scan every region with parallel segmented Scans, streaming each item into a Merkle tree over
   key-hash ranges (:mod:`georep.core.merkle`) and its key into a spill file on disk, so no
   table is ever held in memory;
2. compare the trees and fetch (BatchGetItem) only the keys of the ranges that differ;
3. merge each divergent key's versions with the table's policy (conflicts go to the feed) and
   write the result to every region that differs, conditionally (``Applier.apply``, writer
   ``reconcile``), so a client write racing the repair is merged, never lost; a key holding a
   plain client's write that no replicator stamped is left alone and reported (``unstamped``),
   and the report is then not verified;
4. verify: re-read every repaired key in every region, update the trees and compare again.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ..aws.conflicts import ConflictFeed, of_conflict
from ..aws.errors import classify
from ..aws.tombstones import TombstoneStore
from ..aws.values import to_python
from ..config import Table
from ..core.merkle import Tree, TreeBuilder, depth_for, differing_leaves, item_digest
from ..core.meta import Version, key_id, key_of
from ..core.policies import policy_named
from ..errors import UnstampedDestination
from .apply import Applier
from .burial import buried_item

SEGMENTS = 4
REPAIRS_IN_FLIGHT = 16


@dataclass
class TableReport:
    table: str
    depth: int = 0
    scanned: dict[str, int] = field(default_factory=dict)  # region -> keys scanned
    ranges: int = 0
    ranges_differing: int = 0
    keys_diverged: int = 0
    repaired: dict[str, int] = field(default_factory=dict)  # region -> keys written
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


async def scan_region(client, table: Table, depth: int, spill: Path,
                      progress: Callable[[int], None] | None = None,
                      buried: set[str] | None = None) -> TreeBuilder:
    """Stream a region's table into a Merkle tree; write ``leaf, digest, key`` lines to
    ``spill`` (the keys of a differing range are read back from it, never held in memory).
    ``buried`` receives the keys of tombstone items: deletes that did not finish."""
    builder = TreeBuilder(depth)
    lock = asyncio.Lock()
    with spill.open("w") as out:

        async def segment(n: int) -> None:
            kw: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True,
                                  "Segment": n, "TotalSegments": SEGMENTS}
            while True:
                page = await _retry(lambda: client.scan(**kw))
                async with lock:
                    for item in page.get("Items", []):
                        kid = key_id(key_of(item, table.key_names))
                        leaf = builder.add(kid, item)
                        out.write(f"{leaf}\t{item_digest(kid, item)}\t{kid}\n")
                        if buried is not None and buried_item(item) is not None:
                            buried.add(kid)
                if progress:
                    progress(len(page.get("Items", [])))
                if "LastEvaluatedKey" not in page:
                    return
                kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        await asyncio.gather(*(segment(n) for n in range(SEGMENTS)))
    return builder


async def _retry(call, attempts: int = 5):
    """A region call retried on transient errors (a busy emulator), with a short backoff."""
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as exc:  # classified: only retriable errors are tried again
            if not classify(exc).retriable or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * 2 ** attempt)
    raise AssertionError("unreachable")


async def _rows(client, table: Table, keys: list[str],
                have: dict[str, dict]) -> dict[str, Version]:
    """The tombstone rows' versions of the keys without an item."""
    store = TombstoneStore(client, table.name)
    found = await _retry(lambda: store.get_many(k for k in keys if k not in have))
    return {k: row.version for k, row in found.items() if row.version is not None}


async def _fetch(client, table: Table, keys: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for start in range(0, len(keys), 100):
        request = {table.name: {"Keys": [json.loads(k) for k in keys[start:start + 100]],
                                "ConsistentRead": True}}
        while request:
            resp = await _retry(lambda r=request: client.batch_get_item(RequestItems=r))
            for item in resp.get("Responses", {}).get(table.name, []):
                out[key_id(key_of(item, table.key_names))] = item
            request = resp.get("UnprocessedKeys") or None
    return out


async def reconcile_table(clients: dict[str, Any], table: Table, *, clock=time.time,
                          progress: Callable[[str, int], None] | None = None) -> TableReport:
    """Repair ``table`` across the regions of ``clients`` and verify them equal."""
    report = TableReport(table.name)
    policy = policy_named(table.policy, **table.policy_options())
    regions = list(clients)
    t = time.perf_counter()
    estimate = max([0, *[(await c.describe_table(TableName=table.name))["Table"].get(
        "ItemCount", 0) for c in clients.values()]])
    report.depth = depth_for(estimate)
    with tempfile.TemporaryDirectory(prefix="georep-reconcile-") as tmp:
        spills = {r: Path(tmp) / f"{r}.keys" for r in regions}
        buried: set[str] = set()
        builders = await asyncio.gather(*(
            scan_region(clients[r], table, report.depth, spills[r],
                        (lambda n, r=r: progress(r, n)) if progress else None, buried)
            for r in regions))
        trees: dict[str, Tree] = {r: b.tree for r, b in zip(regions, builders, strict=True)}
        report.scanned = {r: b.items for r, b in zip(regions, builders, strict=True)}
        report.seconds["scan"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        report.ranges = 1 << report.depth
        differing = set(differing_leaves(trees.values()))
        report.ranges_differing = len(differing)
        keys: set[str] = set()
        scanned: dict[str, dict[str, int]] = {r: {} for r in regions}  # digests as scanned
        for r, spill in spills.items():
            with spill.open() as f:
                for line in f:
                    leaf, dig, kid = line.rstrip("\n").split("\t", 2)
                    if int(leaf) in differing:
                        keys.add(kid)
                        scanned[r][kid] = int(dig)
        ordered = sorted(keys | buried)
        fetched = {r: await _fetch(clients[r], table, ordered) for r in regions}
        rows = {r: await _rows(clients[r], table, ordered, fetched[r]) for r in regions}
        report.seconds["compare"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    appliers = {r: Applier(clients[r], table, policy, r, writer="reconcile") for r in regions}
    gate = asyncio.Semaphore(REPAIRS_IN_FLIGHT)

    def entries_for(r: str, conflicts: list) -> list[dict]:
        return [of_conflict(c, region=r, table=table.name, time=clock(),
                            key=to_python(key_of(c.winner.attrs, table.key_names)))
                for c in conflicts]

    for r, applier in appliers.items():  # a repair's own merge conflicts: write-ahead too
        async def journal(incoming, c, r=r):
            await ConflictFeed(clients[r]).record(entries_for(r, [c]))
            report.conflicts += 1
        applier.journal = journal

    async def repair(kid: str, final: Version, conflicts: list, r: str) -> None:
        have = fetched[r].get(kid)
        if (have is not None and buried_item(have) is None
                and item_digest(kid, have) == item_digest(kid, final.item())):
            return  # this region already holds the merged version (a tombstone item: buried)
        # The fold's conflicts reach the feed before the write (a crash after it cannot lose
        # them; at worst an interrupted reconcile names a conflict it did not yet resolve).
        if conflicts:
            await ConflictFeed(clients[r]).record(entries_for(r, conflicts))
            report.conflicts += len(conflicts)
        try:
            async with gate:
                result = await appliers[r].apply([final])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            report.failed.append({"key": to_python(key_of(final.attrs, table.key_names)),
                                  "region": r, "error": str(exc)[:300]})
            return
        if result.blocked:  # a plain client wrote it meanwhile: its stamp comes first
            report.unstamped.append(to_python(key_of(final.attrs, table.key_names)))
            return
        if any(o.written is not None for o in result.outcomes):
            report.repaired[r] = report.repaired.get(r, 0) + 1

    jobs = []
    for kid in ordered:
        digests = {item_digest(kid, fetched[r][kid]) if kid in fetched[r] else None
                   for r in regions}
        if len(digests) == 1 and kid not in buried:
            continue  # equal after all (changed while we scanned): nothing to repair
        report.keys_diverged += int(len(digests) > 1)
        folded = _fold(policy, appliers, fetched, rows, kid)
        if folded is None:
            # A plain client's write no replicator has stamped (or could: too large for the
            # metadata). Nothing honest to merge it with, and it must not be replaced.
            report.unstamped.append(to_python(json.loads(kid)))
            continue
        final, conflicts = folded
        jobs.extend(repair(kid, final, conflicts, r) for r in regions)
    await asyncio.gather(*jobs)
    report.seconds["repair"] = round(time.perf_counter() - t, 3)

    # Verify with fresh reads: every key of the differing ranges, as it is now in each region,
    # replaces what the scan saw in that region's tree; then the trees must be equal.
    t = time.perf_counter()
    after = {r: await _fetch(clients[r], table, ordered) for r in regions}
    for r in regions:
        for kid in ordered:
            new = after[r].get(kid)
            trees[r].replace(kid, scanned[r].get(kid), item_digest(kid, new) if new else None)
    report.still_differing = differing_leaves(trees.values())
    report.verified = not report.still_differing and not report.unstamped and not report.failed
    if report.failed:
        report.why = (f"{len(report.failed)} repair(s) refused by a region (first: "
                      f"{report.failed[0]['region']} {report.failed[0]['key']}: "
                      f"{report.failed[0]['error'][:120]}); those keys were left as they were")
    elif report.unstamped:
        report.why = (f"{len(report.unstamped)} key(s) hold a plain client's write that no "
                      "replicator has stamped (is every replicator running? is the item too "
                      "large for georep's metadata?); they were not replaced")
    elif not report.verified:
        report.why = ("items changed while reconcile ran (client writes or replication in "
                      "flight); run it again once the regions are quiet")
    report.seconds["verify"] = round(time.perf_counter() - t, 3)
    return report
