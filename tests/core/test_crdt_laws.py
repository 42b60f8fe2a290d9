"""One law suite for every CRDT in the registry (riak_dt style): merge order never matters,
encodings round-trip through plain JSON, and replicas converge to a sequential model's value.

Each type is driven through an *adapter* that generates its operations, applies one at a replica
(whose region is the actor), and computes the value a model of the whole history predicts. The
history records, for every operation, which earlier operations its replica had seen (merges carry
that knowledge along), which is what the add-wins and multi-value models need.
"""

from __future__ import annotations

import json
from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.crdt import (
    CRDT,
    REGISTRY,
    BoundedCounter,
    CRDTDecodeError,
    CRDTMap,
    CRDTTypeClash,
    GCounter,
    InsufficientRights,
    LWWRegister,
    MVRegister,
    ORSet,
    PNCounter,
    decode_any,
    new_of,
)

from ..support.crdt_adapters import (
    ACTORS,
    ADAPTERS,
    Adapter,
    Event,
    assert_only_grew,
    assert_owned,
    entries,
)

# A profile loaded elsewhere (conftest or --hypothesis-profile) sets the budget; without one the
# suite stays bounded and fast.
BOUNDED = (
    settings(max_examples=100, deadline=None)
    if settings.get_current_profile_name() == "default"
    else settings(deadline=None)
)

each_type = pytest.mark.parametrize("adapter", ADAPTERS, ids=str)


# -- histories -------------------------------------------------------------------------------


def histories(adapter: Adapter) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    replica = st.integers(0, len(ACTORS) - 1)
    step = st.tuples(st.just("op"), replica, adapter.ops) | st.tuples(
        st.just("merge"), replica, replica
    )
    return st.lists(step, max_size=25)


def run(adapter: Adapter, steps: list[tuple[Any, ...]]) -> tuple[list[Any], list[Event], list]:
    """Replay ``steps`` at three replicas: their states, the accepted events, what each saw.

    Along the way it checks the entry law: at every replica each region's entries only grow,
    and no replica holds more of a region's entry than that region's own replica does (only
    the region's own operations grow it; merges only copy it)."""
    states = [new_of(adapter.type_name) for _ in ACTORS]
    seen: list[frozenset[int]] = [frozenset() for _ in ACTORS]
    events: list[Event] = []
    for kind, i, arg in steps:
        before = entries(states[i])
        if kind == "merge":
            states[i] = states[i].merge(states[arg])
            seen[i] = seen[i] | seen[arg]
        else:
            try:
                states[i] = adapter.apply(states[i], ACTORS[i], arg)
            except InsufficientRights:
                continue  # refused: the replica's state is unchanged and nothing happened
            event = Event(len(events), ACTORS[i], arg, seen[i])
            events.append(event)
            seen[i] = seen[i] | {event.id}
        assert_only_grew(before, entries(states[i]))
        assert_owned(states)
    return states, events, seen


def replica_states(data: st.DataObject, adapter: Adapter) -> list[Any]:
    return run(adapter, data.draw(histories(adapter), label="history"))[0]


# -- the laws --------------------------------------------------------------------------------


def test_every_registered_type_has_an_adapter() -> None:
    assert {a.type_name for a in ADAPTERS} == set(REGISTRY)
    for type_name, cls in REGISTRY.items():
        assert type_name == cls.TYPE
        assert isinstance(cls.new(), CRDT)


@each_type
@BOUNDED
@given(data=st.data())
def test_merge_is_commutative(adapter: Adapter, data: st.DataObject) -> None:
    a, b, c = replica_states(data, adapter)
    for x, y in [(a, b), (b, c), (a, c)]:
        assert x.merge(y) == y.merge(x)


@each_type
@BOUNDED
@given(data=st.data())
def test_merge_is_associative(adapter: Adapter, data: st.DataObject) -> None:
    a, b, c = replica_states(data, adapter)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@each_type
@BOUNDED
@given(data=st.data())
def test_merge_is_idempotent_and_new_is_neutral(adapter: Adapter, data: st.DataObject) -> None:
    a, b, _ = replica_states(data, adapter)
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)
    bottom = new_of(adapter.type_name)
    assert a.merge(bottom) == a == bottom.merge(a)


@each_type
@BOUNDED
@given(data=st.data())
def test_merge_leaves_its_inputs_alone(adapter: Adapter, data: st.DataObject) -> None:
    a, b, _ = replica_states(data, adapter)
    before = (json.dumps(a.encode()), json.dumps(b.encode()))
    a.merge(b)
    b.merge(a)
    assert (json.dumps(a.encode()), json.dumps(b.encode())) == before


