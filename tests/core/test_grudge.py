"""Grudges, pure: the builders, the algebra, the JSON form and the translation to proxies."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from georep.core.grudge import (
    Grudge,
    ProxyDrops,
    between,
    halves,
    heal,
    isolate,
    link_flows,
    one_way,
    partition,
    proxy_drops,
)

NAMES = ["us-east", "eu-west", "ap-south", "sa-east", "af-south"]
regions = st.lists(st.sampled_from(NAMES), min_size=2, max_size=5, unique=True)


@st.composite
def pairs(draw, names=NAMES):
    a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    return a, b


@st.composite
def grudges(draw):
    flows = draw(st.frozensets(pairs()))
    return Grudge(frozenset(flows))


def all_flows(names):
    return [(x, y) for x, y in itertools.permutations(names, 2)]


@given(pairs())
def test_one_way_drops_only_the_bytes_a_sends_to_b(pair):
    a, b = pair
    grudge = one_way(a, b)
    assert [f for f in all_flows(NAMES) if grudge.cuts(*f)] == [(a, b)]
    assert grudge.regions == {a, b}
    assert grudge.dropped_by(b) == {a} and grudge.dropped_by(a) == set()


@given(pairs())
def test_a_partition_is_both_one_way_cuts(pair):
    a, b = pair
    assert partition(a, b) == one_way(a, b) | one_way(b, a) == partition(b, a)


@given(regions, st.data())
def test_isolate_cuts_every_link_of_the_region_and_no_other(names, data):
    r = data.draw(st.sampled_from(names))
    grudge = isolate(r, names)
    for x, y in all_flows(names):
        assert grudge.cuts(x, y) == (r in (x, y))
    assert grudge.dropped_by(r) == set(names) - {r}


@given(grudges(), pairs())
def test_healing_a_pair_lifts_that_pair_only(grudge, pair):
    a, b = pair
    healed = grudge.without(a, b)
    for x, y in all_flows(NAMES):
        assert healed.cuts(x, y) == (grudge.cuts(x, y) and {x, y} != {a, b})


@given(grudges(), grudges(), grudges())
def test_union_is_a_semilattice_with_heal_as_its_unit(x, y, z):
    assert x | y == y | x
    assert (x | y) | z == x | (y | z)
    assert x | x == x
    assert x | heal() == x
    assert not heal() and heal().describe() == "no cuts"


@given(grudges())
def test_to_dict_and_from_dict_round_trip(grudge):
    data = grudge.to_dict()
    assert data["v"] == 1
    assert Grudge.from_dict(data) == grudge
    assert data["flows"] == sorted(data["flows"])  # one grudge, one form


@given(regions, st.data())
def test_halves_cuts_two_groups_apart_and_is_deterministic(names, data):
    first = data.draw(st.integers(1, len(names) - 1))
    left, right = names[:first], names[first:]
    grudge = halves(names, first=first)
    assert grudge == halves(names, first=first) == between(left, right)
    assert grudge == halves(names, group=right)  # the same cut from either side
    for x, y in all_flows(names):
        assert grudge.cuts(x, y) == ((x in left) != (y in left))


@given(grudges(), pairs())
def test_the_proxy_on_src_dst_drops_requests_and_responses_by_flow(grudge, link):
    src, dst = link
    drops = proxy_drops(grudge, src, dst)
    assert drops == ProxyDrops(requests=grudge.cuts(src, dst), responses=grudge.cuts(dst, src))
    assert link_flows(src, dst) == ((src, dst), (dst, src))


def test_a_one_way_cut_on_the_two_links_of_a_pair():
    grudge = one_way("a", "b")
    assert proxy_drops(grudge, "a", "b") == (True, False)  # a's requests to b
    assert proxy_drops(grudge, "b", "a") == (False, True)  # a's responses to b's requests
    assert proxy_drops(grudge, "a", "c") == (False, False)


def test_describe_says_which_way():
    assert partition("a", "b").describe() == "a ↔ b"
    assert one_way("b", "a").describe() == "b → a"
    assert str(partition("a", "b") | one_way("c", "a")) == "a ↔ b, c → a"


def test_halves_defaults_to_the_first_half_and_refuses_an_empty_group():
    assert halves(["a", "b", "c"]) == between(["a"], ["b", "c"])
    for bad in ({"first": 0}, {"first": 3}, {"group": []}, {"group": ["a", "b", "c"]}):
        with pytest.raises(ValueError, match="two groups of at least one region"):
            halves(["a", "b", "c"], **bad)
    with pytest.raises(ValueError, match="not in the lab"):
        halves(["a", "b"], group=["z"])
    with pytest.raises(ValueError, match="first or group"):
        halves(["a", "b"], first=1, group=["a"])


@pytest.mark.parametrize("data, message", [
    ({"v": 2, "flows": []}, "not a grudge of format 1"),
    ([], "not a grudge of format 1"),
    ({"v": 1, "flows": "a>b"}, "must be a list"),
    ({"v": 1, "flows": [["a"]]}, "a pair of region names"),
    ({"v": 1, "flows": [["a", 5]]}, "a pair of region names"),
    ({"v": 1, "flows": [["a", "a"]]}, "two different regions"),
])
def test_from_dict_refuses_what_is_not_a_grudge_in_one_line(data, message):
    with pytest.raises(ValueError, match=message):
        Grudge.from_dict(data)
