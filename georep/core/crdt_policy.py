"""The crdt policy: an item is a map of per-attribute CRDTs, and versions merge, never lose.

Place in the data flow: the table's policy when ``policy = "crdt"``. The write path updates the
item's CRDT map (the local region is the actor) and stores it, encoded, in the metadata; the
replicator merges the incoming map with the destination's. The visible attributes are the map's
values, so a plain AWS client reads plain numbers, lists and strings.

Attribute types come from the table config (``crdt = {balance = "bcounter", ...}``); an
undeclared attribute is an LWW register. A write by a plain AWS client carries no CRDT state: its
attributes count as LWW-register assignments at its stamp. For an attribute declared as another
type (a counter, a set) such a value cannot be merged; it is reported as a lost value in the
conflict feed, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .causality import Order, compare, join
from .crdt import REGISTRY, CRDTMap, LWWRegister
from .crdt._base import from_av, to_av
from .meta import Meta, Version, digest
from .policy import Conflict, Merge

REGISTER = LWWRegister.TYPE


def check_types(types: Mapping[str, str]) -> None:
    for attr, kind in types.items():
        if kind not in REGISTRY or kind == CRDTMap.TYPE:
            known = ", ".join(sorted(k for k in REGISTRY if k != CRDTMap.TYPE))
            raise ValueError(f"attribute {attr!r}: unknown CRDT type {kind!r} (known: {known})")


def values_of(state: CRDTMap, key: Mapping[str, Any]) -> dict[str, Any]:
    """The item's visible attributes: the key plus each CRDT's value as an attribute value."""
    out = dict(key)
    for attr, value in sorted(state.value().items()):
        if attr not in out:
            out[attr] = to_av(value)
    return out


class CRDTs:
    name = "crdt"

    def __init__(self, types: Mapping[str, str] | None = None, key_names=("id",)) -> None:
        self.types = dict(types or {})
        check_types(self.types)
        self.key_names = tuple(key_names)

    def type_of(self, attr: str) -> str:
        return self.types.get(attr, REGISTER)

    def state(self, v: Version) -> tuple[CRDTMap, list[str]]:
        """The version's CRDT map, and the attributes a plain write set that cannot merge.

        A version written by georep carries its map; a plain-client version is read as LWW
        assignments of its attributes at its stamp.
        """
        if v.meta.crdt is not None:
            return CRDTMap.decode(v.meta.crdt), []
        state, refused = CRDTMap.new(), []
        for attr, av in sorted(v.attrs.items()):
            if attr in self.key_names:
                continue
            if self.type_of(attr) != REGISTER:
                refused.append(attr)
                continue
            value = from_av(av)
            state = state.update(attr, REGISTER, lambda r, value=value: r.assign(
                v.meta.origin, value, v.meta.hlc))
        return state, refused

    def version(self, base: Version, state: CRDTMap, vv) -> Version:
        key = {k: base.attrs[k] for k in self.key_names if k in base.attrs}
        attrs = values_of(state, key)
        meta = replace(base.meta, writer="replicator", vv=vv, crdt=state.encode(),
                       digest=digest(attrs), siblings=())
        return Version(attrs, meta)

    def merge(self, current: Version | None, incoming: Version) -> Merge:
        if current is None:
            state, refused = self.state(incoming)
            if not refused and incoming.meta.crdt is not None:
                return Merge(incoming)
            merged = self.version(incoming, state, incoming.meta.vv)
            return Merge(merged, self._refusal(merged, incoming, refused))
        order = compare(incoming.meta.vv, current.meta.vv)
        if order in (Order.EQUAL, Order.BEFORE):
            return Merge(None)
        if order is Order.AFTER and incoming.meta.tombstone:
            return Merge(incoming)  # a delete that has seen the item
        if incoming.meta.tombstone or current.meta.tombstone:
            # A delete concurrent with an update: the update wins (add-wins), the delete is
            # reported as lost.
            dead, live = (incoming, current) if incoming.meta.tombstone else (current, incoming)
            state, _ = self.state(live)
            merged = self.version(live, state, join(current.meta.vv, incoming.meta.vv))
            return Merge(merged, Conflict(self.name, merged, (dead,)))
        mine, _ = self.state(current)
        theirs, refused = self.state(incoming)
        lost = [a for a in refused
                if from_av(incoming.attrs[a]) != mine.value().get(a)]
        top = incoming if incoming.meta.rank > current.meta.rank else current
        merged = self.version(top, mine.merge(theirs), join(current.meta.vv, incoming.meta.vv))
        if order is Order.AFTER and not lost:
            return Merge(merged)
        if lost:
            return Merge(merged, self._refusal(merged, incoming, lost))
        return Merge(merged, Conflict(self.name, merged, (), (current, incoming)))

    def _refusal(self, merged: Version, incoming: Version, attrs: list[str]) -> Conflict | None:
        if not attrs:
            return None
        kept = {k: incoming.attrs[k] for k in self.key_names if k in incoming.attrs}
        lost = Version({**kept, **{a: incoming.attrs[a] for a in attrs}},
                       Meta(incoming.meta.hlc, incoming.meta.tie, incoming.meta.origin,
                            incoming.meta.writer, incoming.meta.tombstone, incoming.meta.vv,
                            incoming.meta.digest))
        return Conflict(self.name, merged, (lost,))


COUNTERS = ("gcounter", "pncounter", "bcounter")


def register_value(value: Any) -> Any:
    """A value a register can hold: Decimals (from DynamoDB or the CLI) become ints, or
    strings when they are not whole (registers store JSON-like values, never floats)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: register_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [register_value(v) for v in value]
    return value


