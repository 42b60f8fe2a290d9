"""The history checkers (georep.core.checkers) on hand-made histories: each checker passes a
good history, fails a bad one naming the key, value and index at fault, and says "unknown" when
the history cannot decide; the verdict composes them (false > unknown > true, a crash is
unknown, a checker with nothing to check is left out)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import georep.core.checkers as checkers_module
from georep.core.checkers import (
    CHECKERS,
    check,
    convergence,
    duplicates,
    lost,
)

from .test_checkers_numeric import counter_history
from .test_checkers_registers import reg, register_history
from .test_history import History

# -- duplicates --------------------------------------------------------------------------------


def orders_history() -> tuple[History, list[int]]:
    """i1 ordered twice (a retry, deduplicated), i2 once; one order item each."""
    h = History()
    at = [h.order(1, "i1", "o1"), h.order(1, "i1", "o1"), h.order(2, "i2", "o2")]
    return h, at


def test_duplicates_has_nothing_to_check_without_orders_or_sets():
    h = History()
    h.write(1, "k", "a")
    h.final("register", {"k": reg("k", "a")})
    assert duplicates(h.ops) is None


def test_one_order_per_idempotency_key_and_distinct_members_are_no_duplicates():
    h, _ = orders_history()
    h.member(3, "add", "s", "x")
    h.final("orders", {"o1": {"id": "o1", "idem": "i1"}, "o2": {"id": "o2", "idem": "i2"}})
    h.final("sets", {"s": {"id": "s", "members": ["x", "y"]}})
    assert duplicates(h.ops) == {"valid": True, "duplicates": [], "duplicates_count": 0}


def test_two_orders_for_one_idempotency_key_in_one_region_are_a_duplicate():
    h, at = orders_history()
    h.final("orders", {"o1": {"id": "o1", "idem": "i1"}, "o2": {"id": "o2", "idem": "i2"}},
            regions=("us-east",))
    h.final("orders", {"o1": {"id": "o1", "idem": "i1"}, "o9": {"id": "o9", "idem": "i1"},
                       "o2": {"id": "o2", "idem": "i2"}}, regions=("eu-west",))
    result = duplicates(h.ops)
    assert result["valid"] is False and result["duplicates_count"] == 1
    assert result["duplicates"] == [{"kind": "order", "region": "eu-west", "key": "i1",
                                     "orders": ["o1", "o9"], "indexes": at[:2]}]


def test_an_element_listed_twice_in_a_set_is_a_duplicate():
    h = History()
    h.member(1, "add", "s", "x")
    h.final("sets", {"s": {"id": "s", "members": ["x", "y", "x"]}}, regions=("us-east",))
    result = duplicates(h.ops)
    assert result["valid"] is False
    assert result["duplicates"] == [{"kind": "set", "region": "us-east", "table": "sets",
                                     "key": "s", "element": "x", "count": 2}]


# -- lost --------------------------------------------------------------------------------------


def test_written_keys_present_somewhere_are_not_lost():
    h = History()
    h.write(1, "k", "a")
    h.write(1, "j", "b")
    h.final("register", {"k": reg("k", "a"), "j": None})  # j only in a third region
    h.final("register", {"j": reg("j", "b")}, regions=("ap-south",))
    assert lost(h.ops)["valid"] is True


def test_a_written_register_key_null_everywhere_is_lost():
    h = History()
    at = [h.write(1, "k", "a"), h.write(2, "k", "b", replaced="a")]
    h.write(2, "j", "c", type_="info")
    h.final("register", {"k": None, "j": None})
    result = lost(h.ops)
    assert result["valid"] is False and result["lost_count"] == 1
    assert result["lost"] == [{"kind": "register", "key": "k", "indexes": at, "writes": 2}]


def test_a_key_no_final_read_names_is_unread_and_unknown():
    h = History()
    h.write(1, "k", "a")
    h.final("register", {"other": None})
    result = lost(h.ops)
    assert result["valid"] == "unknown"
    assert result["unread"] == [{"kind": "register", "key": "k"}]


def test_an_added_element_missing_everywhere_is_lost_unless_a_remove_may_explain_it():
    h = History()
    gone = h.member(1, "add", "s", "x")
    h.member(1, "add", "s", "y")
    h.member(1, "remove", "s", "y", type_="info")  # may have happened: y's absence explained
    h.member(1, "add", "s", "z")
    h.member(2, "remove", "s", "z")
    h.member(1, "add", "s", "w")
    h.member(2, "remove", "s", "x", type_="fail")  # did not happen: explains nothing
    h.final("sets", {"s": {"id": "s", "members": ["w"]}}, regions=("us-east",))
    h.final("sets", {"s": None}, regions=("eu-west",))
    result = lost(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"kind": "set", "key": "s", "element": "x", "index": gone}]


def test_a_remove_that_completed_before_an_add_began_cannot_explain_its_absence():
    """An observed-remove set's remove deletes only the adds it has seen: an element removed,
    then added again, must be present; one removed concurrently with the re-add may not be."""
    h = History()
    h.member(1, "add", "s", "x")
    h.member(2, "remove", "s", "x")
    again = h.member(1, "add", "s", "x")  # invoked after the remove completed
    h.member(1, "add", "s", "y")
    h.invoke(2, "remove", {"key": "s", "element": "y"})  # outstanding: may take y with it
    h.member(1, "add", "s", "y")
    h.final("sets", {"s": None})
    result = lost(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"kind": "set", "key": "s", "element": "x", "index": again}]


def test_an_acknowledged_order_with_no_item_for_its_key_is_lost():
    h, _ = orders_history()
    at = h.order(3, "i3", "o3")
    h.order(3, "i4", None, type_="info")  # may never have happened
    h.final("orders", {"o1": {"id": "o1", "idem": "i1"}, "o2": {"id": "o2", "idem": "i2"}})
    result = lost(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"kind": "order", "key": "i3", "orders": ["o3"], "indexes": [at]}]


def test_another_order_for_the_key_does_not_stand_in_for_the_acknowledged_one():
    """i1 was acknowledged as order o1; only o7 (for i1) is held: the user's o1 is gone."""
    h, at = orders_history()
    h.final("orders", {"o7": {"id": "o7", "idem": "i1"}, "o2": {"id": "o2", "idem": "i2"}})
    result = lost(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"kind": "order", "key": "i1", "orders": ["o1", "o1"],
                               "indexes": at[:2]}]


