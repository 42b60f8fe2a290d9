"""The counter and bank checkers (georep.core.checkers.numeric) on hand-made histories: each
passes a good history, fails a bad one naming the key, region and bounds at fault, and says
"unknown" when the history cannot decide."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from georep.core.checkers import bank, counter

from .test_history import REGIONS, History

# -- counter -----------------------------------------------------------------------------------


def counter_history() -> History:
    """ok +5, ok -2, info +4, info -1, fail +100: the final value lies in [2, 7]."""
    h = History()
    h.add(1, "c", 5)
    h.add(2, "c", -2)
    h.add(1, "c", 4, type_="info")
    h.add(2, "c", -1, type_=None)  # outstanding at the end: counts as info
    h.add(3, "c", 100, type_="fail")
    h.read(3, "c", 1000)  # reads are in flight: not checked
    return h


@pytest.mark.parametrize("n", [2, 3, 7])
def test_a_final_value_within_ok_and_info_bounds_is_valid(n):
    h = counter_history()
    h.final("counter", {"c": {"id": "c", "n": n}})
    assert counter(h.ops)["valid"] is True


@pytest.mark.parametrize("n", [1, 8, 107])
def test_a_final_value_outside_the_bounds_names_key_region_value_and_bounds(n):
    h = counter_history()
    h.final("counter", {"c": {"id": "c", "n": 3}}, regions=("us-east",))
    h.final("counter", {"c": {"id": "c", "n": n}}, regions=("eu-west",))
    result = counter(h.ops)
    assert result["valid"] is False
    assert result["out_of_bounds"] == [{"key": "c", "table": "counter", "region": "eu-west",
                                        "value": n, "expected": [2, 7]}]


@pytest.mark.parametrize("n", ["nan", "inf", "1e999"])
def test_a_final_value_that_is_not_a_finite_number_is_an_error_not_a_verdict(n):
    h = counter_history()
    h.final("counter", {"c": {"id": "c", "n": n}})
    with pytest.raises(ValueError, match="not a finite number"):
        counter(h.ops)


def test_an_absent_counter_is_zero():
    h = History()
    h.add(1, "c", 3, type_="info")
    h.final("counter", {"c": None})
    assert counter(h.ops)["valid"] is True
    h.add(1, "c", 1)
    assert counter(h.ops)["out_of_bounds_count"] == len(REGIONS)


@given(st.lists(st.tuples(st.integers(-5, 5), st.sampled_from(["ok", "info", "fail"]),
                          st.booleans()), min_size=1, max_size=12))
def test_any_subset_of_info_adds_having_happened_is_valid(ops):
    h = History()
    final = 0
    for delta, how, happened in ops:
        h.add(1, "c", delta, type_=how)
        final += delta if how == "ok" or (how == "info" and happened) else 0
    h.final("counter", {"c": {"id": "c", "n": final}})
    assert counter(h.ops)["valid"] is True


# -- bank --------------------------------------------------------------------------------------


def bank_history() -> History:
    """a: 100 deposited, ok -30, info -20, fail -500: the balance lies in [50, 70]."""
    h = History()
    h.deposit("a", 60)
    h.deposit("a", 40)
    h.withdraw(1, "a", 30)
    h.withdraw(2, "a", 20, type_="info")
    h.withdraw(1, "a", 500, type_="fail")
    h.read(1, "a", 70)
    h.add(3, "c", -4)
    h.read(3, "c", -4)  # a counter's read: no account
    return h


@pytest.mark.parametrize("balance", [50, 70])
def test_a_conserved_non_negative_balance_is_valid(balance):
    h = bank_history()
    h.final("bank", {"a": {"id": "a", "balance": balance}, "c": {"id": "c", "n": -4}})
    assert bank(h.ops)["valid"] is True


def test_a_balance_outside_the_conserved_range_is_not_conserved():
    h = bank_history()
    h.final("bank", {"a": {"id": "a", "balance": 45}}, regions=("us-east",))
    h.final("bank", {"a": {"id": "a", "balance": 50}}, regions=("eu-west",))
    result = bank(h.ops)
    assert result["valid"] is False and result["below_zero"] == []
    assert result["not_conserved"] == [{"key": "a", "table": "bank", "region": "us-east",
                                        "value": 45, "expected": [50, 70]}]


def test_an_info_deposit_raises_only_the_upper_bound():
    h = History()
    h.deposit("a", 10)
    h.op("setup", "deposit", {"key": "a", "amount": 5}, "info")
    h.final("bank", {"a": {"id": "a", "balance": 15}}, regions=("us-east",))
    h.final("bank", {"a": {"id": "a", "balance": 9}}, regions=("eu-west",))
    assert [(f["region"], f["expected"]) for f in bank(h.ops)["not_conserved"]] == [
        ("eu-west", [10, 15])]


def test_a_read_below_zero_is_invalid_even_without_final_reads():
    h = bank_history()
    at = h.read(2, "a", -5)
    result = bank(h.ops)
    assert result["valid"] is False
    assert result["below_zero"] == [{"key": "a", "value": -5, "index": at}]


def test_a_final_balance_below_zero_names_the_region():
    h = History()
    h.withdraw(1, "a", 5, type_="info")
    h.final("bank", {"a": {"id": "a", "balance": -5}}, regions=("eu-west",))
    result = bank(h.ops)
    assert result["valid"] is False and result["not_conserved"] == []
    assert result["below_zero"] == [{"key": "a", "table": "bank", "region": "eu-west",
                                     "balance": -5}]
