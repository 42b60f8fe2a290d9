"""The crdt policy: an item is a map of per-attribute CRDTs, and versions merge, never lose.

Place in the data flow: the table's policy when ``policy = "crdt"``. The write path updates the
item's state (:class:`georep.core.crdt.ItemState`; the local region is the actor) and stores it,
encoded, in the metadata; the replicator merges the incoming state with the destination's. The
visible attributes are the state's values, so a plain AWS client reads plain numbers, lists and
strings.

Attribute types come from the table config (``crdt = {balance = "bcounter", ...}``); an
undeclared attribute is an LWW register.

**Plain-client writes.** A write by a plain AWS client carries no CRDT state of its own. Its state
is the state of the version it replaced plus, at the plain write's stamp, an LWW-register
assignment of each register attribute whose value it changed (the replicator records both from
the stream record: :mod:`georep.core.crdt.plain`); a register attribute it removed is *unset* at
that stamp (a removal is an assignment of "absent": an assignment with a later stamp wins over
it, an earlier one loses). Attributes it left as they were change nothing. A changed value of a
counter, set or MV-register attribute (or a value no register can hold: a fractional number, a
binary, a DynamoDB set) cannot merge: it is refused, the state keeps what it had, and the value
is reported as lost in the conflict feed (``null`` for a removal), by that write only. All of
it depends only on the stream record, so a replayed record stamps and merges identically.

**Deletes** (georep's, or a plain DeleteItem) are observed resets: the tombstone keeps the whole
state (no region's entry shrinks) and records what it observed; counters count from that
baseline, sets and MV-registers drop the values it saw, and LWW registers are removed at the
delete's stamp. An update concurrent with the delete keeps what the delete did not observe (a
concurrent increment survives, and revives the item); the feed records such a merge with both
versions as merged siblings and no loser. A re-create after a delete starts from the reset: +10,
delete, +3 reads 3. See :mod:`georep.core.crdt.item` and, for the bounded counter's rights after a
reset, :mod:`georep.core.crdt.bcounter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .causality import Order, compare, join
from .crdt import REGISTRY, CRDTDecodeError, CRDTMap, ItemState, LWWRegister, item_state
from .crdt._base import canonical, from_av, to_av
from .crdt.plain import Change, Record, record_of
from .meta import Meta, Version, digest
from .policy import Conflict, Merge

REGISTER = LWWRegister.TYPE
ATTRIBUTE_TYPES = frozenset(REGISTRY) - {CRDTMap.TYPE, ItemState.TYPE}
_ABSENT = object()  # an attribute the item does not have
_UNREADABLE = object()  # a value no CRDT holds (a fractional number, a binary, a set)


def check_types(types: Mapping[str, str]) -> None:
    for attr, kind in types.items():
        if kind not in ATTRIBUTE_TYPES:
            known = ", ".join(sorted(ATTRIBUTE_TYPES))
            raise ValueError(f"attribute {attr!r}: unknown CRDT type {kind!r} (known: {known})")


def values_of(state: ItemState | CRDTMap, key: Mapping[str, Any]) -> dict[str, Any]:
    """The item's visible attributes: the key plus each present CRDT's value as an attribute
    value (the key alone for a deleted item)."""
    out = dict(key)
    for attr, value in ItemState.of(state).visible().items():
        if attr not in out:
            out[attr] = to_av(value)
    return out


def _plain_value(attrs: Mapping[str, Any], attr: str) -> Any:
    if attr not in attrs:
        return _ABSENT
    try:
        return from_av(attrs[attr])
    except CRDTDecodeError:
        return _UNREADABLE


def _same(new: Any, old: Any) -> bool:
    if new is _UNREADABLE or old is _UNREADABLE:
        return False
    if new is _ABSENT or old is _ABSENT:
        return new is old
    return canonical(new) == canonical(old)


class CRDTs:
    name = "crdt"

    def __init__(self, types: Mapping[str, str] | None = None, key_names=("id",)) -> None:
        self.types = dict(types or {})
        check_types(self.types)
        self.key_names = tuple(key_names)

    def type_of(self, attr: str) -> str:
        return self.types.get(attr, REGISTER)

    def state(self, v: Version) -> tuple[ItemState, list[str]]:
        """The version's item state, and the attributes a plain write changed that cannot merge.

        A version georep wrote carries its state; a plain-client version is read from its
        record (:mod:`georep.core.crdt.plain`), as the module docstring says.
        """
        m = v.meta
        own = (m.hlc, m.origin)
        try:
            if m.crdt is not None:
                return item_state(m.crdt), []
            base = item_state(m.crdt_base) if m.crdt_base is not None else ItemState.new()
            record = record_of(m)
        except CRDTDecodeError:
            # Metadata georep did not write (forged, or damaged): the version counts as a plain
            # write that started from nothing, never as a reason to stop a replicator.
            base, record = ItemState.new(), None
        if record is None:  # nothing recorded (a new item): each attribute is a change
            changes = {} if m.tombstone else {attr: (own, av) for attr, av in v.attrs.items()}
            record = Record(changes, None if m.tombstone else own, own if m.tombstone else None)
        return self._replay(base, record, own)

    def _replay(self, state: ItemState, record: Record,
                own: tuple[int, str]) -> tuple[ItemState, list[str]]:
        """The base state, the changes made before the chain's delete, the delete, the changes
        made after it; and the changes of the version itself (``own``) that were refused."""
        died = record.died
        before = {a: c for a, c in record.changes.items() if died is not None and c[0] < died}
        after = {a: c for a, c in record.changes.items() if a not in before}
        state, refused = self._apply(state, before, own)
        if record.born is not None:
            state = state.write(record.born[1], record.born[0])
        if died is not None:
            state = state.delete(died[1], died[0])
        state, refused_after = self._apply(state, after, own)
        held_apart = [a for a, (stamp, _) in record.shown.items()
                      if stamp == own and a not in self.key_names]
        return state, sorted(refused + refused_after + held_apart)

    def _apply(self, state: ItemState, changes: Mapping[str, Change],
               own: tuple[int, str]) -> tuple[ItemState, list[str]]:
        refused = []
        for attr, ((ts, actor), av) in sorted(changes.items()):
            if attr in self.key_names:
                continue
            value = _ABSENT if av is None else _plain_value({attr: av}, attr)
            held = state.get(attr)
            kind = held.TYPE if held is not None else self.type_of(attr)
            if kind != REGISTER or value is _UNREADABLE:
                if (ts, actor) == own:  # an earlier plain write reported its own
                    refused.append(attr)
            elif value is _ABSENT:
                state = state.update(attr, REGISTER, lambda r, a=actor, t=ts: r.unset(a, t))
            else:
                state = state.update(attr, REGISTER,
                                     lambda r, a=actor, x=value, t=ts: r.assign(a, x, t))
        return state, refused

    def version(self, base: Version, state: ItemState, vv) -> Version:
        key = {k: base.attrs[k] for k in self.key_names if k in base.attrs}
        attrs = values_of(state, key)
        meta = replace(base.meta, writer="replicator", vv=vv, crdt=state.encode(), crdt_base=None,
                       crdt_changes=None, digest=digest(attrs), siblings=(),
                       tombstone=not state.exists())
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
            return Merge(self._seen(current, incoming))
        mine, _ = self.state(current)
        theirs, refused = self.state(incoming)
        shown = mine.visible()
        lost = [a for a in refused
                if not _same(_plain_value(incoming.attrs, a), shown.get(a, _ABSENT))]
        top = incoming if incoming.meta.rank > current.meta.rank else current
        joined = mine.merge(theirs)
        merged = self.version(top, joined, join(current.meta.vv, incoming.meta.vv))
        refusal = self._refusal(merged, incoming, lost)
        if order is Order.AFTER:
            return Merge(merged, refusal)
        # Concurrent (a delete among them, maybe): both merge. A register value one side
        # showed and the other had not seen is lost if the join no longer shows it (a
        # concurrent assignment with a later stamp, or a concurrent delete): named as a loser.
        losers = (*(refusal.losers if refusal is not None else ()),
                  *self._overwritten(current, mine, incoming, joined),
                  *self._overwritten(incoming, theirs, current, joined))
        return Merge(merged, Conflict(self.name, merged, losers, (current, incoming)))

    def _overwritten(self, side: Version, state: ItemState, other: Version,
                     joined: ItemState) -> list[Version]:
        """The register values ``side`` showed (its state ``state``) that ``joined`` no longer
        shows and that ``other`` had not seen: each as a loser holding the key and that
        attribute, stamped with the assignment's own stamp."""
        out = []
        key = {k: side.attrs[k] for k in self.key_names if k in side.attrs}
        for attr, reg in sorted(state.attrs.entries.items()):
            if attr in self.key_names or not isinstance(reg, LWWRegister):
                continue
            if not state.shows(reg):
                continue  # nothing visible to lose (unset, or removed by a delete it saw)
            now = joined.get(attr)
            if isinstance(now, LWWRegister) and now.stamp == reg.stamp and joined.shows(now):
                continue  # still the value shown
            ts, actor = reg.stamp
            seen = other.meta.vv.get(actor)
            if seen is not None and seen[0] >= ts:
                continue  # the other side had seen this assignment: replaced, not lost
            tie = seen_tie(side.meta.vv.get(actor), ts)
            attrs = {**key, attr: to_av(reg.value())}
            out.append(Version(attrs, Meta(ts, tie, actor, side.meta.writer, False,
                                           side.meta.vv, digest(attrs))))
        return out

    def _seen(self, current: Version, incoming: Version) -> Version | None:
        """What to write when ``current`` has seen ``incoming``: usually nothing.

        Two cases write. ``current`` is a plain write as its own region holds it (its record,
        its image): every other region holds its state and that state's values under the same
        vector, and so must it, or reconcile could never prove them equal (and a value the
        state refused would stay visible). Or the states differ all the same (a plain write's
        record keeps only the latest change of each attribute, so it may lack an older, hidden
        stamp another region has): joining them is always safe, and makes them equal.
        """
        if current.meta.crdt is not None and current.meta.crdt == incoming.meta.crdt:
            return None
        mine, _ = self.state(current)
        joined = mine.merge(self.state(incoming)[0])
        if current.meta.crdt is not None and joined == mine:
            return None
        return self.version(current, joined, current.meta.vv)

    def _refusal(self, merged: Version, incoming: Version, attrs: list[str]) -> Conflict | None:
        if not attrs:
            return None
        kept = {k: incoming.attrs[k] for k in self.key_names if k in incoming.attrs}
        values = {a: incoming.attrs.get(a, {"NULL": True}) for a in attrs}
        lost = Version({**kept, **values},
                       Meta(incoming.meta.hlc, incoming.meta.tie, incoming.meta.origin,
                            incoming.meta.writer, incoming.meta.tombstone, incoming.meta.vv,
                            incoming.meta.digest))
        return Conflict(self.name, merged, (lost,))


