"""Exponential backoff with full jitter."""

from __future__ import annotations

import random
from itertools import pairwise
from statistics import mean

from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.backoff import full_jitter


@settings(deadline=None)
@given(
    st.integers(0, 100),
    st.floats(0.001, 1_000),
    st.floats(0.001, 100_000),
    st.integers(0, 2**32),
)
def test_full_jitter_stays_within_zero_and_capped_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = full_jitter(attempt, base, cap, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2 ** min(attempt, 32))
    assert delay <= cap


def test_full_jitter_never_exceeds_the_cap_for_huge_attempts() -> None:
    rng = random.Random(1)
    assert all(0.0 <= full_jitter(10_000, 50, 2_000, rng) <= 2_000 for _ in range(200))


def test_full_jitter_is_deterministic_for_a_seeded_random() -> None:
    a = [full_jitter(n % 8, 50, 2_000, random.Random(42)) for n in range(20)]
    b = [full_jitter(n % 8, 50, 2_000, random.Random(42)) for n in range(20)]
    assert a == b
    rng_a, rng_b = random.Random(7), random.Random(7)
    assert [full_jitter(3, 50, 2_000, rng_a) for _ in range(10)] == [
        full_jitter(3, 50, 2_000, rng_b) for _ in range(10)
    ]


def test_full_jitter_differs_for_different_seeds() -> None:
    assert full_jitter(3, 50, 2_000, random.Random(1)) != full_jitter(
        3, 50, 2_000, random.Random(2)
    )


def test_full_jitter_grows_in_expectation_until_the_cap() -> None:
    rng = random.Random(2024)
    means = [mean(full_jitter(n, 50, 2_000, rng) for _ in range(2_000)) for n in range(7)]
    # the expectation is ceiling / 2: 25, 50, 100, ..., capped at 1000 from attempt 6 on
    assert all(a < b for a, b in pairwise(means))
    for n, m in enumerate(means):
        expected = min(2_000, 50 * 2**n) / 2
        assert abs(m - expected) < 0.1 * expected
