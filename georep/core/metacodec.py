"""The metadata's wire format: one string attribute, versioned, authenticated (pure, no I/O).

Place in the data flow: :mod:`georep.core.meta` stamps versions and splits items; this module
turns a version's :class:`Meta` into the ``_georep`` attribute value and back. Every stream
record the replicator reads is decoded here, so decoding is the hot path: one keyed hash over
the text, one ``json.loads``, no walk over DynamoDB JSON.

Format 3 (written since issue 16) is one ``S`` attribute::

    3 + tomb + writer [+ origin "|" tie(40 digits) "|"] + body + mac

- ``3``: the format. ``tomb``: ``-`` for a tombstone, ``+`` for a live version. ``writer``:
  ``c`` client, ``r`` replicator, ``x`` reconcile, ``s`` stamp. A stamp (the write-back of a
  plain write's metadata) also carries its origin and its tie zero-padded to 40 digits, so a
  DynamoDB condition can ask "a stamp from this region older than this record" with
  ``begins_with`` and ``<`` on the string (:func:`stamp_bounds`); and a filter can ask "a
  tombstone" with ``begins_with(_georep, "3-")`` (:data:`TOMBSTONE_PREFIX`).
- ``body``: compact JSON: ``h`` packed HLC, ``q`` tie, ``o`` origin, ``d`` digest of the user
  attributes, ``v`` version vector (region -> [hlc, tie]); when present ``s`` vclock siblings
  (``[attrs, hlc, tie, origin, tombstone]``), ``c`` the CRDT state, ``b`` and ``p`` a plain
  write's CRDT base state and changes. Attribute values stay DynamoDB JSON; binary values are
  base64 text inside the JSON and bytes again once decoded.
- ``mac``: 22 characters, base64url of a 16-byte BLAKE2b keyed with the lab's secret over
  everything before it. It is checked before the body is parsed, so text a plain client wrote
  is never parsed at all (a forged body, a deeply nested one) and reads as no metadata.

Why one string: moto (and DynamoDB's own size rules) pay per nested attribute. The nested map
of format 2 made stream reads about 3 times and scans about 4 times slower than on the same
items without metadata; a string is one value (measured in ``bench/replication.py``).

Format 2 (a map ``{"v": 2, "h": .., "a": mac, ...}``, written before issue 16) is still read,
with its own keyed hash, so items written by an older georep keep their history; georep writes
format 3 from the next version of the item on. Format 1 (unauthenticated) reads as a plain
client's write, as it did before.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from .causality import Dot
from .hlc import Timestamp

META = "_georep"  # the one attribute
FORMAT = 3
LEGACY_FORMAT = 2  # the nested map: read, never written
MAX_HLC = (1 << 64) - 1  # a packed HLC: 48 bits of milliseconds, 16 of logical counter
MAX_TIE = 10**40 - 1  # a tie is at most a stream sequence number (up to 40 digits)
TIE_DIGITS = 40
WRITERS = ("client", "replicator", "reconcile", "stamp")
_CODE = {"client": "c", "replicator": "r", "reconcile": "x", "stamp": "s"}
_WRITER = {c: w for w, c in _CODE.items()}
TOMBSTONE_PREFIX = f"{FORMAT}-"
_MAC_LEN = 22  # base64url of 16 bytes, unpadded
_PROCESS_SECRET = secrets.token_bytes(32)  # the default: labs of one process share it
_SECRET: contextvars.ContextVar[bytes] = contextvars.ContextVar("georep_meta_secret")


class MetadataError(ValueError):
    """The reserved attribute is present but malformed."""


class _Ranked:
    """The dot and the last-writer-wins rank of a version or a sibling (``hlc``, ``tie`` and
    ``origin`` are the dataclass's fields)."""

    __slots__ = ()

    @property
    def dot(self) -> Dot:
        return (self.hlc, self.tie)  # type: ignore[attr-defined]

    @property
    def rank(self) -> tuple[int, int, str]:
        """Total order used by last-writer-wins: HLC, then tie, then origin region."""
        return (self.hlc, self.tie, self.origin)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Sibling(_Ranked):
    """One of several concurrent values kept by the vclock policy (attrs as attribute values)."""

    attrs: Mapping[str, Any]
    hlc: int
    tie: int
    origin: str
    tombstone: bool = False


@dataclass(frozen=True, slots=True)
class Meta(_Ranked):
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
    def timestamp(self) -> Timestamp:
        return Timestamp.unpack(self.hlc)


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


def _key() -> bytes:
    return _SECRET.get(_PROCESS_SECRET)[:64]


def _mac(text: str) -> str:
    raw = hashlib.blake2b(text.encode(), digest_size=16, key=_key()).digest()
    return base64.urlsafe_b64encode(raw).decode()[:_MAC_LEN]


def stamp_prefix(origin: str) -> str:
    """How every stamp written back at ``origin`` begins."""
    return f"{FORMAT}+{_CODE['stamp']}{origin}|"


def stamp_bounds(origin: str, seq: int) -> tuple[str, str]:
    """``(prefix, upper)``: metadata ``m`` is a stamp from ``origin`` with a tie below ``seq``
    exactly when ``begins_with(m, prefix) AND m < upper`` (as DynamoDB compares strings)."""
    prefix = stamp_prefix(origin)
    return prefix, prefix + str(seq).zfill(TIE_DIGITS)


def encode(meta: Meta) -> dict[str, Any]:
    """The ``_georep`` attribute value of ``meta`` (format 3: one ``S``)."""
    head = f"{FORMAT}{'-' if meta.tombstone else '+'}{_CODE[meta.writer]}"
    if meta.writer == "stamp":
        if "|" in meta.origin or "{" in meta.origin:  # never in a region name (config)
            raise ValueError(f"region name {meta.origin!r} cannot head a stamp")
        head += f"{meta.origin}|{str(meta.tie).zfill(TIE_DIGITS)}|"
    body: dict[str, Any] = {"h": meta.hlc, "q": meta.tie, "o": meta.origin, "d": meta.digest,
                            "v": {r: [h, q] for r, (h, q) in sorted(meta.vv.items())}}
    if meta.siblings:
        body["s"] = [[dict(s.attrs), s.hlc, s.tie, s.origin, int(s.tombstone)]
                     for s in meta.siblings]
    for field, value in (("c", meta.crdt), ("b", meta.crdt_base), ("p", meta.crdt_changes)):
        if value is not None:
            body[field] = dict(value)
    text = head + _dumps(body)
    return {"S": text + _mac(text)}


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except TypeError:  # binary attribute values: base64 text inside the JSON
        return json.dumps(_texts(value), separators=(",", ":"), ensure_ascii=False)


def _texts(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _texts(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_texts(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    inner = getattr(value, "value", None)  # boto3's Binary
    if isinstance(inner, bytes | bytearray):
        return base64.b64encode(inner).decode()
    return value


def _binaries(value: Any) -> Any:
    """Undo :func:`_texts` at attribute-value positions: ``{"B": text}`` and ``{"BS": [text]}``
    (no other JSON georep writes is a one-entry map to a string or a list of strings)."""
    if isinstance(value, dict):
        if len(value) == 1:
            (kind, inner), = value.items()
            if kind == "B" and isinstance(inner, str):
                return {"B": base64.b64decode(inner)}
            if kind == "BS" and isinstance(inner, list) and all(isinstance(x, str) for x in inner):
                return {"BS": [base64.b64decode(x) for x in inner]}
        return {k: _binaries(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_binaries(v) for v in value]
    return value


def encoded_size(attrs: Mapping[str, Any]) -> int:
    """Bytes that attribute values take inside the metadata string (vclock siblings, CRDT
    state): their DynamoDB JSON as UTF-8, binary as base64."""
    return len(_dumps(dict(attrs)).encode())


def decode(value: Mapping[str, Any]) -> Meta:
    """The metadata georep wrote; MetadataError for anything else (malformed, another format,
    or not authenticated with the lab's secret)."""
    try:
        if "M" in value:
            return _decode_map(value["M"])  # format 2: read, never written
        text = value["S"]
        if not isinstance(text, str) or len(text) < 3 + _MAC_LEN:
            raise MetadataError(f"malformed {META} attribute: too short")
        if text[0] != str(FORMAT):
            raise MetadataError(f"unsupported metadata format {text[0]!r}")
        signed, mac = text[:-_MAC_LEN], text[-_MAC_LEN:]
        if not hmac.compare_digest(mac, _mac(signed)):  # before parsing: only georep's text
            raise MetadataError("metadata not written by this lab (authentication failed)")
        return _parse(signed)
    except MetadataError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        raise MetadataError(f"malformed {META} attribute: {exc!r}") from exc


def _parse(signed: str) -> Meta:
    if signed[1] not in "+-" or signed[2] not in _WRITER:
        raise MetadataError(f"malformed {META} attribute: header {signed[:3]!r}")
    body_text = signed[3 if signed[2] != "s" else signed.index("{", 3):]
    body = json.loads(body_text)
    if '"B' in body_text:
        body = _binaries(body)
    vv = {r: (bounded(h, MAX_HLC), bounded(q, MAX_TIE)) for r, (h, q) in body["v"].items()}
    return Meta(
        hlc=bounded(body["h"], MAX_HLC), tie=bounded(body["q"], MAX_TIE), origin=body["o"],
        writer=_WRITER[signed[2]], tombstone=signed[1] == "-", vv=vv, digest=body["d"],
        siblings=tuple(Sibling(a, h, q, o, bool(t)) for a, h, q, o, t in body["s"])
        if "s" in body else (),
        crdt=body.get("c"), crdt_base=body.get("b"), crdt_changes=body.get("p"))


def _decode_map(m: Mapping[str, Any]) -> Meta:
    """Format 2: a nested map, its keyed hash over the canonical form of every other field."""
    if m["v"]["N"] != str(LEGACY_FORMAT):
        raise MetadataError(f"unsupported metadata format {m['v']['N']}")
    vv = {}
    for region, dot in m["vv"]["M"].items():
        h, q = dot["L"]
        vv[region] = (bounded(h["N"], MAX_HLC), bounded(q["N"], MAX_TIE))
    writer = m["w"]["S"]
    if writer not in WRITERS:
        raise MetadataError(f"unknown writer kind {writer!r}")
    meta = Meta(
        hlc=bounded(m["h"]["N"], MAX_HLC), tie=bounded(m["q"]["N"], MAX_TIE),
        origin=m["o"]["S"], writer=writer, tombstone=bool(m["t"]["BOOL"]), vv=vv,
        digest=m["d"]["S"],
        siblings=tuple(
            Sibling(x["M"]["a"]["M"], int(x["M"]["h"]["N"]), int(x["M"]["q"]["N"]),
                    x["M"]["o"]["S"], bool(x["M"]["t"]["BOOL"]))
            for x in m["s"]["L"]) if "s" in m else (),
        crdt=m.get("c"), crdt_base=m.get("b"), crdt_changes=m.get("p"))
    canon = {k: canonical(v) for k, v in m.items() if k != "a"}
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    seal = hashlib.blake2b(blob, digest_size=16, key=_key()).hexdigest()
    if not hmac.compare_digest(str(m["a"]["S"]), seal):  # last: errors name a field
        raise MetadataError("metadata not written by this lab (authentication failed)")
    return meta


def bounded(n: Any, top: int) -> int:
    """``n`` as an int in [0, top]; MetadataError otherwise."""
    value = int(n)
    if not 0 <= value <= top:
        raise MetadataError(f"value out of range: {n}")
    return value


def canonical(value: Any) -> Any:
    """An attribute value in a representation-independent form (numbers normalised, sets
    sorted, binary as base64), for digests and format 2's keyed hash."""
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
        return ["M", {k: canonical(x) for k, x in v.items()}]
    if kind == "L":
        return ["L", [canonical(x) for x in v]]
    return [kind, v]


_NUMBERS = Context(prec=48)  # DynamoDB numbers have up to 38 significant digits: never round


def _number(text: str) -> str:
    n = Decimal(text).normalize(_NUMBERS)
    return "0" if n.is_zero() else format(n, "f")


def _b64(v: bytes | str) -> str:
    return base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
