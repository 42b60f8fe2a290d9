"""Interpretation of one stream record: is it a local write, and which version does it carry?

Place in the data flow: the replicator feeds every record of its source region's stream through
:func:`local_write`; only the versions it returns are shipped to other regions.

Rules (see ARCHITECTURE.md, "Local writes and replicated writes"):

* a record whose metadata changed, describes the new attributes and names a replicator,
  reconcile or a stamp write-back as the writer is a replicated write and is skipped, which is
  what stops ping-pong;
* a REMOVE whose old image is a stamped tombstone is georep burying a delete it already wrote
  as an item (:mod:`georep.engine.burial`): that item's own record carried the delete, so it is
  skipped (:func:`buried`);
* a REMOVE whose old image is a delete's tombstone metadata over attributes a plain update
  added deleted that update with the tombstone (a burial's step (c), or a plain client's
  delete of such an item): it ships as a plain delete, and names the update it deleted
  (:func:`swallowed`), which the replicator records in the source's conflict feed;
* a record whose metadata changed, names a client, and stamps exactly the new attributes is a
  write through georep's own write path and ships as it is;
* metadata georep wrote that moves backwards (an item restored from a backup, ``_georep``
  included: :func:`_restored`) is a plain client's write too;
* anything else (a write by a plain AWS client, with no metadata, metadata it did not change,
  or metadata georep did not write: :func:`georep.core.meta.split` drops it) is stamped
  from the record itself (:func:`stamp_plain`), as a write
  that has seen the version it replaced (:func:`replaced`). Such a version must also be written
  back to the source item, so that both regions order it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .causality import Order, compare
from .crdt.plain import plain_crdt
from .hlc import tick
from .meta import (
    MAX_CLOCK_OFFSET_MS,
    META,
    NON_LOCAL_WRITERS,
    Meta,
    Version,
    digest,
    horizon,
    is_stamped,
    key_of,
    split,
    stamp,
)


def record_ms(value: Any) -> int:
    """A stream record's ApproximateCreationDateTime (datetime or epoch seconds) in ms."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


def stamp_plain(
    attrs: Mapping[str, Any],
    base: Meta | None,
    *,
    origin: str,
    record_ms: int,
    seq: int,
    tombstone: bool = False,
    crdt: bool = False,
    max_offset_ms: int = MAX_CLOCK_OFFSET_MS,
) -> Version:
    """Stamp a write made by a plain AWS client, seen in ``origin``'s stream.

    The stamp depends only on the stream record (its creation time, sequence number and the
    metadata it carried), so a replayed record gets the same stamp and applies as a duplicate.
    It follows ``base`` causally even when ``base`` came from a region whose clock runs ahead.

    On a ``crdt`` table it also carries what the crdt policy needs to read the write's CRDT
    state, again from the record alone (:func:`georep.core.crdt.plain.plain_crdt`): whenever
    ``base`` carries CRDT state, and for any write when ``crdt`` says the table is a crdt table
    (a write that creates an item has no base to tell).
    """
    seen = horizon(base, region=origin, now_ms=record_ms,  # the record's own clock
                   max_offset_ms=max_offset_ms)
    v = stamp(attrs, base, origin=origin, ts=tick(seen, record_ms), tie=seq, tombstone=tombstone)
    return plain_crdt(v, base, crdt=crdt)


@dataclass(frozen=True, slots=True)
class LocalWrite:
    version: Version
    seq: int
    plain: bool  # made by a plain AWS client: stamped here, needs a write-back at the source
    seen: Mapping[str, Any] | None = None  # the raw metadata the new image carried, if any
    swallowed: Version | None = None  # a plain update this delete removed with a tombstone


def replaced(
    old_image: Mapping[str, Any] | None, prior: Version | None, seq: int,
    prior_seq: int | None = None,
) -> Version | None:
    """The version a plain write replaced, as stamped: the old image when it carries its own
    stamp; else ``prior``, the stamp this replicator gave the key's previous plain write (its
    write-back may not have landed before the next write), when it describes the old image
    (or, for a write to an absent item, when it was a delete) and came earlier in the stream
    than this record (``seq``; ``prior_seq``, where the stream showed ``prior``, defaults to its
    tie: the sequence number of a plain write's own record); else None."""
    old_attrs, old_meta = split(old_image)
    if old_image is not None and is_stamped(old_attrs, old_meta):
        return Version(old_attrs, old_meta)
    if prior is None or (prior.meta.tie if prior_seq is None else prior_seq) >= seq:
        return None
    if old_image is None:
        return prior if prior.meta.tombstone else None
    if not prior.meta.tombstone and prior.meta.digest == digest(old_attrs):
        return prior
    return None


def _restored(new: Meta, old_attrs: Mapping[str, Any] | None, old_meta: Meta | None) -> bool:
    """Metadata georep wrote, but not written now by georep: an item restored from a backup
    (its ``_georep`` included) or copied back by a plain client. georep's own writes only move
    forward — an apply writes a merge that has seen the item it replaces, a client write
    follows what it read, a stamp write-back changes only the metadata — so a version whose
    vector is older than, or concurrent with, the version it replaced is a plain
    client's write, and is stamped as one (it has seen that version). Only the item's own stamp
    (``old_meta`` over ``old_attrs``; None: no item) shows what a georep write replaced: an apply
    over an absent item may not have seen a plain delete whose stamp was still on its way to the
    row. One digest at most, and only for a record with an old image."""
    needed = old_attrs is not None and (new.writer == "stamp" or old_meta is not None)
    old_digest = digest(old_attrs) if needed else None
    if new.writer == "stamp" and old_digest != new.digest:
        return True
    if old_meta is None or old_meta.digest != old_digest:
        return False
    return compare(new.vv, old_meta.vv) in (Order.BEFORE, Order.CONCURRENT)


