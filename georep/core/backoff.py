"""Exponential backoff with full jitter (the AWS Architecture Blog's recommended variant).

Place in the data flow: the replicator (and :mod:`.retry`, for deliveries) asks for the delay
before retry ``attempt``; the random source is passed in so a seeded run sleeps the same
(virtual) amounts every time.
"""

from __future__ import annotations

import random


def full_jitter(attempt: int, base_ms: float, cap_ms: float, rng: random.Random) -> float:
    """A delay in milliseconds, uniform in [0, min(cap, base * 2**attempt)]."""
    ceiling = min(cap_ms, base_ms * (2 ** min(attempt, 32)))
    return rng.uniform(0.0, ceiling)
