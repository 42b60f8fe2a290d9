"""Adapters for the CRDT law suite: for each type, how to generate its operations, apply one at
a replica, and predict the value of a whole history (the sequential model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from georep.core.crdt import (
    BoundedCounter,
    CRDTMap,
)
from georep.core.crdt._base import canonical

ACTORS = ["us-east", "eu-west", "ap-south"]


@dataclass(frozen=True)
class Event:
    """One accepted operation: ``past`` holds the ids of the events its replica had seen."""

    id: int
    actor: str
    op: Any
    past: frozenset[int]


@dataclass(frozen=True)
class Adapter:
    type_name: str
    ops: st.SearchStrategy[Any]
    apply: Callable[[Any, str, Any], Any]  # may raise InsufficientRights: the op is refused
    model: Callable[[list[Event]], Any]
    children: dict[str, Adapter] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.type_name


# -- models ----------------------------------------------------------------------------------


def signed_sum(events: list[Event]) -> int:
    return sum(-e.op[1] if e.op[0] == "dec" else e.op[1] if e.op[0] == "inc" else 0 for e in events)


def last_writer(events: list[Event]) -> Any:
    if not events:
        return None
    return max(events, key=lambda e: (e.op[1], e.actor, canonical(e.op[0]))).op[0]


def concurrent_maxima(events: list[Event]) -> list[Any]:
    # an assignment survives unless a later one (one that had seen it) replaced it
    seen_by_others = set().union(*(e.past for e in events))
    survivors = {canonical(e.op): e.op for e in events if e.id not in seen_by_others}
    return [survivors[k] for k in sorted(survivors)]


def add_wins(events: list[Event]) -> list[Any]:
    removes = [e for e in events if e.op[0] == "rm"]
    present = {
        add.op[1]
        for add in events
        if add.op[0] == "add"
        and not any(r.op[1] == add.op[1] and add.id in r.past for r in removes)
    }
    return sorted(present, key=lambda x: (isinstance(x, str), x))


def map_model(children: dict[str, Adapter]) -> Callable[[list[Event]], Any]:
    def model(events: list[Event]) -> dict[str, Any]:
        out = {}
        for key, child in sorted(children.items()):
            mine = [Event(e.id, e.actor, e.op[1], e.past) for e in events if e.op[0] == key]
            if mine:
                out[key] = child.model(mine)
        return out

    return model


# -- adapters --------------------------------------------------------------------------------

amounts = st.integers(1, 5)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.text("ab", max_size=2),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text("xy", max_size=1), inner,
                                                                max_size=2),
    max_leaves=4,
)
elements = st.sampled_from(["a", "b", 1, 2])


def transfer_target(actor: str, hop: int) -> str:
    return ACTORS[(ACTORS.index(actor) + hop) % len(ACTORS)]


def apply_bcounter(c: BoundedCounter, actor: str, op: Any) -> BoundedCounter:
    if op[0] == "inc":
        return c.increment(actor, op[1])
    if op[0] == "dec":
        return c.decrement(actor, op[1])
    return c.transfer(actor, transfer_target(actor, op[2]), op[1])


def apply_map(children: dict[str, Adapter]) -> Callable[[CRDTMap, str, Any], CRDTMap]:
    def apply(m: CRDTMap, actor: str, op: Any) -> CRDTMap:
        key, child_op = op
        child = children[key]
        return m.update(key, child.type_name, lambda c: child.apply(c, actor, child_op))

    return apply


def map_adapter(children: dict[str, Adapter]) -> Adapter:
    ops = st.one_of(*(st.tuples(st.just(k), a.ops) for k, a in sorted(children.items())))
    return Adapter("map", ops, apply_map(children), map_model(children), children)


GCOUNTER = Adapter(
    "gcounter",
    st.tuples(st.just("inc"), amounts),
    lambda c, actor, op: c.increment(actor, op[1]),
    signed_sum,
)
PNCOUNTER = Adapter(
    "pncounter",
    st.tuples(st.sampled_from(["inc", "dec"]), amounts),
    lambda c, actor, op: (c.increment if op[0] == "inc" else c.decrement)(actor, op[1]),
    signed_sum,
)
BCOUNTER = Adapter(
    "bcounter",
    st.tuples(st.sampled_from(["inc", "dec"]), amounts)
    | st.tuples(st.just("xfer"), amounts, st.integers(1, 2)),
    apply_bcounter,
    signed_sum,
)
LWWREGISTER = Adapter(
    "lwwregister",
    st.tuples(json_values, st.integers(0, 6)),  # few stamps, so ties between regions happen
    lambda r, actor, op: r.assign(actor, op[0], op[1]),
    last_writer,
)
MVREGISTER = Adapter(
    "mvregister", json_values, lambda r, actor, op: r.assign(actor, op), concurrent_maxima
)
ORSET = Adapter(
    "orset",
    st.tuples(st.sampled_from(["add", "rm"]), elements),
    lambda s, actor, op: s.add(actor, op[1]) if op[0] == "add" else s.remove(op[1]),
    add_wins,
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
ADAPTERS = [GCOUNTER, PNCOUNTER, BCOUNTER, LWWREGISTER, MVREGISTER, ORSET, MAP]
