"""One page of a shard's records, from the stream to the destination.

Place in the data flow: the replicator's read loop (:mod:`georep.engine.replicator`, ``rep``)
hands each page it read here. The page's local writes are kept (:mod:`georep.core.records`,
with the stamps :mod:`georep.engine.plainstamps` remembers), the latest version of each key;
a delete that removed a plain update with a tombstone item names that update in the source's
feed (:func:`name_swallowed`); plain-client writes get their stamp written back to the source
(:mod:`georep.engine.stamping`); the versions are delivered to the destination
(:mod:`georep.engine.delivery`) and what that did is recorded (:mod:`georep.engine.outcomes`).
The checkpoint returned is saved by the loop only after all of it.
"""

from __future__ import annotations

import asyncio
import time

from ..aws.checkpoints import Checkpoint
from ..core.causality import Order, compare
from ..core.meta import Version, digest, foreign, is_stamped, key_id, key_of, split
from ..core.policy import Conflict
from ..core.records import LocalWrite
from .delivery import Item
from .outcomes import batch_read, stream_outcome
from .stamping import stamp_source

WRITE_BACKS_IN_FLIGHT = 8


async def process(rep, tl, shard_id: str, records: list[dict]) -> Checkpoint:
    """Apply one page (``tl``: the replicator's table link); the checkpoint after it."""
    swallowing: list[LocalWrite] = []
    latest = await _kept(rep, tl, shard_id, records, swallowing)
    for lw in swallowing:  # named before the delete ships: a crash replays the record
        await rep.retrying("conflict-feed", lambda lw=lw: name_swallowed(tl, lw))
    if latest:
        await _write_backs(rep, tl, [lw for lw, _ in latest.values() if lw.plain])
        started = time.perf_counter()
        done = await rep.delivery.deliver(
            tl, [Item(lw.version, rec) for lw, rec in latest.values()])
        rep.observe("request_seconds", time.perf_counter() - started)
        done_ms = rep.clock() * 1000
        for o in done.applied.outcomes:
            _, rec = latest[key_id(key_of(o.version.attrs, tl.table.key_names))]
            stream_outcome(rep, tl, o, done_ms - rep.created_ms(rec, o.version))
        rep.stats.races += done.applied.races
        rep.stats.dead_lettered += len(done.dead)
    rep.stats.batches += 1
    return Checkpoint(shard_id, records[-1]["dynamodb"]["SequenceNumber"])


async def _kept(rep, tl, shard_id: str, records: list[dict],
                swallowing: list[LocalWrite]) -> dict[str, tuple[LocalWrite, dict]]:
    """The page's local writes, the latest of each key with its record (the ``read`` event
    names every one, in stream order); each delete that removed a plain update with a
    tombstone is added to ``swallowing``, superseded or not."""
    latest: dict[str, tuple[LocalWrite, dict]] = {}
    kept: list[Version] = []
    missing = rep.stamps.unknown(tl.table, records)
    if missing:
        found = await rep.retrying("recall-stamps", lambda: tl.stamps.recall(missing))
        rep.stamps.recalled(tl.table, missing, found)
    for rec in records:
        lw = rep.stamps.interpret(tl.table, rep.src, rec)  # foreign metadata: a plain write
        why = foreign(rec["dynamodb"].get("NewImage")) if lw is not None and lw.plain else None
        if why is not None:
            rep.stats.foreign += 1
            rep.emit("foreign-metadata", link=rep.name, table=tl.table.name,
                     seq=rec["dynamodb"]["SequenceNumber"], error=why[:200])
        if lw is None:
            rep.stats.skipped += 1
            rep.observe("skipped")
            continue
        if lw.swallowed is not None:
            swallowing.append(lw)
        kid = key_id(key_of(lw.version.attrs, tl.table.key_names))
        if kid in latest:
            # Superseded inside this batch: the later version of the key has seen it.
            rep.stats.suppressed += 1
            rep.observe("suppressed")
        latest[kid] = (lw, rec)
        kept.append(lw.version)
    batch_read(rep, tl, shard_id, records, kept)
    return latest


async def name_swallowed(tl, lw: LocalWrite) -> None:
    """Name in the source's feed the plain update ``lw`` (a delete) removed with a tombstone
    item (:func:`georep.core.records.swallowed`), unless a write after the delete holds its
    values at the source (:func:`_survives`)."""
    update = lw.swallowed
    resp = await tl.local.client.get_item(
        TableName=tl.table.name, Key=key_of(update.attrs, tl.table.key_names),
        ConsistentRead=True)
    if resp.get("Item") is not None and _survives(update, resp["Item"], lw.version):
        return
    await tl.local.journal(lw.version, Conflict(tl.local.policy.name, lw.version, (update,),
                                                reason="swallowed"))


def _survives(update: Version, item: dict, delete: Version) -> bool:
    """The source's ``item`` holds the update's values as a write that follows ``delete``: a
    burial's put-back (unstamped, perhaps updated since by a plain client), or a version
    stamped since that the delete has not seen. Not an item a repair wrote with the update's
    own stamp before this delete was read: the delete follows it, and deletes it again."""
    attrs, meta = split(item)
    if not set(update.attrs) <= set(attrs) or digest(
            {name: attrs[name] for name in update.attrs}) != digest(update.attrs):
        return False
    return not is_stamped(attrs, meta) or compare(meta.vv, delete.meta.vv) not in (
        Order.BEFORE, Order.EQUAL)


async def _write_backs(rep, tl, plain: list[LocalWrite]) -> None:
    """Each plain write's stamp, written back to the source (distinct keys: any order, but one
    after the other in the serial mode)."""
    gate = asyncio.Semaphore(WRITE_BACKS_IN_FLIGHT)

    async def stamp(lw: LocalWrite) -> None:
        async with gate:
            await rep.retrying("stamp", lambda: stamp_source(rep, tl, lw))

    if rep.serial:
        for lw in plain:
            await stamp(lw)
    else:
        await asyncio.gather(*(stamp(lw) for lw in plain))
