"""DynamoDB's size limits, checked before georep writes anything (pure, no I/O).

Place in the data flow: the first step of georep's write path (``RegionWriter.put`` and
``update``), so the CLI and the Python API refuse the same writes, with one line, before any
request. A write the region would refuse fails there; a write the region would take but a
replica could not (its copy carries a replicator's metadata, which grows with the version
vector) would be stuck in a dead-letter queue forever. So the budget for the user's item is
DynamoDB's 400 KB minus room for georep's metadata, and on a ``crdt`` table, where the CRDT
state keeps a second copy of every value, each value counts twice: the second time as the
JSON it takes inside the metadata string (:func:`georep.core.metacodec.encoded_size`), plus
room for each attribute's register.

Sizes follow DynamoDB's rules (attribute names and strings as UTF-8 bytes, binary as bytes,
1 byte for a boolean or null, 3 bytes plus 1 per element for a list or map) and count a number
as its text, which is never less than DynamoDB's own count (1 byte per 2 digits, plus 1) and
equals moto's. Values are DynamoDB JSON (``{"S": "x"}``), the form the write path holds.

A key also names rows georep keeps outside the user's table: a deleted key's tombstone row and
a plain write's stamp, ``"tomb|<table>|<key as JSON>"``, themselves DynamoDB hash keys of at
most 2,048 bytes; so the key, as JSON, must fit in that too.

Not bounded here: what a merge joins into one item. The vclock policy keeps only the newest
siblings that fit (:func:`georep.core.policy._fitting`, the rest are losers in the feed); a crdt
item's concurrent register values are kept whole, and a merge too large for the item is
refused by the region (the replicator dead-letters it, reconcile reports it under ``failed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import LabError
from .metacodec import encoded_size

ITEM_MAX = 400_000  # DynamoDB: 400 KB (moto refuses above 405,000 by its own count)
META_ROOM = 4_096  # for georep's metadata: stamp, origin, writer, digest, a vector of regions
HASH_KEY_MAX = 2_048
RANGE_KEY_MAX = 1_024
CRDT_ATTR_ROOM = 224  # measured: a register's envelope, stamp and reset stamp in the CRDT
# state's JSON with a 32-character region name (the estimate before any read: check_item
# measures the encoded state itself)
VECTOR_ROOM = 1_024  # a replica's copy of an item may carry a longer version vector
ROW_ID_MAX = 2_048  # the hash key of georep's tombstone and stamp rows
ROW_ID_PREFIX = len("stamp||")  # the longest row prefix: "stamp|" + table + "|"


class LimitError(LabError):
    """A write beyond DynamoDB's limits (or beyond what leaves room for georep's metadata)."""


def _raw(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    inner = getattr(value, "value", None)  # boto3's Binary
    return len(inner) if isinstance(inner, bytes | bytearray) else len(str(value).encode())


def size_of(av: Mapping[str, Any]) -> int:
    """The size of one attribute value, in bytes, as DynamoDB counts it (see the module)."""
    (kind, value), = av.items()
    if kind in ("S", "N", "B"):
        return _raw(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_raw(v) for v in value)
    if kind == "L":
        return 3 + sum(1 + size_of(v) for v in value)
    if kind == "M":
        return 3 + sum(1 + _raw(k) + size_of(v) for k, v in value.items())
    raise LimitError(f"unknown attribute value type {kind!r}")


def item_size(attrs: Mapping[str, Mapping[str, Any]]) -> int:
    """The size of an item: each attribute's name and value."""
    return sum(_raw(name) + size_of(av) for name, av in attrs.items())


def check_write(table, key: Mapping[str, Any], values: Mapping[str, Any], key_id: str) -> None:
    """Refuse (LimitError) a write of ``values`` at ``key`` (both DynamoDB JSON) to ``table``
    (a :class:`georep.config.Table`) that DynamoDB, or a replica, could not store. ``key_id``:
    the key as georep's rows name it (:func:`georep.engine.apply.key_id`)."""
    where = f"table {table.name}"
    for attr, top, what in ((table.hash_key, HASH_KEY_MAX, "hash key"),
                            (table.range_key, RANGE_KEY_MAX, "range key")):
        if attr is not None and attr.name in key:
            n = size_of(key[attr.name])
            if n > top:
                raise LimitError(f"{where}: {what} {attr.name!r} is {n:,} bytes; DynamoDB "
                                 f"allows at most {top:,}; nothing was written")
    row = ROW_ID_PREFIX + _raw(table.name) + _raw(key_id)
    if row > ROW_ID_MAX:
        raise LimitError(f"{where}: the key is too long for georep: as the id of its tombstone "
                         f"row it takes {row:,} bytes, at most {ROW_ID_MAX:,} (shorten it by "
                         f"{row - ROW_ID_MAX:,}); nothing was written")
    size = item_size({**values, **key})
    twice = table.policy == "crdt"
    if twice:  # the CRDT state, inside the metadata string: values as JSON, and per attribute
        size += encoded_size(values) + CRDT_ATTR_ROOM * len(values)  # a register's stamps
    budget = ITEM_MAX - META_ROOM
    if size > budget:
        why = " (a crdt table stores every value twice: in the item and in its CRDT state)" \
            if twice else ""
        raise LimitError(f"{where}: the item is {size:,} bytes{why}; DynamoDB holds at most "
                         f"{ITEM_MAX:,} bytes per item and georep keeps {META_ROOM:,} for its "
                         f"metadata, so at most {budget:,}; nothing was written")


def check_item(table, item: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse (LimitError) an encoded item (metadata included) that leaves DynamoDB no room for
    its version vector to grow: the exact check of a crdt write, whose CRDT state's size in the
    metadata string only its encoding tells."""
    size = item_size(item)
    budget = ITEM_MAX - VECTOR_ROOM
    if size > budget:
        raise LimitError(f"table {table.name}: the item with its CRDT state is {size:,} bytes; "
                         f"DynamoDB holds at most {ITEM_MAX:,} bytes per item and georep keeps "
                         f"{VECTOR_ROOM:,} for its version vector, so at most {budget:,}; "
                         "nothing was written")