def seen_tie(dot, ts: int) -> int:
    """The tie of the write that made an assignment at ``ts``, when ``dot`` (its region's entry
    in the vector of the version holding it) is that write; 0 otherwise."""
    return dot[1] if dot is not None and dot[0] == ts else 0


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


def apply_ops(state: ItemState | CRDTMap, ops: list[tuple[str, str, Any]], *, actor: str,
              ts: int, types: Mapping[str, str]) -> ItemState:
    """Apply client operations to an item's state, as one live write by ``actor`` (the local
    region) at packed HLC ``ts``.

    ``op`` is ``+=`` (increment, set add), ``-=`` (decrement, set remove), ``=`` (register
    assign) or ``rights`` (bounded counter: ``value`` is ``(to_region, n)``). Raises
    ValueError (InsufficientRights for a bounded counter) naming the attribute.
    """
    state = ItemState.of(state).write(actor, ts)
    for attr, op, value in ops:
        try:
            state = _apply_one(state, attr, op, value, actor, ts, types.get(attr, REGISTER))
        except ValueError as exc:
            raise ValueError(f"{attr} ({types.get(attr, REGISTER)}): {exc}") from None
    return state


def _apply_one(state: ItemState, attr: str, op: str, value: Any, actor: str, ts: int,
               kind: str) -> ItemState:
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
