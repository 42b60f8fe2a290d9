"""Version vectors: compare, join and advance."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.causality import ZERO_DOT, Order, advance, compare, join

BOUNDED = settings(deadline=None)

regions = st.sampled_from(["us-east", "eu-west", "ap-south", "sa-east"])
dots = st.tuples(st.integers(0, 50), st.integers(0, 3))
vectors = st.dictionaries(regions, dots, max_size=4)


def dominates_or_equal(left, right) -> bool:
    return compare(left, right) in (Order.AFTER, Order.EQUAL)


def test_compare_equal_vectors() -> None:
    assert compare({"a": (3, 0), "b": (1, 2)}, {"b": (1, 2), "a": (3, 0)}) is Order.EQUAL


def test_compare_empty_vectors_are_equal() -> None:
    assert compare({}, {}) is Order.EQUAL


def test_compare_missing_entry_counts_as_zero_dot() -> None:
    assert compare({"a": (1, 0), "b": ZERO_DOT}, {"a": (1, 0)}) is Order.EQUAL


def test_compare_before_when_left_is_strictly_dominated() -> None:
    assert compare({"a": (1, 0)}, {"a": (2, 0)}) is Order.BEFORE
    assert compare({"a": (1, 0)}, {"a": (1, 0), "b": (1, 0)}) is Order.BEFORE
    assert compare({}, {"a": (1, 0)}) is Order.BEFORE


def test_compare_after_when_left_strictly_dominates() -> None:
    assert compare({"a": (2, 0)}, {"a": (1, 0)}) is Order.AFTER
    assert compare({"a": (1, 0), "b": (1, 0)}, {"a": (1, 0)}) is Order.AFTER


def test_compare_tie_part_of_the_dot_orders_within_one_hlc() -> None:
    assert compare({"a": (5, 1)}, {"a": (5, 2)}) is Order.BEFORE
    assert compare({"a": (5, 2)}, {"a": (5, 1)}) is Order.AFTER


def test_compare_concurrent_when_each_has_seen_something_the_other_has_not() -> None:
    assert compare({"a": (2, 0)}, {"b": (1, 0)}) is Order.CONCURRENT
    assert compare({"a": (2, 0), "b": (1, 0)}, {"a": (1, 0), "b": (2, 0)}) is Order.CONCURRENT


@BOUNDED
@given(vectors, vectors)
def test_compare_is_antisymmetric(a, b) -> None:
    mirror = {
        Order.EQUAL: Order.EQUAL,
        Order.BEFORE: Order.AFTER,
        Order.AFTER: Order.BEFORE,
        Order.CONCURRENT: Order.CONCURRENT,
    }
    assert compare(b, a) is mirror[compare(a, b)]


@BOUNDED
@given(vectors, vectors)
def test_join_is_commutative(a, b) -> None:
    assert compare(join(a, b), join(b, a)) is Order.EQUAL


@BOUNDED
@given(vectors, vectors, vectors)
def test_join_is_associative(a, b, c) -> None:
    assert compare(join(join(a, b), c), join(a, join(b, c))) is Order.EQUAL


@BOUNDED
@given(vectors)
def test_join_is_idempotent(a) -> None:
    assert join(a, a) == dict(a)


@BOUNDED
@given(vectors, vectors)
def test_join_dominates_both_and_is_the_least_such_vector(a, b) -> None:
    j = join(a, b)
    assert dominates_or_equal(j, a)
    assert dominates_or_equal(j, b)
    for region, dot in j.items():
        assert dot == max(a.get(region, ZERO_DOT), b.get(region, ZERO_DOT))


def test_join_does_not_mutate_its_inputs() -> None:
    a = {"a": (1, 0)}
    b = {"a": (2, 0), "b": (1, 0)}
    assert join(a, b) == {"a": (2, 0), "b": (1, 0)}
    assert a == {"a": (1, 0)}


def test_advance_sets_the_region_entry_and_keeps_others() -> None:
    base = {"us-east": (3, 0), "eu-west": (4, 0)}
    out = advance(base, "us-east", (9, 0))
    assert out == {"us-east": (9, 0), "eu-west": (4, 0)}
    assert base == {"us-east": (3, 0), "eu-west": (4, 0)}
    assert compare(out, base) is Order.AFTER


def test_advance_adds_a_missing_region() -> None:
    assert advance({"eu-west": (4, 0)}, "us-east", (1, 7)) == {
        "eu-west": (4, 0),
        "us-east": (1, 7),
    }


def test_advance_never_moves_an_entry_backwards() -> None:
    assert advance({"us-east": (9, 0)}, "us-east", (3, 0)) == {"us-east": (9, 0)}


@BOUNDED
@given(vectors, regions, dots)
def test_advance_result_dominates_or_equals_its_input(vector, region, dot) -> None:
    out = advance(vector, region, dot)
    assert dominates_or_equal(out, vector)
    assert out[region] >= dot
