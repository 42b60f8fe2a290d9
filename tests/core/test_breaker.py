"""Circuit breaker: every transition, driven by virtual time (plain floats), never by sleeping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.breaker import BreakerState, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def opened(threshold: int = 3, cooldown: float = 5.0, at: float = 10.0, **kw) -> CircuitBreaker:
    """A breaker that opened at time ``at`` after ``threshold`` failures."""
    b = CircuitBreaker(failure_threshold=threshold, cooldown_s=cooldown, **kw)
    for _ in range(threshold):
        b.record_failure(at, "timeout")
    assert b.state is OPEN
    return b


def test_state_values_are_the_documented_strings() -> None:
    assert [s.value for s in BreakerState] == ["closed", "open", "half-open"]


def test_a_new_breaker_is_closed_and_allows() -> None:
    b = CircuitBreaker()
    assert b.state is CLOSED
    assert b.allow(0.0)
    assert b.opened_at is None
    assert b.consecutive_failures == 0
    assert b.transitions == []


def test_opens_after_exactly_threshold_consecutive_failures() -> None:
    b = CircuitBreaker(failure_threshold=4)
    for n in range(1, 4):
        b.record_failure(float(n))
        assert b.state is CLOSED
        assert b.consecutive_failures == n
        assert b.allow(float(n))
    b.record_failure(4.0)
    assert b.state is OPEN
    assert b.consecutive_failures == 4
    assert b.opened_at == 4.0


def test_threshold_one_opens_on_the_first_failure() -> None:
    b = CircuitBreaker(failure_threshold=1)
    b.record_failure(2.0)
    assert b.state is OPEN


def test_a_success_in_between_resets_the_failure_count() -> None:
    b = CircuitBreaker(failure_threshold=3)
    b.record_failure(1.0)
    b.record_failure(2.0)
    b.record_success(3.0)
    assert b.consecutive_failures == 0
    b.record_failure(4.0)
    b.record_failure(5.0)
    assert b.state is CLOSED
    b.record_failure(6.0)
    assert b.state is OPEN


def test_open_refuses_until_the_cooldown_has_elapsed() -> None:
    b = opened(cooldown=5.0, at=10.0)
    for t in (10.0, 12.5, 14.999):
        assert not b.allow(t)
        assert b.state is OPEN
    assert b.allow(15.0)
    assert b.state is HALF_OPEN


def test_exactly_one_probe_is_allowed_in_half_open() -> None:
    b = opened(cooldown=5.0, at=10.0)
    assert b.allow(15.0)
    assert [b.allow(t) for t in (15.0, 16.0, 100.0)] == [False, False, False]
    assert b.state is HALF_OPEN


def test_a_successful_probe_closes_the_breaker() -> None:
    b = opened(cooldown=5.0, at=10.0)
    assert b.allow(15.0)
    b.record_success(15.5)
    assert b.state is CLOSED
    assert b.consecutive_failures == 0
    assert b.opened_at is None
    assert b.allow(15.6)


def test_a_failed_probe_reopens_and_restarts_the_cooldown() -> None:
    b = opened(cooldown=5.0, at=10.0)
    assert b.allow(15.0)
    b.record_failure(16.0, "timeout")
    assert b.state is OPEN
    assert b.opened_at == 16.0
    # the old cool-down (10 + 5) would have let this through; the new one runs to 21
    assert not b.allow(20.9)
    assert b.allow(21.0)
    assert b.state is HALF_OPEN


def test_after_closing_the_full_threshold_is_needed_to_open_again() -> None:
    b = opened(threshold=3, cooldown=5.0, at=10.0)
    assert b.allow(15.0)
    b.record_success(15.0)
    b.record_failure(16.0)
    b.record_failure(17.0)
    assert b.state is CLOSED
    b.record_failure(18.0)
    assert b.state is OPEN


def test_late_results_while_open_change_nothing() -> None:
    b = opened(cooldown=5.0, at=10.0)
    b.record_success(11.0)
    b.record_failure(12.0, "straggler")
    assert b.state is OPEN
    assert b.opened_at == 10.0
    assert b.allow(15.0)


def test_transitions_and_on_transition_record_each_change_with_its_reason() -> None:
    seen: list[tuple[BreakerState, BreakerState, str]] = []
    b = CircuitBreaker(failure_threshold=2, cooldown_s=1.0, on_transition=lambda *a: seen.append(a))
    b.record_failure(0.0, "timeout")
    b.record_failure(0.5, "timeout")
    b.allow(1.5)
    b.record_failure(1.6, "connection refused")
    b.allow(2.6)
    b.record_success(2.7)
    assert b.transitions == [
        (0.5, "closed", "open", "2 consecutive failures: timeout"),
        (1.5, "open", "half-open", "cool-down elapsed"),
        (1.6, "half-open", "open", "probe failed: connection refused"),
        (2.6, "open", "half-open", "cool-down elapsed"),
        (2.7, "half-open", "closed", "probe succeeded"),
    ]
    assert seen == [
        (BreakerState(frm), BreakerState(to), reason) for _, frm, to, reason in b.transitions
    ]


def test_no_transition_is_recorded_when_the_state_does_not_change() -> None:
    seen: list[object] = []
    b = CircuitBreaker(failure_threshold=3, on_transition=lambda *a: seen.append(a))
    b.record_failure(0.0)
    b.record_success(1.0)
    b.allow(2.0)
    assert b.transitions == []
    assert seen == []


def test_failure_reasons_are_optional() -> None:
    b = opened(threshold=1, cooldown=1.0, at=0.0)
    b.allow(1.0)
    b.record_failure(1.0)
    assert [t[3] for t in b.transitions] == [
        "1 consecutive failures: timeout",
        "cool-down elapsed",
        "probe failed",
    ]


def test_retry_in_counts_down_while_open_and_is_zero_otherwise() -> None:
    b = CircuitBreaker(failure_threshold=1, cooldown_s=5.0)
    assert b.retry_in(0.0) == 0.0
    b.record_failure(10.0)
    assert b.retry_in(10.0) == 5.0
    assert b.retry_in(12.0) == 3.0
    assert b.retry_in(15.0) == 0.0
    assert b.retry_in(99.0) == 0.0
    assert b.allow(15.0)
    assert b.retry_in(15.0) == 0.0  # half-open: the probe is out


@pytest.mark.parametrize("threshold", [0, -1])
def test_a_threshold_below_one_is_rejected_naming_the_argument(threshold: int) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=threshold)


@pytest.mark.parametrize("threshold", [2.5, True, "3"])
def test_a_non_integer_threshold_is_rejected_naming_the_argument(threshold: object) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=threshold)  # type: ignore[arg-type]


@pytest.mark.parametrize("cooldown", [0.0, -1.0, math.nan, math.inf])
def test_a_cooldown_that_is_not_positive_and_finite_is_rejected_naming_it(cooldown: float) -> None:
    with pytest.raises(ValueError, match="cooldown_s"):
        CircuitBreaker(cooldown_s=cooldown)


OPS = st.lists(
    st.tuples(st.sampled_from(["allow", "success", "failure"]), st.floats(0.0, 3.0)),
    max_size=80,
)


@settings(deadline=None)
@given(OPS, st.integers(1, 5), st.floats(0.1, 5.0))
def test_any_call_sequence_respects_the_state_machine(
    ops: list[tuple[str, float]], threshold: int, cooldown: float
) -> None:
    b = CircuitBreaker(failure_threshold=threshold, cooldown_s=cooldown)
    now = 0.0
    closed_run = 0  # failures recorded while CLOSED since it last closed or saw a success
    probes_out = 0
    for op, dt in ops:
        now += dt
        before = b.state
        n_transitions = len(b.transitions)
        if op == "allow":
            cooling = before is OPEN and now - b.opened_at < cooldown
            allowed = b.allow(now)
            if cooling:
                assert not allowed
                assert b.retry_in(now) > 0
            if before is HALF_OPEN:
                assert not allowed
            if allowed and before is not CLOSED:
                probes_out += 1
        elif op == "success":
            b.record_success(now)
            if before is CLOSED:
                closed_run = 0
        else:
            b.record_failure(now, "boom")
            if before is CLOSED:
                closed_run += 1

        assert b.state in (CLOSED, OPEN, HALF_OPEN)
        assert b.state is not HALF_OPEN or probes_out == 1
        for t, frm, to, reason in b.transitions[n_transitions:]:
            assert t == now
            assert frm == before.value
            if to == "open":
                assert op == "failure"
                assert (frm == "closed" and closed_run == threshold) or (
                    frm == "half-open" and reason.startswith("probe failed")
                )
        if b.state is not HALF_OPEN:
            probes_out = 0
        if b.state is CLOSED and before is not CLOSED:
            closed_run = 0
        if b.state is not OPEN:
            assert b.retry_in(now) == 0.0
    # the recorded history is one connected path starting from CLOSED
    states = [CLOSED.value] + [to for _, _, to, _ in b.transitions]
    assert [frm for _, frm, _, _ in b.transitions] == states[:-1]
    assert states[-1] == b.state.value
