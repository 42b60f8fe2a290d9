"""Retry budget: after each failed delivery, decide whether to try again and how long to wait.

Place in the data flow: the replicator's delivery step (:mod:`georep.engine.delivery`) reports
each failed attempt at a batch to its :class:`Attempts`; a "give up" decision sends the batch's
records to the dead-letter queue, with the first and last failure times. Time is passed in
(float seconds), never read here.

A delivery is bounded twice: by a number of attempts, and by a total time from its first try, so
a long outage cannot hold one record (and the shard behind it) forever even with slow attempts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from georep.core.backoff import full_jitter

RETRY = "retry"
NON_RETRIABLE = "non-retriable"
ATTEMPTS_EXHAUSTED = "attempts exhausted"
BUDGET_EXHAUSTED = "time budget exhausted"


def _positive(name: str, value: float) -> None:
    # `not value > 0` also rejects NaN
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_ms: float = 50
    cap_ms: float = 2000
    budget_s: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an integer, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        _positive("base_ms", self.base_ms)
        _positive("cap_ms", self.cap_ms)
        _positive("budget_s", self.budget_s)
        if self.cap_ms < self.base_ms:
            raise ValueError(f"cap_ms ({self.cap_ms}) must be >= base_ms ({self.base_ms})")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failure. ``attempts`` counts tries so far, including the failed one."""

    retry: bool
    delay_s: float
    attempts: int
    reason: str


class Attempts:
    """The retries of one delivery, which started (first try sent) at ``started``."""

    def __init__(self, policy: RetryPolicy, rng: random.Random, started: float) -> None:
        self.policy = policy
        self.rng = rng
        self.started = started
        self.attempts = 0
        self.first_failure: float | None = None
        self.last_failure: float | None = None
        self.gave_up: Decision | None = None

    @property
    def deadline(self) -> float:
        """No retry may be scheduled to start after this time."""
        return self.started + self.policy.budget_s

    def record_failure(self, now: float, retriable: bool) -> Decision:
        """Record that the latest try failed at ``now`` and decide on the next one."""
        if self.gave_up is not None:
            # a second verdict for a record already dead-lettered means the caller lost track
            raise RuntimeError(f"delivery already gave up ({self.gave_up.reason})")
        self.attempts += 1
        if self.first_failure is None:
            self.first_failure = now
        self.last_failure = now
        if not retriable:
            return self._give_up(NON_RETRIABLE)
        if self.attempts >= self.policy.max_attempts:
            return self._give_up(ATTEMPTS_EXHAUSTED)
        # the first retry waits up to base, the next up to 2*base, ... (attempt index from 0)
        p = self.policy
        delay_s = full_jitter(self.attempts - 1, p.base_ms, p.cap_ms, self.rng) / 1000.0
        if now + delay_s > self.deadline:
            return self._give_up(BUDGET_EXHAUSTED)
        return Decision(True, delay_s, self.attempts, RETRY)

    def _give_up(self, reason: str) -> Decision:
        self.gave_up = Decision(False, 0.0, self.attempts, reason)
        return self.gave_up
