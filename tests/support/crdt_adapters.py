"""Adapters for the CRDT law suite: for each type, how to generate its operations, apply one at
a replica, and predict the value of a whole history (the sequential model).

Every attribute type also takes ``("reset",)``, an observed reset (what an item's delete does to
it); the models drop what a reset had seen. ``present`` predicts whether the state shows at all
(an attribute of an item is absent when nothing survives the resets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from georep.core.crdt import (
    BoundedCounter,
    CRDTMap,
    GCounter,
    ItemState,
    LWWRegister,
    MVRegister,
    ORSet,
    PNCounter,
    canonical,
)

ACTORS = ["us-east", "eu-west", "ap-south"]
RESET = ("reset",)


@dataclass(frozen=True)
class Event:
    """One accepted operation: ``past`` holds the ids of the events its replica had seen."""

    id: int
    actor: str
    op: Any
    past: frozenset[int]


def _always(events: list[Event]) -> bool:
    return True


@dataclass(frozen=True)
class Adapter:
    type_name: str
    ops: st.SearchStrategy[Any]
    apply: Callable[[Any, str, Any], Any]  # may raise InsufficientRights: the op is refused
    model: Callable[[list[Event]], Any]
    children: dict[str, Adapter] = field(default_factory=dict)
    present: Callable[[list[Event]], bool] = lambda events: bool(unreset(events))
    # False when the model does not predict the value of this history (see BCOUNTER)
    modelled: Callable[[list[Event]], bool] = _always

    def __str__(self) -> str:
        return self.type_name


# -- models ----------------------------------------------------------------------------------


def is_reset(e: Event) -> bool:
    return e.op == RESET


def unreset(events: list[Event]) -> list[Event]:
    """The updates no reset has seen."""
    resets = [r for r in events if is_reset(r)]
    return [e for e in events if not is_reset(e) and not any(e.id in r.past for r in resets)]


def signed_sum(events: list[Event]) -> int:
    return sum(-e.op[1] if e.op[0] == "dec" else e.op[1] if e.op[0] == "inc" else 0
               for e in unreset(events))


def no_spend_races_a_reset(events: list[Event]) -> bool:
    """A decrement or transfer concurrent with a reset may overlap the rights it discarded;
    then the bounded counter settles the overlap and the signed sum does not predict it."""
    resets = [r for r in events if is_reset(r)]
    spends = [e for e in events if e.op[0] in ("dec", "xfer")]
    return not any(e.id not in r.past and r.id not in e.past for e in spends for r in resets)


def lww_stamp(e: Event) -> tuple[int, str]:
    return (e.op[-1], e.actor)


def lww_winner(events: list[Event]) -> Event | None:
    assigns = [e for e in events if e.op[0] in ("set", "unset")]
    if not assigns:
        return None
    payload = lambda e: e.op[1] if e.op[0] == "set" else None  # noqa: E731
    return max(assigns, key=lambda e: (*lww_stamp(e), canonical(payload(e))))


def lww_cleared(events: list[Event]) -> tuple[int, str] | None:
    cleared = [lww_stamp(e) for e in events if e.op[0] == "unset"]
    for r in filter(is_reset, events):
        seen = lww_winner([e for e in events if e.id in r.past])
        if seen is not None:
            cleared.append(lww_stamp(seen))
    return max(cleared, default=None)


def lww_present(events: list[Event]) -> bool:
    winner, cleared = lww_winner(events), lww_cleared(events)
    return winner is not None and (cleared is None or lww_stamp(winner) > cleared)


def last_writer(events: list[Event]) -> Any:
    if not lww_present(events):
        return None
    winner = lww_winner(events)
    return winner.op[1] if winner.op[0] == "set" else None


def concurrent_maxima(events: list[Event]) -> list[Any]:
    # an assignment survives unless a later one (or a reset) that had seen it replaced it
    seen_by_others = set().union(*(e.past for e in events))
    survivors = {canonical(e.op[1]): e.op[1] for e in events
                 if e.op[0] == "set" and e.id not in seen_by_others}
    return [survivors[k] for k in sorted(survivors)]


def add_wins(events: list[Event]) -> list[Any]:
    removes = [e for e in events if e.op[0] == "rm" or is_reset(e)]
    present = {
        add.op[1]
        for add in events
        if add.op[0] == "add"
        and not any((is_reset(r) or r.op[1] == add.op[1]) and add.id in r.past for r in removes)
    }
    return sorted(present, key=lambda x: (isinstance(x, str), x))


def child_events(events: list[Event], key: str) -> list[Event]:
    """The events of one key of a map or item: its own operations, and every reset."""
    out = []
    for e in events:
        if e.op[0] == key:
            out.append(Event(e.id, e.actor, e.op[1], e.past))
        elif e.op in (RESET,) or e.op[0] == "delete":
            out.append(Event(e.id, e.actor, RESET, e.past))
    return out


def touched(events: list[Event], key: str) -> bool:
    return any(e.op[0] == key for e in events)


def map_model(children: dict[str, Adapter]) -> Callable[[list[Event]], Any]:
    def model(events: list[Event]) -> dict[str, Any]:
        out = {}
        for key, child in sorted(children.items()):
            mine = child_events(events, key)
            if touched(events, key) and child.present(mine):
                out[key] = child.model(mine)
        return out

    return model


def map_present(children: dict[str, Adapter]) -> Callable[[list[Event]], bool]:
    return lambda events: bool(map_model(children)(events))


def map_modelled(children: dict[str, Adapter]) -> Callable[[list[Event]], bool]:
    return lambda events: all(c.modelled(child_events(events, k)) for k, c in children.items())


# -- adapters --------------------------------------------------------------------------------

amounts = st.integers(1, 5)
stamps = st.integers(0, 6)  # few stamps, so ties between regions happen
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.text("ab", max_size=2),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text("xy", max_size=1), inner,
                                                                max_size=2),
    max_leaves=4,
)
elements = st.sampled_from(["a", "b", 1, 2])
resets = st.just(RESET)


def transfer_target(actor: str, hop: int) -> str:
    return ACTORS[(ACTORS.index(actor) + hop) % len(ACTORS)]


def with_reset(apply: Callable[[Any, str, Any], Any]) -> Callable[[Any, str, Any], Any]:
    return lambda state, actor, op: state.reset() if op == RESET else apply(state, actor, op)


def apply_bcounter(c: BoundedCounter, actor: str, op: Any) -> BoundedCounter:
    if op[0] == "inc":
        return c.increment(actor, op[1])
    if op[0] == "dec":
        return c.decrement(actor, op[1])
    return c.transfer(actor, transfer_target(actor, op[2]), op[1])


def apply_lww(r: LWWRegister, actor: str, op: Any) -> LWWRegister:
    return r.assign(actor, op[1], op[2]) if op[0] == "set" else r.unset(actor, op[1])


def apply_map(children: dict[str, Adapter]) -> Callable[[CRDTMap, str, Any], CRDTMap]:
    def apply(m: CRDTMap, actor: str, op: Any) -> CRDTMap:
        key, child_op = op
        child = children[key]
        return m.update(key, child.type_name, lambda c: child.apply(c, actor, child_op))

    return apply


def map_adapter(children: dict[str, Adapter]) -> Adapter:
    ops = st.one_of(*(st.tuples(st.just(k), a.ops) for k, a in sorted(children.items())))
    return Adapter("map", ops | resets, with_reset(apply_map(children)), map_model(children),
                   children, map_present(children), map_modelled(children))


GCOUNTER = Adapter(
    "gcounter",
    st.tuples(st.just("inc"), amounts) | resets,
    with_reset(lambda c, actor, op: c.increment(actor, op[1])),
    signed_sum,
)
PNCOUNTER = Adapter(
    "pncounter",
    st.tuples(st.sampled_from(["inc", "dec"]), amounts) | resets,
    with_reset(lambda c, actor, op: (c.increment if op[0] == "inc" else c.decrement)(
        actor, op[1])),
    signed_sum,
)
BCOUNTER = Adapter(
    "bcounter",
    st.tuples(st.sampled_from(["inc", "dec"]), amounts)
    | st.tuples(st.just("xfer"), amounts, st.integers(1, 2)) | resets,
    with_reset(apply_bcounter),
    signed_sum,
    modelled=no_spend_races_a_reset,
)
LWWREGISTER = Adapter(
    "lwwregister",
    st.tuples(st.just("set"), json_values, stamps) | st.tuples(st.just("unset"), stamps)
    | resets,
    with_reset(apply_lww),
    last_writer,
    present=lww_present,
)
MVREGISTER = Adapter(
    "mvregister",
    st.tuples(st.just("set"), json_values) | resets,
    with_reset(lambda r, actor, op: r.assign(actor, op[1])),
    concurrent_maxima,
    present=lambda events: bool(concurrent_maxima(events)),
)
ORSET = Adapter(
    "orset",
    st.tuples(st.sampled_from(["add", "rm"]), elements) | resets,
    with_reset(lambda s, actor, op: s.add(actor, op[1]) if op[0] == "add" else s.remove(op[1])),
    add_wins,
    present=lambda events: bool(add_wins(events)),
)
MAP = map_adapter(
    {
        "hits": PNCOUNTER,
        "stock": BCOUNTER,
        "owner": LWWREGISTER,
        "notes": MVREGISTER,
        "tags": ORSET,
        "inner": map_adapter({"n": GCOUNTER, "s": ORSET}),
    }
)

# -- the item: attributes, live writes and deletes ---------------------------------------------

ITEM_CHILDREN = {"hits": PNCOUNTER, "stock": BCOUNTER, "owner": LWWREGISTER, "notes": MVREGISTER,
                 "tags": ORSET}


def apply_item(state: ItemState, actor: str, op: Any) -> ItemState:
    if op[0] == "delete":
        return state.delete(actor, op[1])
    _, key, child_op, ts = op
    child = ITEM_CHILDREN[key]
    return state.write(actor, ts).update(
        key, child.type_name, lambda c: child.apply(c, actor, child_op))


def _latest(events: list[Event], kind: str) -> tuple[int, str] | None:
    return max(((e.op[-1], e.actor) for e in events if e.op[0] == kind), default=None)


def item_model(events: list[Event]) -> dict[str, Any] | None:
    """Attributes as in a map whose resets are the deletes; an LWW register assigned at or
    before the latest delete is absent; the item exists while an attribute shows or its latest
    live write is after its latest delete."""
    ops = [Event(e.id, e.actor, e.op[1:3] if e.op[0] == "op" else e.op, e.past) for e in events]
    died = _latest(events, "delete")
    shown = {}
    for key, child in sorted(ITEM_CHILDREN.items()):
        mine = child_events(ops, key)
        if not touched(ops, key) or not child.present(mine):
            continue
        if child is LWWREGISTER and died is not None and lww_stamp(lww_winner(mine)) <= died:
            continue
        shown[key] = child.model(mine)
    born = _latest(events, "op")
    alive = born is not None and (died is None or born > died)
    return shown if alive or shown else None


def item_modelled(events: list[Event]) -> bool:
    ops = [Event(e.id, e.actor, e.op[1:3] if e.op[0] == "op" else e.op, e.past) for e in events]
    return map_modelled(ITEM_CHILDREN)(ops)


ITEM = Adapter(
    "item",
    st.one_of(*(st.tuples(st.just("op"), st.just(k), a.ops.filter(lambda op: op != RESET),
                          stamps) for k, a in sorted(ITEM_CHILDREN.items())))
    | st.tuples(st.just("delete"), stamps),
    apply_item,
    item_model,
    present=lambda events: item_model(events) is not None,
    modelled=item_modelled,
)
ADAPTERS = [GCOUNTER, PNCOUNTER, BCOUNTER, LWWREGISTER, MVREGISTER, ORSET, MAP, ITEM]


# -- the entry law: each region's entries only grow, and only its own operations grow them -----


def entries(state: Any, path: tuple = ()) -> dict[tuple, int]:
    """Every per-region entry of a state, keyed by (..., owner region, what): counter totals,
    the bounded counter's gains and spends, the causal context of tagged types, and the
    LWW stamps (which belong to no region but must only grow too)."""
    out: dict[tuple, int] = {}
    if isinstance(state, ItemState):
        for name, stamp in (("born", state.born), ("died", state.died)):
            if stamp is not None:
                out[(*path, "*", name)] = stamp
        return {**out, **entries(state.attrs, path)}
    if isinstance(state, CRDTMap):
        for key, nested in state.entries.items():
            out.update(entries(nested, (*path, key)))
    elif isinstance(state, GCounter):
        out.update({(*path, a, "c"): n for a, n in state.counts.items()})
    elif isinstance(state, PNCounter):
        out.update({(*path, a, "p"): n for a, n in state.p.counts.items()})
        out.update({(*path, a, "n"): n for a, n in state.n.counts.items()})
    elif isinstance(state, BoundedCounter):
        now = state.now
        for name, totals in (("inc", now.inc), ("dec", now.dec)):
            out.update({(*path, a, name): n for a, n in totals.items()})
        out.update({(*path, frm, "to", to): n for (frm, to), n in now.transfers.items()})
    elif isinstance(state, ORSet | MVRegister):
        out.update({(*path, a, "context"): n for a, n in state.context.items()})
    elif isinstance(state, LWWRegister):
        for name, stamp in (("stamp", state.stamp), ("cleared", state.cleared)):
            if stamp is not None:
                out[(*path, "*", name)] = stamp
    return out


def assert_only_grew(before: dict[tuple, Any], after: dict[tuple, Any]) -> None:
    for key, old in before.items():
        assert key in after and after[key] >= old, (key, old, after.get(key))


def assert_owned(states: list[Any]) -> None:
    own = [entries(s) for s in states]
    for mine in own:
        for key, n in mine.items():
            owner = key[-2] if key[-2] != "to" else key[-3]
            if owner in ACTORS:
                assert n <= own[ACTORS.index(owner)].get(key, 0), (key, n)
