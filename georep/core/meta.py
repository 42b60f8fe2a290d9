"""Item metadata: the one reserved attribute every version georep writes carries.

Place in the data flow: the write path stamps it, the replicator reads it from stream images to
tell local writes from replicated ones, and the apply step hands the decoded versions to the
table's conflict policy. Items travel in DynamoDB's low-level JSON (``{"S": "x"}``), so nothing
is deserialized on the replication hot path.

The attribute ``_georep`` holds one version's metadata: its packed HLC and tie, origin region,
writer (client | replicator | reconcile | stamp), tombstone flag, version vector, the digest of
the user attributes it stamps, and per policy the vclock siblings or the CRDT state. Its wire
format (one string, versioned, authenticated with a keyed hash) is
:mod:`georep.core.metacodec`'s; this module re-exports the codec's names.

The digest lets a reader notice that a plain AWS client changed the attributes after georep
stamped them (the metadata is then stale: the item is *unstamped*).

Only georep holds the secret, so metadata a plain client wrote itself (malformed, forged with
writer ``replicator``, a version vector or an HLC from the future) fails authentication and
reads as *no* metadata: :func:`split` returns None for it, and the replicator stamps the item
as the plain client's write it is (:func:`foreign` says why, for the counters). The secret is
per context (:func:`use_secret`): a process-wide random one unless the lab sets its own (the
live lab derives it from its token, so every process of one lab agrees).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .causality import VersionVector, advance
from .hlc import Timestamp
from .metacodec import (
    FORMAT,
    MAX_HLC,
    MAX_TIE,
    META,
    TOMBSTONE_PREFIX,
    WRITERS,
    Meta,
    MetadataError,
    Sibling,
    canonical,
    decode,
    encode,
    encoded_size,
    stamp_bounds,
    use_secret,
)

__all__ = [  # the codec's names, re-exported: callers import metadata from here
    "FORMAT", "MAX_HLC", "MAX_TIE", "META", "TOMBSTONE_PREFIX", "WRITERS", "Meta",
    "MetadataError", "Sibling", "decode", "encode", "encoded_size", "stamp_bounds",
    "use_secret",
]

# Writers whose versions never replicate: applies, reconcile's repairs, and the write-back of a
# plain write's stamp (which changes only the metadata of the item it lands on).
NON_LOCAL_WRITERS = frozenset({"replicator", "reconcile", "stamp"})

Item = dict[str, Any]  # DynamoDB low-level JSON: attribute name -> AttributeValue


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an item: user attributes (key included, metadata excluded) plus metadata."""

    attrs: Mapping[str, Any]
    meta: Meta

    def siblings(self) -> tuple[Sibling, ...]:
        """The concurrent values this version holds: its siblings, or just itself."""
        if self.meta.siblings:
            return self.meta.siblings
        m = self.meta
        return (Sibling(dict(self.attrs), m.hlc, m.tie, m.origin, m.tombstone),)

    def item(self) -> Item:
        out = dict(self.attrs)
        out[META] = encode(self.meta)
        return out

    def written_by(self, writer: str) -> Version:
        return replace(self, meta=replace(self.meta, writer=writer))


def split(item: Mapping[str, Any] | None) -> tuple[Item, Meta | None]:
    """User attributes and decoded metadata: None when the item carries none, or metadata that
    is not georep's (:func:`foreign` says why) — such an item is a plain client's write."""
    if item is None:
        return {}, None
    attrs = {k: v for k, v in item.items() if k != META}
    raw = item.get(META)
    if raw is None:
        return attrs, None
    try:
        return attrs, decode(raw)
    except MetadataError:
        return attrs, None


def foreign(item: Mapping[str, Any] | None) -> str | None:
    """Why the item's metadata attribute is not georep's (None: absent, or georep's)."""
    raw = None if item is None else item.get(META)
    if raw is None:
        return None
    try:
        decode(raw)
    except MetadataError as exc:
        return str(exc)
    return None


def digest(attrs: Mapping[str, Any]) -> str:
    """A short, representation-independent hash of user attributes (metadata excluded)."""
    canon = {k: canonical(v) for k, v in attrs.items() if k != META}
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=10).hexdigest()


def is_stamped(attrs: Mapping[str, Any], meta: Meta | None) -> bool:
    """True when ``meta`` describes exactly these attributes (no plain write since the stamp)."""
    return meta is not None and meta.digest == digest(attrs)


def key_of(attrs: Mapping[str, Any], key_names: Iterable[str]) -> Item:
    return {k: attrs[k] for k in key_names}


def key_id(key: Item) -> str:
    """A key as one canonical string (binary values in hex): a dict key, a tombstone row's id."""
    return json.dumps(
        {k: {t: (v.hex() if isinstance(v, bytes) else v) for t, v in av.items()}
         for k, av in key.items()},
        sort_keys=True,
    )


def key_of_id(kid: str) -> Item:
    """The key a :func:`key_id` names, binary values as bytes again (what a request needs)."""
    return {k: {t: (bytes.fromhex(v) if t == "B" else v) for t, v in av.items()}
            for k, av in json.loads(kid).items()}


def stamp(
    attrs: Mapping[str, Any],
    base: Meta | None,
    *,
    origin: str,
    ts: Timestamp,
    tie: int = 0,
    writer: str = "client",
    tombstone: bool = False,
) -> Version:
    """A new version written at ``origin`` at HLC ``ts`` by a writer that has seen ``base``."""
    vv: VersionVector = base.vv if base is not None else {}
    meta = Meta(
        hlc=ts.pack(),
        tie=tie,
        origin=origin,
        writer=writer,
        tombstone=tombstone,
        vv=advance(vv, origin, (ts.pack(), tie)),
        digest=digest(attrs),
    )
    return Version(dict(attrs), meta)


MAX_CLOCK_OFFSET_MS = 60_000  # how far ahead of the local clock a seen HLC may be followed


def horizon(meta: Meta | None, *, region: str | None = None, now_ms: int | None = None,
            max_offset_ms: int = MAX_CLOCK_OFFSET_MS) -> Timestamp:
    """The latest HLC a version has seen: its own, or a greater one in its vector (a merge can
    keep a winner older than a write it joined). A write that follows it ticks past this, so its
    own dot is above every dot of its region the version had seen.

    Given the writing ``region`` and its clock (``now_ms``), an HLC more than
    ``max_offset_ms`` ahead of that clock is not followed: the horizon is then the latest HLC
    of ``region``'s own writes the version had seen (enough for the new dot to be above them),
    and the write stays causally after the version (its vector) without dragging the region's
    clock into another region's future (:func:`ahead`)."""
    if meta is None:
        return Timestamp(0, 0)
    top = Timestamp.unpack(max([meta.hlc, *(h for h, _ in meta.vv.values())]))
    if region is None or now_ms is None or top.physical - now_ms <= max_offset_ms:
        return top
    own = [h for r, (h, _) in meta.vv.items() if r == region]
    return Timestamp.unpack(max([*own, meta.hlc if meta.origin == region else 0]))


def ahead(meta: Meta | None, now_ms: int, max_offset_ms: int = MAX_CLOCK_OFFSET_MS) -> bool:
    """The version has seen an HLC further ahead of ``now_ms`` than the maximum offset."""
    return meta is not None and horizon(meta).physical - now_ms > max_offset_ms

