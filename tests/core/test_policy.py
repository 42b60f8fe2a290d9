"""Conflict policies: last-writer-wins merge, idempotence and convergence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.causality import Order, compare, join
from georep.core.hlc import HybridClock, Timestamp
from georep.core.meta import Version, stamp
from georep.core.policies import policy_named
from georep.core.policy import Conflict, LastWriterWins, Merge

LWW = LastWriterWins()


def attrs(value: str) -> dict:
    return {"id": {"S": "k"}, "v": {"S": value}}


def write(value, *, origin, ms, base=None, logical=0) -> Version:
    return stamp(attrs(value), base.meta if base else None, origin=origin,
                 ts=Timestamp(ms, logical))


def concurrent_pair() -> tuple[Version, Version]:
    root = write("root", origin="us-east", ms=100)
    east = write("east", origin="us-east", ms=300, base=root)
    west = write("west", origin="eu-west", ms=200, base=root)
    assert compare(east.meta.vv, west.meta.vv) is Order.CONCURRENT
    return east, west


def test_merge_into_empty_destination_writes_incoming() -> None:
    v = write("a", origin="us-east", ms=1)
    assert LWW.merge(None, v) == Merge(v)
    assert not LWW.merge(None, v).suppressed


def test_merge_of_dominated_incoming_is_suppressed() -> None:
    old = write("old", origin="us-east", ms=1)
    new = write("new", origin="eu-west", ms=2, base=old)
    out = LWW.merge(new, old)
    assert out.write is None
    assert out.suppressed
    assert out.conflict is None


def test_merge_of_equal_version_is_suppressed() -> None:
    v = write("a", origin="us-east", ms=1)
    assert LWW.merge(v, v).suppressed
    assert LWW.merge(v, v.written_by("replicator")).suppressed


def test_merge_of_dominating_incoming_writes_it_without_conflict() -> None:
    old = write("old", origin="us-east", ms=1)
    new = write("new", origin="eu-west", ms=2, base=old)
    out = LWW.merge(old, new)
    assert out.write == new
    assert out.conflict is None


def test_dominating_incoming_wins_even_with_a_lower_rank() -> None:
    # causality beats the clock: a write that has seen the destination replaces it silently
    old = write("old", origin="us-east", ms=500)
    new = write("new", origin="ap-south", ms=400, base=old)
    assert new.meta.rank < old.meta.rank
    out = LWW.merge(old, new)
    assert out.write == new
    assert out.conflict is None


@pytest.mark.parametrize("incoming_first", [True, False])
def test_concurrent_versions_greater_rank_wins_and_loser_is_recorded(
    incoming_first: bool,
) -> None:
    east, west = concurrent_pair()
    current, incoming = (west, east) if incoming_first else (east, west)
    out = LWW.merge(current, incoming)
    assert out.write is not None
    assert out.write.attrs == east.attrs  # greater HLC
    assert out.write.meta.rank == east.meta.rank
    assert out.write.meta.vv == join(east.meta.vv, west.meta.vv)
    assert out.conflict == Conflict("lww", out.write, (west,))


def test_concurrent_equal_hlc_breaks_tie_by_origin() -> None:
    a = write("a", origin="ap-south", ms=50)
    b = write("b", origin="eu-west", ms=50)
    out = LWW.merge(a, b)
    assert out.write is not None and out.write.attrs == b.attrs
    assert out.conflict is not None and out.conflict.losers == (a,)


def test_concurrent_equal_hlc_breaks_tie_by_tie_before_origin() -> None:
    a = stamp(attrs("a"), None, origin="us-east", ts=Timestamp(50, 0), tie=9)
    b = stamp(attrs("b"), None, origin="eu-west", ts=Timestamp(50, 0), tie=3)
    out = LWW.merge(b, a)
    assert out.write is not None and out.write.attrs == a.attrs


def test_merged_result_merged_again_with_either_input_is_suppressed() -> None:
    east, west = concurrent_pair()
    result = LWW.merge(west, east).write
    assert result is not None
    assert LWW.merge(result, east).suppressed
    assert LWW.merge(result, west).suppressed
    assert LWW.merge(result, result).suppressed


def test_policy_named_lww() -> None:
    policy = policy_named("lww")
    assert isinstance(policy, LastWriterWins)
    assert policy.name == "lww"


def test_policy_named_unknown_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"unknown conflict policy 'nope' \(known: .*lww"):
        policy_named("nope")


REGIONS = ("us-east", "eu-west", "ap-south")


@st.composite
def histories(draw) -> list[Version]:
    """Versions of one item written across 2-3 regions with skewed HLCs.

    Each write happens at a region (whose physical clock is offset by up to +-5 s) and either
    starts from nothing or builds on a version written earlier (which that region has seen, so
    its clock observes the version's timestamp first).
    """
    regions = REGIONS[: draw(st.integers(2, 3))]
    skew = {r: draw(st.integers(-5_000, 5_000)) for r in regions}
    clocks = {r: HybridClock() for r in regions}
    now = 1_000_000
    versions: list[Version] = []
    for i in range(draw(st.integers(1, 8))):
        now += draw(st.integers(0, 3_000))
        region = draw(st.sampled_from(regions))
        physical = now + skew[region]
        base = None
        if versions and draw(st.booleans()):
            base = draw(st.sampled_from(versions))
            ts = clocks[region].observe(base.meta.timestamp, physical)
        else:
            ts = clocks[region].now(physical)
        tombstone = draw(st.integers(0, 5)) == 0
        versions.append(stamp(attrs(f"w{i}"), base.meta if base else None, origin=region,
                              ts=ts, tombstone=tombstone))
    return versions


def deliver(state: Version | None, versions: list[Version]) -> Version | None:
    for v in versions:
        out = LWW.merge(state, v)
        if out.write is not None:
            state = out.write
    return state


@settings(deadline=None)
@given(st.data())
def test_lww_converges_regardless_of_delivery_order(data) -> None:
    versions = data.draw(histories())
    order_a = data.draw(st.permutations(versions))
    order_b = data.draw(st.permutations(versions))
    final_a = deliver(None, order_a)
    final_b = deliver(None, order_b)
    assert final_a is not None and final_b is not None
    assert final_a.attrs == final_b.attrs
    assert final_a.meta == final_b.meta
    # the survivor is the greatest-ranked write and has seen every delivered version
    assert final_a.meta.rank == max(v.meta.rank for v in versions)
    for v in versions:
        assert compare(final_a.meta.vv, v.meta.vv) in (Order.AFTER, Order.EQUAL)


@settings(deadline=None)
@given(st.data())
def test_lww_redelivering_everything_changes_nothing(data) -> None:
    versions = data.draw(histories())
    final = deliver(None, data.draw(st.permutations(versions)))
    for v in data.draw(st.permutations(versions)):
        assert LWW.merge(final, v).suppressed
    assert deliver(final, versions) == final
