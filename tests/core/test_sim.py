"""The deterministic scheduler (georep.runtime.sim): one actor at a time, in an order drawn
from the seed, on a virtual clock; stuck actors and empty schedules are errors, not hangs."""

from __future__ import annotations

import asyncio
import time

import pytest

from georep.runtime.sim import Simulation, SimulationStuck


def run(coro):
    return asyncio.run(coro)


async def schedule(seed: int, actors: int = 6, steps: int = 5) -> list[tuple[str, float]]:
    """Actors that all wake at the same instants: the order among them is the seed's."""
    sim = Simulation(seed)
    seen: list[tuple[str, float]] = []

    def actor(name: str):
        async def work() -> None:
            for _ in range(steps):
                seen.append((name, sim.now))
                await sim.sleep(0.5)
        return work

    tasks = [sim.spawn(f"a{i}", actor(f"a{i}")) for i in range(actors)]
    await sim.run(lambda: all(t.done() for t in tasks))
    return seen


def test_same_seed_same_order_and_another_seed_another() -> None:
    a, b, c = run(schedule(1)), run(schedule(1)), run(schedule(2))
    assert a == b
    assert [n for n, _ in a] != [n for n, _ in c]
    assert sorted(a) == sorted(c)  # the same steps, in another order
    assert [t for _, t in a] == sorted(t for _, t in a)  # never back in time


def test_actors_never_overlap_even_across_real_awaits() -> None:
    """An actor doing real (wall-clock) I/O between its parks still runs alone."""
    async def main() -> list[str]:
        sim, trace = Simulation(3), []

        def actor(name: str):
            async def work() -> None:
                for _ in range(4):
                    trace.append(f"+{name}")
                    await asyncio.sleep(0.002)  # stands for an HTTP request
                    trace.append(f"-{name}")
                    await sim.sleep(0.01)
            return work

        tasks = [sim.spawn(n, actor(n)) for n in "abc"]
        await sim.run(lambda: all(t.done() for t in tasks))
        return trace

    trace = run(main())
    assert len(trace) == 24
    for enter, leave in zip(trace[::2], trace[1::2], strict=True):
        assert enter[0] == "+" and leave == "-" + enter[1:]


def test_virtual_time_passes_without_waiting() -> None:
    async def main() -> tuple[float, float]:
        sim = Simulation(1)
        task = sim.spawn("sleeper", lambda: sim.sleep(3600))
        t = time.monotonic()
        await sim.run(task.done)
        await sim.sleep(10)  # outside any actor: the clock moves on at once
        return sim.now, time.monotonic() - t

    now, wall = run(main())
    assert now == pytest.approx(3610)
    assert wall < 5


def test_epoch_and_nanoseconds() -> None:
    sim = Simulation(1, epoch=1000.0)
    sim.now = 1.5
    assert sim.time() == 1001.5
    assert sim.elapsed_ns() == 1_500_000_000


def test_a_cancelled_actor_is_skipped() -> None:
    async def main() -> list[str]:
        sim, woke = Simulation(1), []

        async def sleeper() -> None:
            await sim.sleep(1)
            woke.append("killed one")

        victim = sim.spawn("victim", sleeper)
        other = sim.spawn("other", lambda: sim.sleep(2))
        await sim.run(lambda: sim.turns >= 2)  # both started and parked
        victim.cancel()
        await sim.run(other.done)
        return woke

    assert run(main()) == []


def test_a_stuck_actor_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        sim = Simulation(1, turn_timeout_s=0.2)
        never = asyncio.Event()
        sim.spawn("stuck", never.wait)  # waits on something only another actor could set
        await sim.run(lambda: False)

    with pytest.raises(SimulationStuck, match="stuck did not yield"):
        run(main())


def test_nothing_left_to_run_is_an_error() -> None:
    async def main() -> None:
        sim = Simulation(1)
        task = sim.spawn("short", lambda: sim.sleep(1))
        await sim.run(task.done)
        await sim.run(lambda: False)

    with pytest.raises(SimulationStuck, match="nothing left to run"):
        run(main())


def test_a_limit_in_virtual_seconds() -> None:
    async def main() -> None:
        sim = Simulation(1)

        async def poller() -> None:
            while True:
                await sim.sleep(0.1)

        sim.spawn("poller", poller)
        await sim.run(lambda: False, limit_s=5)

    with pytest.raises(TimeoutError, match="5 virtual seconds"):
        run(main())


def test_an_actor_that_raises_ends_its_turn() -> None:
    async def main() -> asyncio.Task:
        sim = Simulation(1)

        async def broken() -> None:
            await sim.sleep(1)
            raise RuntimeError("boom")

        task = sim.spawn("broken", broken)
        await sim.run(task.done)
        return task

    task = run(main())
    assert isinstance(task.exception(), RuntimeError)