def apply_ops(state: CRDTMap, ops: list[tuple[str, str, Any]], *, actor: str, ts: int,
              types: Mapping[str, str]) -> CRDTMap:
    """Apply client operations to an item's CRDT map, with ``actor`` as the local region.

    ``op`` is ``+=`` (increment, set add), ``-=`` (decrement, set remove), ``=`` (register
    assign) or ``rights`` (bounded counter: ``value`` is ``(to_region, n)``). Raises
    ValueError (InsufficientRights for a bounded counter) naming the attribute.
    """
    for attr, op, value in ops:
        try:
            state = _apply_one(state, attr, op, value, actor, ts, types.get(attr, REGISTER))
        except ValueError as exc:
            raise ValueError(f"{attr} ({types.get(attr, REGISTER)}): {exc}") from None
    return state


def _apply_one(state: CRDTMap, attr: str, op: str, value: Any, actor: str, ts: int,
               kind: str) -> CRDTMap:
    if op == "=":
        if kind == REGISTER:
            state = state.update(attr, kind, lambda r, v=value: r.assign(actor, v, ts))
        elif kind == "mvregister":
            state = state.update(attr, kind, lambda r, v=value: r.assign(actor, v))
        else:
            raise ValueError("cannot be assigned; use += or -=")
    elif op in ("+=", "-="):
        if kind in COUNTERS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{op} takes a positive whole number, not {value!r}")
            if op == "-=" and kind == "gcounter":
                raise ValueError("a grow-only counter cannot be decremented")
            method = "increment" if op == "+=" else "decrement"
            state = state.update(attr, kind,
                                 lambda c, m=method, n=value: getattr(c, m)(actor, n))
        elif kind == "orset":
            if op == "+=":
                state = state.update(attr, kind, lambda s, e=value: s.add(actor, e))
            else:
                state = state.update(attr, kind, lambda s, e=value: s.remove(e))
        else:
            raise ValueError(f"a register is assigned with =, not {op}")
    elif op == "rights":
        if kind != "bcounter":
            raise ValueError("only a bounded counter (bcounter) has rights to transfer")
        to, n = value
        state = state.update(attr, kind, lambda c, to=to, n=n: c.transfer(actor, to, n))
    else:
        raise ValueError(f"unknown operation {op!r}")
    return state
