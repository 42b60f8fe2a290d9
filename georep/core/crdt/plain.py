"""What a plain AWS client's write to an item of a ``crdt`` table records in its metadata.

Place in the data flow: :func:`georep.core.records.stamp_plain` calls :func:`plain_crdt` when a
replicator stamps a plain write from its stream record; the crdt policy reads the record
(:func:`record_of`) into the write's CRDT state, with the table's attribute types.

A plain write carries no CRDT state of its own, and stamping cannot know the attribute types, so
its metadata records, from the stream record alone (a replay records the same):

- ``crdt_base``: the state of the last version georep wrote (a write, an apply, a delete) that
  the plain write descends through a chain of plain writes;
- ``crdt_changes``, a :class:`Record` of that chain: for each attribute the chain changed, the
  latest value (or its removal) and the stamp (packed HLC, region) of the write that made it;
  the stamp of the chain's latest live write; and of its latest delete. A change is a
  difference between a write's image and the image it replaced (the base state's values, or
  nothing after a delete, overlaid with the earlier changes), so an attribute a write left
  alone is no change of its own, however many plain writes came before it. A value no CRDT can
  hold (a fractional number, a binary, a set) is kept apart (``shown``): the policy refuses it,
  and it must not hide the attribute's last change that it can apply.

The state is then the base state, plus the changes made before the latest delete, that delete,
and the changes made after it (:meth:`georep.core.crdt_policy.CRDTs.state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..meta import Meta, Version, digest
from ._base import (
    CRDTDecodeError,
    decode_stamp,
    decoding,
    encode_stamp,
    from_av,
    integer,
    kind_of,
    open_envelope,
    to_av,
)
from .item import ItemState, item_state

Stamp = tuple[int, str]  # (packed HLC, region)
Change = tuple[Stamp, dict[str, Any] | None]  # the stamp, and the value (None: removed)


@dataclass(frozen=True)
class Record:
    """A chain of plain writes since the base state: see the module docstring."""

    changes: Mapping[str, Change] = field(default_factory=dict)
    born: Stamp | None = None  # the latest live write of the chain
    died: Stamp | None = None  # the latest delete of the chain
    shown: Mapping[str, Change] = field(default_factory=dict)  # values no CRDT holds

    def encode(self) -> dict[str, Any]:
        out = {"t": {"S": "plain"}, "v": {"N": "1"}, "c": _encode_changes(self.changes)}
        if self.shown:
            out["u"] = _encode_changes(self.shown)
        for name, stamp in (("w", self.born), ("d", self.died)):
            if stamp is not None:
                out[name] = encode_stamp(stamp)
        return {"M": out}

    def image(self, state: ItemState) -> dict[str, Any]:
        """The attributes the chain's latest write showed (the key's aside)."""
        shown = {}
        if self.died is None:
            shown = {attr: to_av(value) for attr, value in state.visible().items()}
        for changes in (self.changes, self.shown):  # a value kept apart is the later one
            for attr, (stamp, av) in changes.items():
                if self.died is not None and stamp < self.died:
                    continue  # made before the chain's delete: deleted with everything else
                if av is None:
                    shown.pop(attr, None)
                else:
                    shown[attr] = av
        return shown


def _encode_changes(changes: Mapping[str, Change]) -> dict[str, Any]:
    rows = {}
    for attr, ((hlc, region), av) in sorted(changes.items()):
        row = [{"N": str(hlc)}, {"S": region}]
        rows[attr] = {"L": row if av is None else [*row, dict(av)]}
    return {"M": rows}


def _decode_changes(av: Any, what: str) -> dict[str, Change]:
    changes: dict[str, Change] = {}
    for attr, row_av in kind_of(av, "M", what).items():
        row = kind_of(row_av, "L", f"{what}[{attr}]")
        if len(row) not in (2, 3):
            raise CRDTDecodeError(f"{what}[{attr}]: expected [hlc, region(, value)]")
        stamp = (integer(row[0], f"{what}[{attr}].hlc", 0),
                 kind_of(row[1], "S", f"{what}[{attr}]"))
        changes[attr] = (stamp, row[2] if len(row) == 3 else None)
    return changes


def record_of(meta: Meta) -> Record | None:
    """The plain write's record, None if it has none; CRDTDecodeError if it is malformed."""
    if meta.crdt_changes is None:
        return None
    with decoding("plain"):
        m = open_envelope(meta.crdt_changes, "plain", ("c",), ("w", "d", "u"))
        born = decode_stamp(m["w"], "w") if "w" in m else None
        died = decode_stamp(m["d"], "d") if "d" in m else None
        shown = _decode_changes(m["u"], "u") if "u" in m else {}
        return Record(_decode_changes(m["c"], "c"), born, died, shown)


def plain_crdt(v: Version, base: Meta | None, *, crdt: bool = False) -> Version:
    """``v``, a plain write stamped as having replaced ``base``, with its CRDT record added.

    ``v`` itself when ``base`` holds no CRDT state and ``crdt`` is false: another policy's
    table, or a write that creates an item on a table not known to be a crdt table (its state
    is then read as if it had replaced nothing)."""
    try:
        if base is not None and base.crdt is not None:
            state_av, record = base.crdt, Record()
        elif base is not None and base.crdt_base is not None:
            state_av, record = base.crdt_base, record_of(base) or Record()
        elif crdt:
            state_av, record = ItemState.new().encode(), Record()
        else:
            return v
        state = item_state(state_av)
    except CRDTDecodeError:
        return v  # damaged metadata: the write counts as one that started from nothing
    m = v.meta
    own = (m.hlc, m.origin)
    if m.tombstone:
        record = Record(record.changes, record.born, own, record.shown)
    else:
        changes, shown = dict(record.changes), dict(record.shown)
        before = record.image(state)
        for attr in sorted(v.attrs.keys() | before.keys()):
            new = v.attrs.get(attr)
            if _same(new, before.get(attr)):
                continue
            shown.pop(attr, None)
            if new is None or _storable(new):
                changes[attr] = (own, new)
            else:
                shown[attr] = (own, new)
        record = Record(changes, own, record.died, shown)
    return Version(v.attrs, replace(m, crdt_base=state_av, crdt_changes=record.encode()))


def _storable(av: Mapping[str, Any]) -> bool:
    try:
        from_av(av)
    except CRDTDecodeError:
        return False
    return True


def _same(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> bool:
    if new is None or old is None:
        return new is old
    return digest({"x": new}) == digest({"x": old})  # representation-independent
