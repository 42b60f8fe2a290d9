"""Each region's tree for reconcile: a full scan, or a persistent store caught up from the
region's stream (active anti-entropy).

Place in the data flow: the first phase of :func:`georep.engine.reconcile.reconcile_table`.
Given a folder for persistent stores and each region's streams client (:class:`Trees`), a
region whose store is trusted (:mod:`georep.engine.treestore`) is brought up to date by reading
its stream from where the store stopped: *incremental*, reading only what was written since.
Otherwise, or with ``full``, every region is scanned (parallel segmented Scans, one page at a
time into its store). A scan's store is sealed at positions read *before* the scan (the
region's replicators' checkpoints, which never pass the stream's end), then caught up, so the
next reconcile can be incremental.

Both modes compare the same thing: per region, the digest of every item as it is now. A full
scan reads it from the table; an incremental run from the last scan plus every change the
stream reported since. The second is only as good as the stream: see docs/design.md,
"Reconcile", for what it proves and when to ask for a full scan.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..aws.checkpoints import CheckpointStore
from ..aws.errors import classify
from ..aws.streams import StreamReader
from ..aws.tables import stream_of
from ..config import Table
from ..core.meta import key_id, key_of
from ..errors import CheckpointUnreadable, LabError
from .treestore import TreeBusy, TreeStore, TreeUntrusted, catch_up, entry

SEGMENTS = 4
Positions = dict[str, tuple[str | None, bool]]


@dataclass
class Trees:
    """Where reconcile keeps each region's tree. Without a folder: temporary stores, a full scan
    every time."""

    folder: Path | None = None  # persistent stores: <folder>/<region>/<table>.sqlite3
    streams: dict[str, Any] = field(default_factory=dict)  # region -> dynamodbstreams client
    links: dict[str, list[str]] = field(default_factory=dict)  # region -> its outgoing links
    full: bool = False  # scan in full even where a store is trusted
    wait_s: float = 60.0  # for a store another reconcile holds


@dataclass
class Built:
    stores: dict[str, TreeStore]
    mode: str  # "full" or "incremental"
    why: str | None  # why a full scan (None: incremental, or no persistent trees)
    scanned: dict[str, int]  # region -> items a scan read
    records: dict[str, int]  # region -> stream records read


async def build(clients: dict[str, Any], table: Table, trees: Trees, tmp: Path,
                progress: Callable[[str, int], None] | None) -> Built:
    """Every region's store, up to date: incremental where every store is trusted, else full."""
    regions = list(clients)
    persistent = trees.folder is not None and all(r in trees.streams for r in regions)
    if not persistent:
        stores = {r: TreeStore(tmp / f"{r}.sqlite3") for r in regions}
        scanned = dict(zip(regions, await asyncio.gather(*(
            _scan(clients[r], table, stores[r], "", {}, r, progress) for r in regions)),
            strict=True))
        return Built(stores, "full", None, scanned, dict.fromkeys(regions, 0))
    assert trees.folder is not None
    stores: dict[str, TreeStore] = {}
    try:
        for r in regions:
            stores[r] = await _held(trees.folder / r / f"{table.name}.sqlite3", trees.wait_s)
    except BaseException:
        for store in stores.values():
            store.close()
        raise
    streams = {r: await stream_of(clients[r], table.name) for r in regions}
    readers = {r: StreamReader(trees.streams[r], streams[r][0]) for r in regions}
    # while a stream is off, changes reach no record: a store caught up from it would miss
    # them (moto keeps the old ARN)
    off = [r for r in regions if not streams[r][1]]
    why = "a full scan was asked for" if trees.full else \
        f"the table's stream is disabled in {off[0]}" if off else next(
            (w for r in regions if (w := stores[r].trusted_for(readers[r].arn))), None)
    if why is None:
        try:
            records = await asyncio.gather(*(catch_up(readers[r], stores[r], table)
                                             for r in regions))
            return Built(stores, "incremental", None, dict.fromkeys(regions, 0),
                         dict(zip(regions, records, strict=True)))
        except TreeUntrusted as exc:
            why = str(exc)

    async def full(r: str) -> tuple[int, int]:
        base = await _base(clients[r], trees.links.get(r, []), table)
        n = await _scan(clients[r], table, stores[r], readers[r].arn, base, r, progress)
        try:
            return n, await catch_up(readers[r], stores[r], table)
        except TreeUntrusted:
            stores[r].distrust()  # this run's tree is the scan's; the next one scans again
            return n, 0

    done = await asyncio.gather(*(full(r) for r in regions))
    return Built(stores, "full", why, {r: d[0] for r, d in zip(regions, done, strict=True)},
                 {r: d[1] for r, d in zip(regions, done, strict=True)})


async def _held(path: Path, wait_s: float) -> TreeStore:
    """The store at ``path`` once no other reconcile holds it; LabError after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return TreeStore(path)
        except TreeBusy as exc:
            if time.monotonic() >= deadline:
                raise LabError(f"{exc}; waited {wait_s:.0f}s: run one reconcile at a time"
                               ) from None
            await asyncio.sleep(0.1)


async def _scan(client, table: Table, store: TreeStore, arn: str, base: Positions, region: str,
                progress: Callable[[str, int], None] | None) -> int:
    store.reset(arn)
    n = await scan_region(client, table, store,
                          (lambda k: progress(region, k)) if progress else None)
    store.seal(base)
    return n


async def _base(client, links: list[str], table: Table) -> Positions:
    """Stream positions at or before now: per shard, the least far any replicator reading this
    region has got (None: from the shard's start). Any position a replicator saved is at or
    before the stream's end, so reading on from it replays at worst some records, harmlessly.
    No link, or an unreadable checkpoint: the start of every shard."""
    out: Positions = {}
    for link in links:
        try:
            checkpoints = await CheckpointStore(client, link, table.name).load()
        except CheckpointUnreadable:
            return {}
        for shard, cp in checkpoints.items():
            seq, finished = out.get(shard, (cp.seq, cp.finished))
            least = None if seq is None or cp.seq is None else min(seq, cp.seq, key=int)
            out[shard] = (least, finished and cp.finished)
    return out


async def scan_region(client, table: Table, store: TreeStore,
                      progress: Callable[[int], None] | None = None) -> int:
    """Stream a region's table into ``store`` (one transaction per page: a table is never held
    in memory); the number of items scanned."""
    total = 0

    async def segment(n: int) -> None:
        nonlocal total
        kw: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True,
                              "Segment": n, "TotalSegments": SEGMENTS}
        while True:
            page = await retry(lambda: client.scan(**kw))
            items = page.get("Items", [])
            store.load(entry(key_id(key_of(item, table.key_names)), item) for item in items)
            total += len(items)
            if progress:
                progress(len(items))
            if "LastEvaluatedKey" not in page:
                return
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    await asyncio.gather(*(segment(n) for n in range(SEGMENTS)))
    return total


async def retry(call, attempts: int = 5):
    """A region call retried on transient errors (a busy emulator), with a short backoff."""
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as exc:  # classified: only retriable errors are tried again
            if not classify(exc).retriable or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * 2 ** attempt)
    raise AssertionError("unreachable")