# -- convergence -------------------------------------------------------------------------------


def test_equal_final_reads_converge_whatever_the_order_of_siblings():
    h = History()
    h.final("t", {"k": reg("k", "a")}, {"k": [reg("k", "a"), reg("k", "b")]},
            regions=("us-east",))
    h.final("t", {"k": {"v": "a", "id": "k"}}, {"k": [reg("k", "b"), reg("k", "a")]},
            regions=("eu-west",))
    result = convergence(h.ops)
    assert result["valid"] is True and result["regions"] == ["eu-west", "us-east"]


def test_differing_final_reads_name_the_key_and_each_regions_value():
    h = History()
    h.final("t", {"k": reg("k", "a"), "same": None}, regions=("us-east",))
    h.final("t", {"k": reg("k", "b"), "same": None}, regions=("eu-west",))
    result = convergence(h.ops)
    assert result["valid"] is False and result["differences_count"] == 1
    assert result["differences"] == [{"table": "t", "key": "k", "regions": {
        "eu-west": {"item": reg("k", "b"), "siblings": []},
        "us-east": {"item": reg("k", "a"), "siblings": []}}}]


def test_differences_are_bounded_to_twenty_with_their_count():
    h = History()
    h.final("t", {f"k{i}": reg(f"k{i}", "a") for i in range(25)}, regions=("us-east",))
    h.final("t", {f"k{i}": None for i in range(25)}, regions=("eu-west",))
    result = convergence(h.ops)
    assert len(result["differences"]) == 20 and result["differences_count"] == 25


def test_convergence_is_unknown_with_one_region_or_a_table_some_region_did_not_read():
    h = History()
    h.final("t", {"k": reg("k", "a")}, regions=("us-east",))
    assert convergence(h.ops)["valid"] == "unknown"
    h.final("t", {"k": reg("k", "a")}, regions=("eu-west",))
    h.final("u", {"j": None}, regions=("eu-west",))
    result = convergence(h.ops)
    assert result["valid"] == "unknown"
    assert result["partial"] == [{"table": "u", "regions": ["eu-west"]}]


@given(st.lists(st.sampled_from(["a", "b", None]), min_size=2, max_size=5), st.randoms())
def test_the_order_of_the_regions_final_reads_does_not_change_convergence(values, rnd):
    h = History()
    for n, v in enumerate(values):
        h.final("t", {"k": None if v is None else reg("k", v)}, regions=(f"r{n}",))
    shuffled = h.ops[:]
    rnd.shuffle(shuffled)
    assert convergence(shuffled) == convergence(h.ops)
    assert convergence(h.ops)["valid"] is (len(set(values)) == 1)


# -- the verdict -------------------------------------------------------------------------------

