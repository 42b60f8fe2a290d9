"""Delivery: one batch to the destination, retried within a budget, behind a circuit breaker.

Place in the data flow: between the replicator (which hands over a batch of local versions with
their stream records) and the apply step. Retries use exponential backoff with full jitter,
bounded in attempts and in total time (:mod:`georep.core.retry`). Consecutive failures open the
link's breaker (:mod:`georep.core.breaker`); while it is open nothing is sent to the destination
and batches go straight to the link's dead-letter queue. A batch whose retries run out goes to
the DLQ too, and a non-retriable error is narrowed down to the poison record(s), which go to the
DLQ with their reason while the rest are applied. Either way the caller then checkpoints: no
head-of-line blocking. When a probe closes the breaker, ``redrive_due`` asks for a redrive.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..aws.dlq import DeadLetterQueue
from ..aws.errors import classify
from ..aws.values import to_python
from ..config import ReplicatorSettings
from ..core.breaker import BreakerState, CircuitBreaker
from ..core.meta import Version, key_of
from ..core.retry import Attempts, RetryPolicy
from ..errors import ReplicationError, UnstampedDestination
from .apply import ApplyResult


@dataclass
class Item:
    version: Version
    record: dict[str, Any]  # the original stream record, for the DLQ


@dataclass
class DeliveryResult:
    applied: ApplyResult = field(default_factory=ApplyResult)
    dead: list[tuple[Item, str]] = field(default_factory=list)  # (item, reason) sent to the DLQ


class Delivery:
    def __init__(self, link: str, settings: ReplicatorSettings, dlq: DeadLetterQueue, *,
                 emit: Callable[..., Any], clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]], rng: random.Random,
                 on_retry: Callable[[str, int, ReplicationError, float], None]) -> None:
        self.link = link
        self.settings = settings
        self.dlq = dlq
        self.emit = emit
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self.on_retry = on_retry
        self.policy = RetryPolicy(settings.retry_max_attempts, settings.retry_base_ms,
                                  settings.retry_cap_ms, settings.retry_budget_s)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s,
                                      on_transition=self._transition)
        # A fresh replicator redrives once: its predecessor may have died with dead letters
        # waiting for a breaker close that it never saw.
        self.redrive_due = True
        self.redrive_after: float | None = None  # a redrive that stopped early: try again then
        self.dead_letters = 0

    def _transition(self, old: BreakerState, new: BreakerState, reason: str) -> None:
        self.emit("breaker", link=self.link, old=old.value, new=new.value, reason=reason)
        if old is BreakerState.HALF_OPEN and new is BreakerState.CLOSED:
            self.redrive_due = True

    def wants_redrive(self, now: float) -> bool:
        """A redrive is due: the breaker closed (or this replicator started), or an earlier
        redrive stopped (the link failed again, or a dead letter waited for a stamp) and its
        retry time has come while the breaker is closed."""
        if self.redrive_after is not None and now >= self.redrive_after \
                and self.breaker.state is BreakerState.CLOSED:
            self.redrive_after = None
            self.redrive_due = True
        return self.redrive_due

    async def deliver(self, tl, items: list[Item]) -> DeliveryResult:
        out = DeliveryResult()
        if not self.breaker.allow(self.clock()):
            await self._dead(tl, items, "breaker open", None, 0, None, out)
            return out
        attempts = Attempts(self.policy, self.rng, started=self.clock())
        blocked_since: float | None = None
        while True:
            try:
                result = await tl.applier.apply([i.version for i in items])
                self.breaker.record_success(self.clock())
                out.applied.extend(result)
                out.applied.blocked.clear()
                if not result.blocked:
                    return out
                # Not a link failure: the destination holds a plain write that its own
                # region's replicator has not stamped yet. Wait for the stamp, then give up
                # on those keys only: to the DLQ, redriven once the stamp is there.
                held = {id(b) for b in result.blocked}
                items = [i for i in items if id(i.version) in held]
                now = self.clock()
                blocked_since = now if blocked_since is None else blocked_since
                if now - blocked_since >= self.settings.unstamped_wait_s:
                    await self._dead(tl, items, "unstamped destination",
                                     UnstampedDestination(_blocked_reason(tl, items)), 0,
                                     blocked_since, out)
                    return out
                self.on_retry("apply", 0, UnstampedDestination(_blocked_reason(tl, items)),
                              0.05)
                await self.sleep(0.05)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified: nothing is swallowed
                err = classify(exc)
            now = self.clock()
            if not err.retriable:
                if len(items) > 1:  # find the poison: deliver one at a time
                    for item in items:
                        sub = await self.deliver(tl, [item])
                        out.applied.outcomes.extend(sub.applied.outcomes)
                        out.dead.extend(sub.dead)
                    return out
                await self._dead(tl, items, "non-retriable", err, 1, now, out)
                return out
            self.breaker.record_failure(now, str(err))
            decision = attempts.record_failure(now, True)
            self.on_retry("apply", decision.attempts, err, decision.delay_s)
            if not decision.retry:
                await self._dead(tl, items, decision.reason, err, decision.attempts,
                                 attempts.first_failure, out)
                return out
            if self.breaker.state is BreakerState.OPEN:
                await self._dead(tl, items, "breaker open", err, decision.attempts,
                                 attempts.first_failure, out)
                return out
            await self.sleep(decision.delay_s)

    async def _dead(self, tl, items: list[Item], reason: str, err: ReplicationError | None,
                    attempts: int, first: float | None, out: DeliveryResult) -> None:
        now = self.clock()
        messages = [{
            "v": 1, "link": self.link, "table": tl.table.name, "reason": reason,
            "error": str(err) if err else "the circuit breaker is open",
            "retriable": err.retriable if err else True, "attempts": attempts,
            "first_failure": first if first is not None else now, "last_failure": now,
            "record": item.record, "version": item.version.item(),
        } for item in items]
        delay = 0.05
        while True:  # the DLQ is in the source region, local: keep trying until it takes them
            try:
                await self.dlq.send(messages)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reported, retried
                self.on_retry("dlq-send", 0, classify(exc), delay)
                await self.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.dead_letters += len(items)
        for item in items:
            out.dead.append((item, reason))
            key = to_python(key_of(item.version.attrs, tl.table.key_names))
            self.emit("dlq", link=self.link, table=tl.table.name, key=key, reason=reason,
                      error=messages[0]["error"][:300], attempts=attempts,
                      seq=item.record["dynamodb"]["SequenceNumber"])

    async def probe(self, tl) -> None:
        """While idle with the breaker open: once the cool-down is over, one cheap request
        to the destination decides whether the breaker closes (and the DLQ is redriven)."""
        if self.breaker.state is not BreakerState.OPEN or not self.breaker.allow(self.clock()):
            return
        try:
            await tl.applier.client.describe_table(TableName=tl.table.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the probe failed: open again
            self.breaker.record_failure(self.clock(), str(classify(exc)))
            return
        self.breaker.record_success(self.clock())


def _blocked_reason(tl, items: list[Item]) -> str:
    key = to_python(key_of(items[0].version.attrs, tl.table.key_names))
    more = f" and {len(items) - 1} more" if len(items) > 1 else ""
    return (f"{tl.table.name} {key}{more}: the destination holds a plain client's write that "
            "its region's replicator has not stamped yet")
