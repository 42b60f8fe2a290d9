"""Hybrid logical clock: packing, monotonicity, receive ordering, overflow and total order."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.hlc import (
    LOGICAL_BITS,
    LOGICAL_MASK,
    ZERO,
    HybridClock,
    Timestamp,
    receive,
    tick,
)
from georep.core.meta import Meta

BOUNDED = settings(deadline=None)

physicals = st.integers(min_value=0, max_value=2**44)
logicals = st.integers(min_value=0, max_value=LOGICAL_MASK)
timestamps = st.builds(Timestamp, physicals, logicals)


def test_pack_layout_puts_physical_above_logical() -> None:
    assert Timestamp(5, 3).pack() == (5 << LOGICAL_BITS) | 3
    assert Timestamp.unpack((5 << LOGICAL_BITS) | 3) == Timestamp(5, 3)


@BOUNDED
@given(timestamps)
def test_pack_unpack_round_trip(ts: Timestamp) -> None:
    assert Timestamp.unpack(ts.pack()) == ts


@BOUNDED
@given(timestamps, timestamps)
def test_packed_order_matches_timestamp_order(a: Timestamp, b: Timestamp) -> None:
    assert (a < b) == (a.pack() < b.pack())
    assert (a == b) == (a.pack() == b.pack())


def test_tick_takes_physical_time_when_it_moves_forward() -> None:
    assert tick(Timestamp(100, 7), 200) == Timestamp(200, 0)


def test_tick_is_strictly_monotonic_when_physical_time_stands_still() -> None:
    t1 = tick(ZERO, 1000)
    t2 = tick(t1, 1000)
    t3 = tick(t2, 1000)
    assert t1 < t2 < t3
    assert t3 == Timestamp(1000, 2)


def test_tick_is_strictly_monotonic_when_physical_time_goes_backwards() -> None:
    t1 = tick(ZERO, 5000)
    t2 = tick(t1, 4000)
    t3 = tick(t2, 10)
    assert t1 < t2 < t3
    assert t3.physical == 5000


@BOUNDED
@given(st.lists(physicals, min_size=1, max_size=50))
def test_clock_now_is_strictly_monotonic_for_any_physical_sequence(times: list[int]) -> None:
    clock = HybridClock()
    stamps = [clock.now(ms) for ms in times]
    assert all(a < b for a, b in pairwise(stamps))
    assert all(s.physical >= ms for s, ms in zip(stamps, times, strict=True))


def test_receive_orders_after_remote_ahead_of_local() -> None:
    local = Timestamp(1000, 0)
    remote = Timestamp(9000, 4)
    out = receive(local, remote, 1200)
    assert out > remote
    assert out > local


def test_receive_orders_after_local_ahead_of_remote() -> None:
    local = Timestamp(9000, 4)
    remote = Timestamp(1000, 0)
    out = receive(local, remote, 1200)
    assert out > local
    assert out > remote


def test_receive_uses_physical_time_when_it_is_ahead_of_both() -> None:
    assert receive(Timestamp(10, 3), Timestamp(20, 5), 30) == Timestamp(30, 0)


def test_region_with_clock_five_seconds_behind_stamps_after_observed_remote() -> None:
    true_ms = 1_700_000_000_000
    ahead = HybridClock()
    behind = HybridClock()
    remote = ahead.now(true_ms)
    seen = behind.observe(remote, true_ms - 5000)
    assert seen > remote
    later = behind.now(true_ms - 4999)  # its own clock moved on, but not past the remote stamp
    assert later > seen > remote


@BOUNDED
@given(timestamps, timestamps, physicals)
def test_receive_is_after_both_inputs(last: Timestamp, remote: Timestamp, ms: int) -> None:
    out = receive(last, remote, ms)
    assert out > last
    assert out > remote
    assert out.physical >= ms


@BOUNDED
@given(
    st.lists(
        st.tuples(st.booleans(), timestamps, physicals), min_size=1, max_size=40
    )
)
def test_clock_mixing_now_and_observe_stays_monotonic(
    events: list[tuple[bool, Timestamp, int]],
) -> None:
    clock = HybridClock()
    previous = clock.last
    for is_receive, remote, ms in events:
        out = clock.observe(remote, ms) if is_receive else clock.now(ms)
        assert out > previous
        if is_receive:
            assert out > remote
        previous = out


def test_logical_overflow_carries_into_physical() -> None:
    full = Timestamp(42, LOGICAL_MASK)
    nxt = tick(full, 42)
    assert nxt == Timestamp(43, 0)
    assert nxt > full
    assert nxt.pack() == full.pack() + 1


def test_logical_overflow_stays_monotonic_over_many_ticks() -> None:
    clock = HybridClock(Timestamp(7, LOGICAL_MASK - 2))
    stamps = [clock.now(7) for _ in range(6)]
    assert all(a < b for a, b in pairwise(stamps))
    assert stamps[-1] == Timestamp(8, 3)
    # once the physical clock reaches the carried value the clock continues from it
    assert clock.now(8) == Timestamp(8, 4)
    assert clock.now(9) == Timestamp(9, 0)


@BOUNDED
@given(timestamps)
def test_successor_is_the_next_packed_value(ts: Timestamp) -> None:
    nxt = ts.successor()
    assert nxt > ts
    assert nxt.pack() == ts.pack() + 1
    assert 0 <= nxt.logical <= LOGICAL_MASK


def _meta(hlc: int, tie: int, origin: str) -> Meta:
    return Meta(hlc, tie, origin, "client", False, {origin: (hlc, tie)}, "d")


def test_total_order_breaks_hlc_ties_by_tie_then_origin() -> None:
    h = Timestamp(1000, 0).pack()
    metas = [
        _meta(h + 1, 0, "a-first"),
        _meta(h, 5, "a-first"),
        _meta(h, 0, "us-east"),
        _meta(h, 5, "eu-west"),
        _meta(h, 0, "eu-west"),
    ]
    ordered = sorted(metas, key=lambda m: m.rank)
    assert [(m.hlc - h, m.tie, m.origin) for m in ordered] == [
        (0, 0, "eu-west"),
        (0, 0, "us-east"),
        (0, 5, "a-first"),
        (0, 5, "eu-west"),
        (1, 0, "a-first"),
    ]


@BOUNDED
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**40),
            st.integers(0, 100),
            st.sampled_from(["us-east", "eu-west", "ap-south"]),
        ),
        min_size=2,
        max_size=20,
        unique=True,
    )
)
def test_rank_is_a_strict_total_order_on_distinct_stamps(
    stamps: list[tuple[int, int, str]],
) -> None:
    ranks = [_meta(h, q, o).rank for h, q, o in stamps]
    assert len(set(ranks)) == len(ranks)
    assert sorted(ranks) == sorted(stamps)
