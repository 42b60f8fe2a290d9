"""Item metadata: the one reserved attribute every version georep writes carries.

Place in the data flow: the write path stamps it, the replicator reads it from stream images to
tell local writes from replicated ones, and the apply step hands the decoded versions to the
table's conflict policy. Items travel in DynamoDB's low-level JSON (``{"S": "x"}``), so nothing
is deserialized on the replication hot path.

The attribute ``_georep`` is a map::

    v   format version (1)            w   writer: client | replicator | reconcile | stamp
    h   packed HLC of this version    t   tombstone flag
    q   tie (see causality.Dot)       d   digest of the user attributes it stamps
    o   origin region                 vv  version vector: region -> [hlc, tie]
    s   vclock: siblings              c   crdt: the item's CRDT state
    b   crdt, a plain write: base state  p   crdt, a plain write: its changes since that state

The digest lets a reader notice that a plain AWS client changed the attributes after georep
stamped them (the metadata is then stale: the item is *unstamped*).

    a   authentication: a keyed hash (BLAKE2b, the lab's secret) over every other field

Only georep holds the secret, so metadata a plain client wrote itself (malformed, forged with
writer ``replicator``, a version vector or an HLC from the future) fails authentication and
reads as *no* metadata: :func:`split` returns None for it, and the replicator stamps the item
as the plain client's write it is (:func:`foreign` says why, for the counters). The secret is
per context (:func:`use_secret`): a process-wide random one unless the lab sets its own (the
live lab derives it from its token, so every process of one lab agrees).
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Context, Decimal
from typing import Any

from .causality import Dot, VersionVector, advance
from .hlc import Timestamp

META = "_georep"
FORMAT = 2  # 2: authenticated (field a); items of format 1 read as a plain client's writes
MAX_HLC = (1 << 64) - 1  # a packed HLC: 48 bits of milliseconds, 16 of logical counter
MAX_TIE = 10**40 - 1  # a tie is at most a stream sequence number (up to 40 digits)
_PROCESS_SECRET = secrets.token_bytes(32)  # the default: labs of one process share it
_SECRET: contextvars.ContextVar[bytes] = contextvars.ContextVar("georep_meta_secret")
WRITERS = ("client", "replicator", "reconcile", "stamp")
# Writers whose versions never replicate: applies, reconcile's repairs, and the write-back of a
# plain write's stamp (which changes only the metadata of the item it lands on).
NON_LOCAL_WRITERS = frozenset({"replicator", "reconcile", "stamp"})

Item = dict[str, Any]  # DynamoDB low-level JSON: attribute name -> AttributeValue


class MetadataError(ValueError):
    """The reserved attribute is present but malformed."""


@dataclass(frozen=True, slots=True)
class Sibling:
    """One of several concurrent values kept by the vclock policy (attrs as attribute values)."""

    attrs: Mapping[str, Any]
    hlc: int
    tie: int
    origin: str
    tombstone: bool = False

    @property
    def dot(self) -> Dot:
        return (self.hlc, self.tie)

    @property
    def rank(self) -> tuple[int, int, str]:
        return (self.hlc, self.tie, self.origin)


@dataclass(frozen=True, slots=True)
class Meta:
    hlc: int
    tie: int
    origin: str
    writer: str
    tombstone: bool
    vv: Mapping[str, Dot]
    digest: str
    siblings: tuple[Sibling, ...] = ()  # vclock: every concurrent value, this one included
    crdt: Mapping[str, Any] | None = None  # crdt policy: the item's CRDT state, encoded
    # crdt policy, a plain client's write (georep.core.crdt.plain.plain_crdt): the state of
    # the last version georep wrote that it descends from, and the attribute changes that plain
    # writes made since, its own included (attribute -> stamp and value, encoded)
    crdt_base: Mapping[str, Any] | None = None
    crdt_changes: Mapping[str, Any] | None = None

    @property
    def dot(self) -> Dot:
        return (self.hlc, self.tie)

    @property
    def rank(self) -> tuple[int, int, str]:
        """Total order used by last-writer-wins: HLC, then tie, then origin region."""
        return (self.hlc, self.tie, self.origin)

    @property
    def timestamp(self) -> Timestamp:
        return Timestamp.unpack(self.hlc)


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


def encode(meta: Meta) -> dict[str, Any]:
    vv = {r: {"L": [{"N": str(h)}, {"N": str(q)}]} for r, (h, q) in sorted(meta.vv.items())}
    out = {
        "v": {"N": str(FORMAT)},
        "h": {"N": str(meta.hlc)},
        "q": {"N": str(meta.tie)},
        "o": {"S": meta.origin},
        "w": {"S": meta.writer},
        "t": {"BOOL": meta.tombstone},
        "d": {"S": meta.digest},
        "vv": {"M": vv},
    }
    if meta.siblings:
        out["s"] = {"L": [{"M": {"a": {"M": dict(s.attrs)}, "h": {"N": str(s.hlc)},
                                 "q": {"N": str(s.tie)}, "o": {"S": s.origin},
                                 "t": {"BOOL": s.tombstone}}} for s in meta.siblings]}
    if meta.crdt is not None:
        out["c"] = dict(meta.crdt)
    if meta.crdt_base is not None:
        out["b"] = dict(meta.crdt_base)
    if meta.crdt_changes is not None:
        out["p"] = dict(meta.crdt_changes)
    out["a"] = {"S": _seal(out)}
    return {"M": out}


def use_secret(secret: bytes, *, process: bool = False) -> None:
    """Authenticate metadata with ``secret`` in this context (and the tasks it starts), or,
    with ``process``, wherever no context chose one (a process that serves one lab)."""
    global _PROCESS_SECRET
    if len(secret) < 16:
        raise ValueError("a metadata secret needs at least 16 bytes")
    if process:
        _PROCESS_SECRET = bytes(secret)
    else:
        _SECRET.set(bytes(secret))


def _seal(fields: Mapping[str, Any]) -> str:
    """The keyed hash of the metadata's fields (every one but ``a``), representation-
    independent like :func:`digest`."""
    canon = {k: _canonical(v) for k, v in fields.items() if k != "a"}
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=16, key=_SECRET.get(_PROCESS_SECRET)[:64]).hexdigest()


def decode(value: Mapping[str, Any]) -> Meta:
    """The metadata georep wrote; MetadataError for anything else (malformed, another format,
    or not authenticated with the lab's secret)."""
    try:
        m = value["M"]
        if m["v"]["N"] != str(FORMAT):
            raise MetadataError(f"unsupported metadata format {m['v']['N']}")
        vv = {}
        for region, dot in m["vv"]["M"].items():
            h, q = dot["L"]
            vv[region] = (_bounded(h["N"], MAX_HLC), _bounded(q["N"], MAX_TIE))
        writer = m["w"]["S"]
        if writer not in WRITERS:
            raise MetadataError(f"unknown writer kind {writer!r}")
        meta = Meta(
            hlc=_bounded(m["h"]["N"], MAX_HLC),
            tie=_bounded(m["q"]["N"], MAX_TIE),
            origin=m["o"]["S"],
            writer=writer,
            tombstone=bool(m["t"]["BOOL"]),
            vv=vv,
            digest=m["d"]["S"],
            siblings=tuple(
                Sibling(x["M"]["a"]["M"], int(x["M"]["h"]["N"]), int(x["M"]["q"]["N"]),
                        x["M"]["o"]["S"], bool(x["M"]["t"]["BOOL"]))
                for x in m["s"]["L"]) if "s" in m else (),
            crdt=m.get("c"),
            crdt_base=m.get("b"),
            crdt_changes=m.get("p"),
        )
        if not hmac.compare_digest(str(m["a"]["S"]), _seal(m)):  # last: errors name a field
            raise MetadataError("metadata not written by this lab (authentication failed)")
        return meta
    except MetadataError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MetadataError(f"malformed {META} attribute: {exc!r}") from exc


def _bounded(text: str, top: int) -> int:
    n = int(text)
    if not 0 <= n <= top:
        raise MetadataError(f"value out of range: {text}")
    return n


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


def _canonical(value: Any) -> Any:
    (kind, v), = value.items()
    if kind == "N":
        return ["N", _number(v)]
    if kind == "NS":
        return ["NS", sorted(_number(x) for x in v)]
    if kind == "SS":
        return ["SS", sorted(v)]
    if kind == "B":
        return ["B", _b64(v)]
    if kind == "BS":
        return ["BS", sorted(_b64(x) for x in v)]
    if kind == "M":
        return ["M", {k: _canonical(x) for k, x in v.items()}]
    if kind == "L":
        return ["L", [_canonical(x) for x in v]]
    return [kind, v]


_NUMBERS = Context(prec=48)  # DynamoDB numbers have up to 38 significant digits: never round


def _number(text: str) -> str:
    n = Decimal(text).normalize(_NUMBERS)
    return "0" if n.is_zero() else format(n, "f")


def _b64(v: bytes | str) -> str:
    return base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v


def digest(attrs: Mapping[str, Any]) -> str:
    """A short, representation-independent hash of user attributes (metadata excluded)."""
    canon = {k: _canonical(v) for k, v in attrs.items() if k != META}
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

