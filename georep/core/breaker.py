"""A per-link circuit breaker: stop sending to a region that keeps failing, probe it now and then.

Place in the data flow: the replicator's delivery step (:mod:`georep.engine.delivery`) asks
:meth:`CircuitBreaker.allow` before each batch to the destination and reports the outcome back.
Time is passed in (float seconds) on every call, never read here, so tests drive it with plain
numbers.

    CLOSED ──K consecutive failures──▶ OPEN ──cool-down elapsed, one caller──▶ HALF_OPEN
      ▲                                 ▲                                          │
      └──────────probe succeeded────────┼──────────────────────────────────────────┤
                                        └─────────────probe failed─────────────────┘
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


TransitionHook = Callable[[BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """The state machine for one (source, destination) link.

    ``transitions`` keeps every change as (time, from, to, reason) with the states' string values,
    for events and metrics; ``on_transition(old, new, reason)`` is called after each change.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_s: float = 5.0,
        on_transition: TransitionHook | None = None,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise ValueError(f"failure_threshold must be an integer, got {failure_threshold!r}")
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        # `not x > 0` also rejects NaN; an infinite cool-down would never probe again
        if not cooldown_s > 0 or not math.isfinite(cooldown_s):
            raise ValueError(f"cooldown_s must be a positive finite number, got {cooldown_s!r}")
        self.failure_threshold = failure_threshold
        self.cooldown_s = float(cooldown_s)
        self.on_transition = on_transition
        self.transitions: list[tuple[float, str, str, str]] = []
        self._state = BreakerState.CLOSED
        self._opened_at: float | None = None
        self._failures = 0

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def opened_at(self) -> float | None:
        """When the breaker last opened; None while CLOSED."""
        return self._opened_at

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success (a failed probe counts too)."""
        return self._failures

    def allow(self, now: float) -> bool:
        """May a request go out now? In OPEN, the first caller after the cool-down is the probe."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if not self._cooled(now):
                return False
            self._move(now, BreakerState.HALF_OPEN, "cool-down elapsed")
            return True
        # HALF_OPEN is only entered by handing out the probe, so one is always in flight here;
        # letting more through would flood a link that may still be down
        return False

    def record_success(self, now: float) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._failures = 0
            self._move(now, BreakerState.CLOSED, "probe succeeded")
        elif self._state is BreakerState.CLOSED:
            self._failures = 0
        # in OPEN a success can only be a request sent before the breaker opened; one late answer
        # says little about the link now, so the cool-down and probe decide

    def record_failure(self, now: float, reason: str = "") -> None:
        suffix = f": {reason}" if reason else ""
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open(now, f"{self._failures} consecutive failures{suffix}")
        elif self._state is BreakerState.HALF_OPEN:
            self._failures += 1
            self._open(now, f"probe failed{suffix}")
        # in OPEN a failure is a request sent before the breaker opened; letting it restart the
        # cool-down would keep a recovered link shut for as long as stragglers keep arriving

    def retry_in(self, now: float) -> float:
        """Seconds until a probe is allowed: 0 unless OPEN (in HALF_OPEN the probe is out)."""
        if self._state is not BreakerState.OPEN or self._cooled(now):
            return 0.0
        assert self._opened_at is not None
        # the subtraction can round to 0.0 while allow() still refuses; never report "go now" then
        return max(self._opened_at + self.cooldown_s - now, math.ulp(0.0))

    def _cooled(self, now: float) -> bool:
        # the same comparison for allow() and retry_in(), so they never disagree
        return self._opened_at is None or now - self._opened_at >= self.cooldown_s

    def _open(self, now: float, reason: str) -> None:
        self._opened_at = now
        self._move(now, BreakerState.OPEN, reason)

    def _move(self, now: float, new: BreakerState, reason: str) -> None:
        old = self._state
        self._state = new
        if new is BreakerState.CLOSED:
            self._opened_at = None
        self.transitions.append((now, old.value, new.value, reason))
        if self.on_transition is not None:
            self.on_transition(old, new, reason)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self._state.value}, failures={self._failures}/"
            f"{self.failure_threshold}, opened_at={self._opened_at})"
        )
