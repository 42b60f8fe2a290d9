"""Retry budget: jittered backoff, bounded by a number of attempts and by a total time."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.backoff import full_jitter
from georep.core.retry import (
    ATTEMPTS_EXHAUSTED,
    BUDGET_EXHAUSTED,
    NON_RETRIABLE,
    RETRY,
    Attempts,
    Decision,
    RetryPolicy,
)

# a budget no test below reaches unless it means to
ROOMY = RetryPolicy(max_attempts=8, base_ms=50, cap_ms=2000, budget_s=1_000.0)


def fail_until_give_up(a: Attempts, now: float = 0.0) -> list[Decision]:
    """Fail every try, sleeping exactly the advised delay, until the attempts give up."""
    out = []
    while True:
        d = a.record_failure(now, retriable=True)
        out.append(d)
        if not d.retry:
            return out
        now += d.delay_s


def test_policy_defaults() -> None:
    assert RetryPolicy() == RetryPolicy(max_attempts=8, base_ms=50, cap_ms=2000, budget_s=30.0)


@settings(deadline=None)
@given(
    st.integers(1, 20),
    st.floats(0.001, 1_000),
    st.floats(1.0, 100.0),
    st.integers(0, 2**32),
)
def test_delays_stay_within_zero_and_the_capped_exponential_ceiling(
    max_attempts: int, base: float, cap_factor: float, seed: int
) -> None:
    policy = RetryPolicy(max_attempts, base, base * cap_factor, budget_s=1e9)
    decisions = fail_until_give_up(Attempts(policy, random.Random(seed), started=0.0))
    retries = [d for d in decisions if d.retry]
    for n, d in enumerate(retries):
        assert 0.0 <= d.delay_s * 1000 <= min(policy.cap_ms, base * 2**n) * (1 + 1e-12)


def test_delays_grow_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=12, base_ms=50, cap_ms=400, budget_s=1e9)
    top = [0.0] * 11
    for seed in range(300):
        decisions = fail_until_give_up(Attempts(policy, random.Random(seed), started=0.0))
        for n, d in enumerate(decisions[:-1]):
            top[n] = max(top[n], d.delay_s)
    # the largest delay seen per retry nears its ceiling: 50, 100, 200, then 400 ms for good
    for n, seen in enumerate(top):
        ceiling = min(400, 50 * 2**n) / 1000
        assert 0.9 * ceiling <= seen <= ceiling


@pytest.mark.parametrize("max_attempts", [1, 2, 5, 8])
def test_gives_up_after_exactly_max_attempts(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, budget_s=1_000.0)
    decisions = fail_until_give_up(Attempts(policy, random.Random(3), started=0.0))
    assert len(decisions) == max_attempts
    assert [d.attempts for d in decisions] == list(range(1, max_attempts + 1))
    assert all(d.retry and d.reason == RETRY for d in decisions[:-1])
    assert decisions[-1] == Decision(False, 0.0, max_attempts, ATTEMPTS_EXHAUSTED)


def test_gives_up_on_the_time_budget_even_when_attempts_remain() -> None:
    policy = RetryPolicy(max_attempts=100, base_ms=50, cap_ms=2000, budget_s=5.0)
    a = Attempts(policy, random.Random(11), started=100.0)
    # delays here are at most 50, 100, 200 ms: each lands well before the 105.0 deadline
    assert a.record_failure(101.0, retriable=True).retry
    assert a.record_failure(103.0, retriable=True).retry
    assert a.record_failure(104.0, retriable=True).retry
    # past the deadline no delay fits, however many attempts are left
    d = a.record_failure(105.5, retriable=True)
    assert d == Decision(False, 0.0, 4, BUDGET_EXHAUSTED)
    assert d.attempts < policy.max_attempts


def test_gives_up_when_the_drawn_delay_would_pass_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=100, base_ms=1000, cap_ms=1000, budget_s=10.0)
    # at 9.5 s, half a second is left and the first delay is uniform in [0, 1] s: over many
    # seeds some delays fit and some do not, and exactly the ones that fit are retried
    outcomes = set()
    for seed in range(50):
        d = Attempts(policy, random.Random(seed), started=0.0).record_failure(9.5, True)
        delay = full_jitter(0, 1000, 1000, random.Random(seed)) / 1000
        assert d.retry == (9.5 + delay <= 10.0)
        assert d.reason == (RETRY if d.retry else BUDGET_EXHAUSTED)
        outcomes.add(d.retry)
    assert outcomes == {True, False}


def test_a_long_outage_runs_out_of_time_before_attempts() -> None:
    policy = RetryPolicy(max_attempts=1_000, base_ms=50, cap_ms=2000, budget_s=30.0)
    a = Attempts(policy, random.Random(5), started=0.0)
    now, d = 0.0, None
    while d is None or d.retry:
        # each try itself takes a 1 s timeout before it fails
        now += 1.0
        d = a.record_failure(now, retriable=True)
        now += d.delay_s
    assert d.reason == BUDGET_EXHAUSTED
    assert d.attempts < 1_000
    assert a.last_failure is not None and a.last_failure <= 31.0


def test_a_non_retriable_failure_gives_up_at_once() -> None:
    a = Attempts(ROOMY, random.Random(1), started=0.0)
    assert a.record_failure(1.0, retriable=False) == Decision(False, 0.0, 1, NON_RETRIABLE)


def test_a_non_retriable_failure_after_retries_gives_up_at_once() -> None:
    a = Attempts(ROOMY, random.Random(1), started=0.0)
    assert a.record_failure(1.0, retriable=True).retry
    assert a.record_failure(2.0, retriable=True).retry
    assert a.record_failure(3.0, retriable=False) == Decision(False, 0.0, 3, NON_RETRIABLE)


def test_a_non_retriable_failure_draws_no_random_number() -> None:
    rng = random.Random(9)
    Attempts(ROOMY, rng, started=0.0).record_failure(1.0, retriable=False)
    assert rng.random() == random.Random(9).random()


def test_recording_after_giving_up_is_an_error() -> None:
    a = Attempts(ROOMY, random.Random(1), started=0.0)
    a.record_failure(1.0, retriable=False)
    assert a.gave_up == Decision(False, 0.0, 1, NON_RETRIABLE)
    with pytest.raises(RuntimeError, match="non-retriable"):
        a.record_failure(2.0, retriable=True)
    assert a.attempts == 1
    assert a.last_failure == 1.0


@settings(deadline=None)
@given(st.integers(0, 2**32), st.lists(st.booleans(), min_size=1, max_size=12))
def test_the_same_seed_gives_the_same_decisions(seed: int, retriable: list[bool]) -> None:
    policy = RetryPolicy(max_attempts=10, base_ms=50, cap_ms=2000, budget_s=3.0)

    def run() -> list[Decision]:
        a = Attempts(policy, random.Random(seed), started=0.0)
        out = []
        for i, r in enumerate(retriable):
            d = a.record_failure(0.4 * i, r)
            out.append(d)
            if not d.retry:
                break
        return out

    assert run() == run()


def test_different_seeds_give_different_delays() -> None:
    a = fail_until_give_up(Attempts(ROOMY, random.Random(1), started=0.0))
    b = fail_until_give_up(Attempts(ROOMY, random.Random(2), started=0.0))
    assert [d.delay_s for d in a] != [d.delay_s for d in b]


def test_first_and_last_failure_times_are_recorded() -> None:
    a = Attempts(ROOMY, random.Random(1), started=5.0)
    assert (a.first_failure, a.last_failure) == (None, None)
    a.record_failure(6.0, retriable=True)
    assert (a.first_failure, a.last_failure) == (6.0, 6.0)
    a.record_failure(7.5, retriable=True)
    a.record_failure(9.25, retriable=True)
    assert (a.first_failure, a.last_failure) == (6.0, 9.25)
    a.record_failure(10.0, retriable=False)
    assert (a.first_failure, a.last_failure) == (6.0, 10.0)


def test_deadline_is_start_plus_budget() -> None:
    assert Attempts(RetryPolicy(budget_s=30.0), random.Random(0), started=12.5).deadline == 42.5


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"base_ms": 0}, "base_ms"),
        ({"base_ms": -1}, "base_ms"),
        ({"base_ms": math.nan}, "base_ms"),
        ({"cap_ms": 0}, "cap_ms"),
        ({"cap_ms": math.inf}, "cap_ms"),
        ({"base_ms": 100, "cap_ms": 50}, "cap_ms"),
        ({"budget_s": 0}, "budget_s"),
        ({"budget_s": -5.0}, "budget_s"),
    ],
)
def test_invalid_policies_are_rejected_naming_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**kwargs)


def test_policy_and_decision_are_frozen() -> None:
    with pytest.raises(AttributeError):
        RetryPolicy().max_attempts = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Decision(True, 0.1, 1, RETRY).retry = False  # type: ignore[misc]