# Per checker: an operation it reads, and one of another workload it does not.
READS = {
    "duplicates": (lambda h: h.order(1, "i", "o"), lambda h: h.write(1, "k", "a")),
    "lost": (lambda h: h.member(1, "add", "s", "x"), lambda h: h.add(1, "c", 1)),
    "lost-updates": (lambda h: h.write(1, "k", "a"), lambda h: h.member(1, "add", "s", "x")),
    "counter": (lambda h: h.add(1, "c", 1), lambda h: h.member(1, "add", "s", "x")),
    "bank": (lambda h: h.withdraw(1, "a", 5), lambda h: h.read(1, "a", -5)),
    "convergence": (lambda h: h.final("t", {}, regions=("us-east",)),
                    lambda h: h.write(1, "k", "a")),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_checker_is_unknown_without_final_reads_and_left_out_without_its_operations(name):
    reads, other = History(), History()
    READS[name][0](reads)
    READS[name][1](other)
    assert CHECKERS[name](other.ops) is None
    result = CHECKERS[name](reads.ops)
    assert result["valid"] == "unknown"
    assert "no final reads" in result["reason"] or "fewer than two regions" in result["reason"]


def fake(valid: Any):
    return lambda history: None if valid is None else {"valid": valid}


@pytest.mark.parametrize(("valids", "verdict"), [
    ([True, True], True), ([True, "unknown"], "unknown"), (["unknown", False, True], False),
    ([None, True], True), ([False, None], False)])
def test_the_verdict_is_false_above_unknown_above_true(monkeypatch, valids, verdict):
    fakes = {f"c{n}": fake(v) for n, v in enumerate(valids)}
    monkeypatch.setattr(checkers_module, "CHECKERS", fakes)
    result = check([])
    assert result["valid"] == verdict
    assert sorted(result["checkers"]) == [n for n, v in zip(fakes, valids, strict=True)
                                          if v is not None]


def test_a_crashing_checker_is_unknown_with_a_one_line_error(monkeypatch):
    def crash(history):
        raise ValueError("two\nlines")

    monkeypatch.setattr(checkers_module, "CHECKERS", {"ok": fake(True), "crash": crash})
    result = check([])
    assert result["valid"] == "unknown"
    assert result["checkers"]["crash"] == {"valid": "unknown", "error": "ValueError: two"}
    assert result["checkers"]["ok"] == {"valid": True}


def test_when_no_checker_applies_the_verdict_is_unknown_with_a_reason():
    h = History()
    h.emit("nemesis", "info", "partition", None)
    result = check(h.ops)
    assert result["valid"] == "unknown" and result["checkers"] == {}
    assert "no checker applies" in result["reason"]


def test_a_malformed_operation_makes_every_checker_unknown_with_an_error_naming_it():
    h = counter_history()
    h.final("counter", {"c": {"id": "c", "n": 3}})
    bad = h.add(4, "c", 1)
    del h.ops[bad - 1]["value"]["delta"]
    result = check(h.ops)
    assert result["valid"] == "unknown"
    error = {"valid": "unknown", "error": f"ValueError: op {bad - 1}: the invoke add value "
                                          "needs 'delta'"}
    assert result["checkers"] == dict.fromkeys(CHECKERS, error)


def test_check_runs_the_named_checkers_only_and_refuses_unknown_names():
    h, _ = register_history()
    result = check(h.ops, ["lost", "convergence"])
    assert result == {"valid": True, "checkers": {"lost": lost(h.ops),
                                                  "convergence": convergence(h.ops)}}
    assert check(h.ops)["valid"] == "unknown"  # lost-updates: no conflict feed
    with pytest.raises(ValueError, match="unknown checker 'lineariz'"):
        check(h.ops, ["lineariz"])
    assert list(CHECKERS) == ["duplicates", "lost", "convergence", "lost-updates", "counter",
                              "bank"]


# -- interleaving ------------------------------------------------------------------------------


def process_ops(p: int, deltas: list[tuple[int, str]], writes: int, rnd: random.Random) -> dict:
    """Process p's own history (counter c{p}, register r{p}) and the final items it leaves."""
    h = History()
    total, previous = 0, None
    for n, (delta, how) in enumerate(deltas):
        h.add(p, f"c{p}", delta, type_=how)
        total += delta if how == "ok" else 0
        if n < writes:
            h.write(p, f"r{p}", f"{p}-{n}", replaced=previous)
            previous = f"{p}-{n}"
    final = {f"c{p}": {"id": f"c{p}", "n": total + rnd.choice([0, 0, 50])}}
    if previous:
        final[f"r{p}"] = reg(f"r{p}", previous)
    return {"ops": h.ops, "final": final}


@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(-3, 3),
                                             st.sampled_from(["ok", "info", "fail"])),
                                   min_size=1, max_size=6), st.integers(0, 6)),
                min_size=2, max_size=4), st.randoms())
def test_the_verdict_does_not_depend_on_how_processes_interleave(spec, rnd):
    procs = [process_ops(p, deltas, writes, rnd) for p, (deltas, writes) in enumerate(spec)]
    items = {k: v for proc in procs for k, v in proc["final"].items()}

    def history(ops: list[dict]) -> list[dict]:
        h = History()
        h.ops = [{**op, "index": n} for n, op in enumerate(ops)]
        h.final("t", items)
        h.conflicts()
        return h.ops

    sequential = [op for proc in procs for op in proc["ops"]]
    queues = [list(proc["ops"]) for proc in procs]
    turns = [p for p, q in enumerate(queues) for _ in q]
    rnd.shuffle(turns)
    interleaved = [queues[p].pop(0) for p in turns]
    one, other = check(history(sequential)), check(history(interleaved))
    assert one["valid"] == other["valid"]
    assert {n: r["valid"] for n, r in one["checkers"].items()} == {
        n: r["valid"] for n, r in other["checkers"].items()}