@each_type
@BOUNDED
@given(data=st.data())
def test_encoding_round_trips_through_plain_json(adapter: Adapter, data: st.DataObject) -> None:
    a, b, _ = replica_states(data, adapter)
    for state in (a, b, a.merge(b), new_of(adapter.type_name)):
        av = state.encode()
        assert av["M"]["t"] == {"S": adapter.type_name}
        assert av["M"]["v"] == {"N": "1"}
        assert type(state).decode(av) == state
        through_json = json.loads(json.dumps(av))
        decoded = decode_any(through_json)
        assert decoded == state
        assert decoded.value() == state.value()
        assert decoded.encode() == av


@each_type
@BOUNDED
@given(data=st.data())
def test_replicas_converge_to_the_model(adapter: Adapter, data: st.DataObject) -> None:
    states, events, seen = run(adapter, data.draw(histories(adapter), label="history"))
    # before the final exchange, each replica's value is the model of what it has seen
    for state, known in zip(states, seen, strict=True):
        mine = [e for e in events if e.id in known]
        if adapter.modelled(mine):
            assert state.value() == adapter.model(mine)
    everywhere = []
    for i in range(len(states)):
        order = data.draw(st.permutations(range(len(states))), label=f"merge order at {i}")
        everywhere.append(reduce(lambda acc, j: acc.merge(states[j]), order, states[i]))
    assert all(s == everywhere[0] for s in everywhere)
    if adapter.modelled(events):
        assert everywhere[0].value() == adapter.model(events)


# -- decoding garbage ------------------------------------------------------------------------


def sample_state(adapter: Adapter, data: st.DataObject) -> Any:
    states = replica_states(data, adapter)
    return reduce(lambda x, y: x.merge(y), states)


@each_type
@BOUNDED
@given(data=st.data())
def test_decoding_garbage_raises(adapter: Adapter, data: st.DataObject) -> None:
    cls = REGISTRY[adapter.type_name]
    av = sample_state(adapter, data).encode()

    def refused(bad: Any, match: str | None) -> None:
        with pytest.raises(CRDTDecodeError, match=match):
            cls.decode(bad)
        with pytest.raises(CRDTDecodeError):
            decode_any(bad)

    refused({**av, "M": {**av["M"], "t": {"S": "nope"}}}, "nope")
    refused({**av, "M": {**av["M"], "v": {"N": "2"}}}, "version")
    refused({"M": {**av["M"], "junk": {"S": "x"}}}, "unknown field")
    for name in set(av["M"]) - set(getattr(cls, "OPTIONAL", ())):
        if name != "t":  # without its tag a state cannot even be dispatched
            refused({"M": {k: x for k, x in av["M"].items() if k != name}}, "lacks|version")
    refused({"M": {k: x for k, x in av["M"].items() if k != "t"}}, "type tag")
    for not_a_state in ({"S": "x"}, [], None, {"M": {}}, {"M": {"t": {"N": "1"}}}):
        refused(not_a_state, None)
    for other in set(REGISTRY) - {adapter.type_name}:
        with pytest.raises(CRDTDecodeError, match="expected"):
            cls.decode(new_of(other).encode())


BAD_FIELDS = [
    (GCounter, {"c": {"M": {"us-east": {"N": "-1"}}}}, ">= 0"),
    (GCounter, {"c": {"M": {"us-east": {"N": "1.5"}}}}, "integer"),
    (GCounter, {"c": {"M": {"us-east": {"S": "1"}}}}, "N AttributeValue"),
    (GCounter, {"c": {"L": []}}, "M AttributeValue"),
    (PNCounter, {"p": {"M": {}}, "n": {"M": {"": {"N": "1"}}}}, "actor"),
    (LWWRegister, {"s": {"NULL": True}, "x": {"S": "orphan"}}, "no stamp"),
    (LWWRegister, {"s": {"L": [{"N": "1"}, {"S": "us-east"}]}, "x": {"N": "x"}}, "integer"),
    (LWWRegister, {"s": {"L": [{"N": "1"}, {"S": "us-east"}]}, "x": {"SS": ["a"]}}, "value"),
    (LWWRegister, {"s": {"L": [{"N": "1"}]}, "x": {"NULL": True}}, "lwwregister"),
    (ORSet, {"e": {"L": [{"L": [{"S": "us-east"}, {"N": "2"}, {"S": "a"}]}]},
             "c": {"M": {"us-east": {"N": "1"}}}}, "beyond the causal context"),
    (ORSet, {"e": {"L": [{"L": [{"S": "us-east"}, {"N": "1"}, {"BOOL": True}]}]},
             "c": {"M": {"us-east": {"N": "1"}}}}, "S or N"),
    (MVRegister, {"e": {"L": [{"L": [{"S": "us-east"}, {"N": "1"}, {"S": "a"}]}] * 2},
                  "c": {"M": {"us-east": {"N": "1"}}}}, "twice"),
    (BoundedCounter, {"p": {"M": {}}, "n": {"M": {}},
                      "x": {"M": {"us-east": {"M": {"us-east": {"N": "1"}}}}}}, "itself"),
    (CRDTMap, {"e": {"M": {"k": {"M": {"t": {"S": "gcounter"}, "v": {"N": "1"}}}}}}, "map key 'k'"),
]


