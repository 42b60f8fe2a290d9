"""The deterministic mode's scheduler: every actor runs alone, in an order drawn from the seed,
on a virtual clock.

Place in the data flow: ``georep test`` (without ``--realtime``) makes one
:class:`Simulation` and hands it to the lab (:class:`~georep.runtime.simlab.SimLab`) and to the
runner (:mod:`georep.harness.runner`). An *actor* is a task started with :meth:`spawn`: a
client process, the nemesis, one table's loop of one link's replicator. The only way an actor
lets time pass is :meth:`Simulation.sleep` (injected into the replicator, the delivery's
retries, the write path, the flaps and the link proxies); an actor that sleeps *parks*, and
:meth:`Simulation.run` wakes the parked actor whose time comes first, waits until it parks
again (or ends), and only then wakes the next. Actors due at the same instant go in an order
drawn from the seeded random source. The regions are real moto servers over real sockets:
what an actor does between two parks is real HTTP, one request at a time.

Time: :attr:`Simulation.now` is virtual seconds since the start; :meth:`time` adds a fixed
epoch (the HLCs, the conflict feed and the event log read it). A sleep outside any actor (the
driver reconciling, a link proxy holding a delayed response) moves the clock on at once and
lets nothing else run meanwhile.

The rule that keeps this deterministic: an actor never has two of its own tasks doing I/O at
once (the lab runs the replicator's write-backs and applies one at a time in this mode), so a
park is a quiet point for the whole actor.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import LabError

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the virtual wall clock at time 0
TURN_TIMEOUT_S = 120.0  # wall seconds one turn may take before the run is declared stuck
# The connect and read timeouts of every client a simulated run makes: a cut answers at once,
# so a wall-clock timeout would only fire on a slow machine and make the run depend on it.
SIM_TIMEOUT_S = 60.0


class SimulationStuck(LabError):
    """An actor did not park within the turn's wall-clock limit, or nothing was left to run
    while the run waited for a condition."""


@dataclass(eq=False)
class Actor:
    name: str
    turns: int = 0
    tasks: list[asyncio.Task] = field(default_factory=list)


_ACTOR: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("georep_sim_actor",
                                                                      default=None)


class Simulation:
    def __init__(self, seed: int | str, *, epoch: float = EPOCH,
                 turn_timeout_s: float = TURN_TIMEOUT_S) -> None:
        self.seed = seed
        self.rng = random.Random(f"{seed}/sim")
        self.epoch = epoch
        self.now = 0.0
        self.turns = 0
        self.turn_timeout_s = turn_timeout_s
        self._heap: list[tuple[float, float, int, Actor, asyncio.Future]] = []
        self._seq = 0
        self._turn: Actor | None = None
        self._parked: asyncio.Event | None = None

    # -- clocks ----------------------------------------------------------------------------

    def time(self) -> float:
        """Virtual epoch seconds (the lab's wall clock in this mode)."""
        return self.epoch + self.now

    def elapsed_ns(self) -> int:
        """Virtual nanoseconds since the start (the history's clock)."""
        return round(self.now * 1e9)

    # -- actors ----------------------------------------------------------------------------

    def spawn(self, name: str, work: Callable[[], Awaitable[Any]], *,
              delay: float = 0.0) -> asyncio.Task:
        """Start ``work()`` as a new actor, parked until ``delay`` virtual seconds from now."""
        actor = Actor(name)
        start = self._push(self.now + max(delay, 0.0), actor)
        context = contextvars.copy_context()
        context.run(_ACTOR.set, actor)

        async def body() -> Any:
            await start
            return await work()

        task = asyncio.get_running_loop().create_task(body(), name=name, context=context)
        actor.tasks.append(task)
        task.add_done_callback(lambda _t: self._ended(actor))
        return task

    async def sleep(self, delay: float) -> None:
        """Park the calling actor for ``delay`` virtual seconds; outside an actor, move the
        clock on by ``delay`` at once."""
        delay = max(float(delay), 0.0)
        actor = _ACTOR.get()
        if actor is None:
            self.now += delay
            return
        wake = self._push(self.now + delay, actor)
        if actor is self._turn and self._parked is not None:
            self._parked.set()
        await wake

    async def sleep_until(self, at: float) -> None:
        await self.sleep(at - self.now)

    def _push(self, when: float, actor: Actor) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._heap, (when, self.rng.random(), self._seq, actor, fut))
        return fut

    def _ended(self, actor: Actor) -> None:
        if actor is self._turn and self._parked is not None:
            self._parked.set()

    # -- the scheduler ---------------------------------------------------------------------

    async def run(self, done: Callable[[], bool], *, limit_s: float | None = None) -> None:
        """Wake actors one at a time until ``done()`` holds. ``limit_s``: TimeoutError when
        the next wake is more than that many virtual seconds away; SimulationStuck when no
        actor is left to wake."""
        deadline = None if limit_s is None else self.now + limit_s
        while not done():
            if not self._heap:
                raise SimulationStuck("the simulation has nothing left to run, and what it "
                                      "waits for has not happened")
            when, _, _, actor, wake = self._heap[0]
            if deadline is not None and when > deadline:
                raise TimeoutError(f"not done after {limit_s:g} virtual seconds")
            heapq.heappop(self._heap)
            if wake.done():  # its actor was cancelled (a killed replicator, a healed flap)
                continue
            await self._turn_of(actor, when, wake)

    async def _turn_of(self, actor: Actor, when: float, wake: asyncio.Future) -> None:
        self.now = max(self.now, when)
        self.turns += 1
        actor.turns += 1
        self._turn, self._parked = actor, asyncio.Event()
        wake.set_result(None)
        try:
            async with asyncio.timeout(self.turn_timeout_s):
                await self._parked.wait()
        except TimeoutError:
            raise SimulationStuck(f"{actor.name} did not yield within "
                                  f"{self.turn_timeout_s:g} s of wall time") from None
        finally:
            self._turn, self._parked = None, None
        for _ in range(2):  # tasks the turn started reach their first await before the next
            await asyncio.sleep(0)
