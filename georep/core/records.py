"""Interpretation of one stream record: is it a local write, and which version does it carry?

Place in the data flow: the replicator feeds every record of its source region's stream through
:func:`local_write`; only the versions it returns are shipped to other regions.

Rules (see ARCHITECTURE.md, "Local writes and replicated writes"):

* a record whose metadata changed and names a replicator or reconcile as the writer is a
  replicated write and is skipped, which is what stops ping-pong;
* a record whose metadata changed, names a client, and stamps exactly the new attributes is a
  write through georep's own write path and ships as it is;
* anything else (a write by a plain AWS client, with no metadata or with metadata it did not
  change) is stamped from the record itself (:func:`georep.core.meta.stamp_plain`). Such a
  version must also be written back to the source item, so that both regions order it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .causality import Order, compare
from .meta import META, NON_LOCAL_WRITERS, Version, is_stamped, key_of, split, stamp_plain


def record_ms(value: Any) -> int:
    """A stream record's ApproximateCreationDateTime (datetime or epoch seconds) in ms."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


@dataclass(frozen=True, slots=True)
class LocalWrite:
    version: Version
    seq: int
    plain: bool  # made by a plain AWS client: stamped here, needs a write-back at the source
    seen: Mapping[str, Any] | None = None  # the raw metadata the new image carried, if any


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
) -> LocalWrite | None:
    """The version a record contributes to replication, or None for a replicated write."""
    old_attrs, old_meta = split(old_image)
    if event == "REMOVE" or new_image is None:
        # georep deletes are tombstone writes, so a real delete came from a plain client.
        base = old_meta
        attrs = dict(keys) if not old_attrs else key_of(old_attrs, key_names)
        v = stamp_plain(attrs, base, origin=origin, record_ms=record_ms, seq=seq, tombstone=True)
        return LocalWrite(v, seq, plain=True)
    new_attrs, new_meta = split(new_image)
    if new_meta is not None and new_meta != old_meta:
        if new_meta.writer in NON_LOCAL_WRITERS:
            return None
        if is_stamped(new_attrs, new_meta):
            return LocalWrite(Version(new_attrs, new_meta), seq, plain=False)
    base = new_meta if new_meta is not None else old_meta
    v = stamp_plain(new_attrs, base, origin=origin, record_ms=record_ms, seq=seq)
    return LocalWrite(v, seq, plain=True, seen=new_image.get(META))


def clobbered(
    old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None
) -> Version | None:
    """The version a replicated write overwrote without merging it, or None.

    The apply step writes without conditions (BatchWriteItem), so a write that lands between
    its read and its write is overwritten. The stream witnesses it: the replicated write's
    OldImage is the lost version, and its vector is not covered by the NewImage's. The caller
    merges that version back into its region. Plain-client writes lost this way carry no
    stamp to compare; their own stream record restores them (the write-back falls back to a
    merge when the item changed under it).
    """
    if old_image is None or new_image is None:
        return None
    _, new_meta = split(new_image)
    if new_meta is None or new_meta.writer not in NON_LOCAL_WRITERS:
        return None
    old_attrs, old_meta = split(old_image)
    if old_meta is None or not is_stamped(old_attrs, old_meta):
        return None
    if compare(old_meta.vv, new_meta.vv) in (Order.EQUAL, Order.BEFORE):
        return None
    return Version(old_attrs, old_meta)
