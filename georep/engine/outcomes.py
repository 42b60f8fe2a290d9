"""What a replicator records of its work: the ``read``, ``apply`` and ``suppress`` events, its
counters, and the conflict feed's write-ahead.

Place in the data flow: called by :class:`~georep.engine.replicator.Replicator` (``rep``) for
each batch it reads from the source stream (:func:`batch_read`), for each version the apply
step wrote or found already there, from the stream (:func:`stream_outcome`) or from a DLQ
redrive (:func:`redriven`), and by the appliers before a write that resolves a conflict
(:func:`journal`). Events go to the lab's event log through ``rep.emit``.
"""

from __future__ import annotations

from typing import Any

from ..aws.conflicts import ConflictFeed, of_conflict
from ..aws.values import to_python
from ..core.hlc import Timestamp
from ..core.meta import Version, key_id, key_of
from .apply import ApplyResult, Outcome


def batch_read(rep, tl, shard_id: str, records: list[dict], kept: list[Version]) -> None:
    """A ``read`` event for a batch of ``records`` from ``shard_id``: the key of each record
    the link ships (``kept``, in stream order; a record skipped still counts in ``records``)."""
    names = tl.table.key_names
    rep.emit("read", link=rep.name, table=tl.table.name, shard=shard_id, records=len(records),
             keys=[to_python(key_of(v.attrs, names)) for v in kept])


def stream_outcome(rep, tl, o: Outcome, lag_ms: float) -> None:
    """Count and record one version of a stream batch, applied or suppressed."""
    if o.written is None:
        rep.stats.suppressed += 1
        rep.observe("suppressed")
    else:
        rep.stats.applied += 1
        rep.stats.lag_ms.append(lag_ms)
        rep.observe("applied")
        rep.observe("lag_seconds", lag_ms / 1000)
    _event(rep, tl, o, lag_ms, "stream")


def redriven(rep, tl, result: ApplyResult, records: dict[str, dict]) -> None:
    """Record what a DLQ redrive applied (``records``: the stream record of each key's
    version; the redrive's report carries the counts). The lag is the lab's clock now less the
    version's creation time, as for the stream."""
    rep.stats.races += result.races
    now_ms = rep.clock() * 1000
    for o in result.outcomes:
        rec = records.get(key_id(key_of(o.version.attrs, tl.table.key_names)))
        _event(rep, tl, o, now_ms - created_ms(rep, rec, o.version), "redrive")


def created_ms(rep, rec: dict | None, version: Version) -> float:
    """When ``version`` was written: the link's notion (``rep.created_ms``, from its stream
    record), else its HLC's physical milliseconds."""
    if rec is not None:
        try:
            return rep.created_ms(rec, version)
        except (KeyError, TypeError, ValueError):
            pass
    return Timestamp.unpack(version.meta.hlc).physical


def _event(rep, tl, o: Outcome, lag_ms: float, via: str) -> None:
    key = to_python(key_of(o.version.attrs, tl.table.key_names))
    meta = o.version.meta
    if o.written is None:
        rep.emit("suppress", link=rep.name, table=tl.table.name, key=key, hlc=meta.hlc,
                 via=via)
        return
    rep.emit("apply", link=rep.name, table=tl.table.name, key=key, hlc=meta.hlc,
             origin=meta.origin, tombstone=meta.tombstone, lag_ms=round(lag_ms, 1), via=via)


def journal(rep, tl, region: str):
    """The applier's write-ahead: record a conflict in ``region``'s feed, at once."""
    client = tl.applier.client if region == rep.dst else tl.local.client

    async def write_ahead(incoming: Version, c) -> tuple[Any, dict]:
        key = to_python(key_of(incoming.attrs, tl.table.key_names))
        e = of_conflict(c, region=region, table=tl.table.name, key=key, time=rep.clock())
        await rep.retrying("conflict-feed", lambda: ConflictFeed(client).record([e]))
        rep.stats.conflicts += 1
        rep.observe("conflicts")
        rep.emit("conflict", link=rep.name, **{k: v for k, v in e.items() if k != "time"})
        return client, e

    return write_ahead


def unjournal(rep):
    """Take back a conflict whose write lost a race and is redone (``journal``'s token)."""
    async def take_back(token: tuple[Any, dict]) -> None:
        client, e = token
        await rep.retrying("conflict-feed", lambda: ConflictFeed(client).remove([e["id"]]))
        rep.stats.conflicts -= 1
        rep.emit("conflict-withdrawn", link=rep.name, id=e["id"], region=e["region"])

    return take_back