@pytest.mark.parametrize(("cls", "fields", "match"), BAD_FIELDS,
                         ids=[f"{c.TYPE}-{i}" for i, (c, _, _) in enumerate(BAD_FIELDS)])
def test_decoding_a_malformed_field_names_the_problem(cls: type, fields: dict, match: str) -> None:
    with pytest.raises(CRDTDecodeError, match=match):
        cls.decode({"M": {"t": {"S": cls.TYPE}, "v": {"N": "1"}, **fields}})


def test_decode_any_rejects_an_unknown_type() -> None:
    with pytest.raises(CRDTDecodeError, match="unknown CRDT type tag 'hyperloglog'"):
        decode_any({"M": {"t": {"S": "hyperloglog"}, "v": {"N": "1"}}})
    with pytest.raises(ValueError, match="unknown CRDT type 'hyperloglog'"):
        new_of("hyperloglog")


# -- concrete cases the laws take for granted ------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_amounts_must_be_positive_ints(bad: Any) -> None:
    with pytest.raises(ValueError, match="amount"):
        GCounter.new().increment("us-east", bad)
    with pytest.raises(ValueError, match="amount"):
        PNCounter.new().decrement("us-east", bad)


def test_pncounter_may_go_negative() -> None:
    c = PNCounter.new().increment("us-east", 2).decrement("eu-west", 5)
    assert c.value() == -3


def test_lww_breaks_a_stamp_tie_by_actor_and_ignores_an_older_assignment() -> None:
    east = LWWRegister.new().assign("us-east", "east", ts=10)
    west = LWWRegister.new().assign("eu-west", "west", ts=10)
    assert east.merge(west).value() == west.merge(east).value() == "east"  # "us-east" > "eu-west"
    assert east.assign("eu-west", "older", ts=9) == east
    assert LWWRegister.new().value() is None
    with pytest.raises(TypeError, match="float"):
        LWWRegister.new().assign("us-east", 1.5, ts=1)


def test_lww_keeps_its_own_copy_and_tells_true_from_one() -> None:
    doc = {"k": [1]}
    reg = LWWRegister.new().assign("us-east", doc, ts=1)
    doc["k"].append(2)
    assert reg.value() == {"k": [1]}
    assert LWWRegister.new().assign("a", True, 1) != LWWRegister.new().assign("a", 1, 1)


def test_mvregister_keeps_concurrent_values_and_drops_seen_ones() -> None:
    east = MVRegister.new().assign("us-east", "e")
    west = MVRegister.new().assign("eu-west", "w")
    both = east.merge(west)
    assert both.value() == west.merge(east).value() == ["e", "w"]
    assert both.assign("ap-south", "s").merge(east).value() == ["s"]


def test_orset_add_wins_over_a_concurrent_remove() -> None:
    base = ORSet.new().add("us-east", "x")
    removed = base.remove("x")
    re_added = base.add("eu-west", "x")
    assert removed.merge(re_added).value() == ["x"]
    assert removed.merge(base).value() == []  # the remove had seen that add
    assert ORSet.new().add("a", 2).add("a", "b").add("a", 1).value() == [1, 2, "b"]
    with pytest.raises(TypeError):
        ORSet.new().add("a", True)


def test_map_keeps_one_type_per_key() -> None:
    m = CRDTMap.new().update("n", "gcounter", lambda c: c.increment("us-east"))
    with pytest.raises(CRDTTypeClash, match="'n' holds a 'gcounter', not a 'orset'"):
        m.update("n", "orset", lambda s: s)
    other = CRDTMap.new().update("n", "pncounter", lambda c: c.increment("eu-west"))
    with pytest.raises(CRDTTypeClash):
        m.merge(other)
    with pytest.raises(TypeError, match="must return a GCounter"):
        m.update("n", "gcounter", lambda c: c.value())
    assert m.get("n") == GCounter({"us-east": 1})
    assert m.get("missing") is None
    assert m.value() == {"n": 1}