def buried(event: str, old_image: Mapping[str, Any] | None) -> Version | None:
    """The tombstone a REMOVE record buried (its old image: a stamped tombstone without
    siblings), or None for any other record."""
    if event != "REMOVE" or old_image is None or META not in old_image:
        return None
    attrs, meta = split(old_image)
    if is_stamped(attrs, meta) and meta.tombstone and not meta.siblings:
        return Version(attrs, meta)
    return None


def plain_update(tomb: Meta, attrs: Mapping[str, Any], region: str) -> Version:
    """A plain update that landed on the tombstone item ``tomb`` in ``region``, described from
    that item alone (it carries no stamp of its own): a write at ``region`` that followed the
    tombstone."""
    meta = replace(tomb, origin=region, writer="client", tombstone=False, digest=digest(attrs),
                   siblings=(), crdt=None, crdt_base=None, crdt_changes=None)
    return Version(dict(attrs), meta)


def swallowed(old_attrs: Mapping[str, Any], old_meta: Meta | None, before: Version | None,
              key_names: Iterable[str], region: str) -> Version | None:
    """The plain update a REMOVE record deleted together with a delete's tombstone item, or
    None. Such an old image (a tombstone's metadata, no siblings, over attributes it does not
    stamp) is a plain UpdateItem that landed on the tombstone item, then deleted: by a burial's
    step (c), which cannot name attributes it does not know, or by a plain client. The two
    cannot be told apart from the record, and when (c)'s answer was lost the update is never
    put back (a 10-minute 2-region chaos run), so the update is named either way. ``before``:
    the version the delete replaced, as stamped (the update's own stamp, when this replicator
    gave it one); else the update is described from the image (:func:`plain_update`)."""
    if old_meta is None or not old_meta.tombstone or old_meta.siblings:
        return None
    if is_stamped(old_attrs, old_meta) or not set(old_attrs) - set(key_names):
        return None
    if before is not None and not before.meta.tombstone and (
            before.meta.digest == digest(old_attrs)):
        return before
    return plain_update(old_meta, old_attrs, region)


def local_write(
    *,
    event: str,
    keys: Mapping[str, Any],
    old_image: Mapping[str, Any] | None,
    new_image: Mapping[str, Any] | None,
    origin: str,
    record_ms: int,
    seq: int,
    key_names: Iterable[str],
    prior: Version | None = None,
    crdt: bool = False,
    prior_seq: int | None = None,
    max_offset_ms: int = MAX_CLOCK_OFFSET_MS,
) -> LocalWrite | None:
    """The version a record contributes to replication, or None for a replicated write.

    A plain write has seen exactly the version it replaced (:func:`replaced`); when that cannot
    be told (the key's earlier plain write was stamped before a restart of this replicator and
    never written back), the stale metadata the images carry stands in.
    """
    old_attrs, old_meta = split(old_image)
    if buried(event, old_image) is not None:
        return None  # georep moving a tombstone to its row: shipped by the tombstone's write
    if event == "REMOVE" or new_image is None:
        # georep deletes are tombstone writes, so any other delete came from a plain client.
        before = replaced(old_image, prior, seq, prior_seq)
        base = before.meta if before is not None else old_meta
        attrs = dict(keys) if not old_attrs else key_of(old_attrs, key_names)
        v = stamp_plain(attrs, base, origin=origin, record_ms=record_ms, seq=seq, tombstone=True,
                        crdt=crdt, max_offset_ms=max_offset_ms)
        lost = swallowed(old_attrs, old_meta, before, key_names, origin)
        return LocalWrite(v, seq, plain=True, swallowed=lost)
    new_attrs, new_meta = split(new_image)
    if new_meta is not None and new_meta != old_meta and not _restored(
            new_meta, old_attrs if old_image is not None else None, old_meta):
        if new_meta.writer == "stamp":
            return None  # a write-back: the attributes are the old image's
        if is_stamped(new_attrs, new_meta):
            if new_meta.writer in NON_LOCAL_WRITERS:
                return None
            return LocalWrite(Version(new_attrs, new_meta), seq, plain=False)
        if new_meta.writer in NON_LOCAL_WRITERS:
            # A replicated write (an UpdateItem) that kept an attribute a plain client added
            # while it was in flight: the item is that plain write, made after this one.
            v = stamp_plain(new_attrs, new_meta, origin=origin, record_ms=record_ms, seq=seq,
                            crdt=crdt, max_offset_ms=max_offset_ms)
            return LocalWrite(v, seq, plain=True, seen=new_image.get(META))
    before = replaced(old_image, prior, seq, prior_seq)
    stale = new_meta if new_meta is not None else old_meta
    base = before.meta if before is not None else stale
    v = stamp_plain(new_attrs, base, origin=origin, record_ms=record_ms, seq=seq, crdt=crdt,
                    max_offset_ms=max_offset_ms)
    return LocalWrite(v, seq, plain=True, seen=new_image.get(META))
