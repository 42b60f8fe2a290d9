"""Run a plan against a lab: processes and the nemesis on schedule, then heal, reconcile, settle
and the final reads.

Place in the data flow: :func:`execute` is the middle of ``georep test`` (:mod:`.session` sets
the lab up and writes the results). Each process is a task that invokes its planned operations
in order, none before its planned time; the nemesis is a task that starts and stops each fault
window on time (:func:`nemesis_for` maps a window to a
:class:`~georep.engine.nemesis.Nemesis`). Everything is recorded in the history
(:class:`~.recorder.Recorder`). The schedule is the plan's; the outcomes are the lab's.

Time is a :class:`Timeline`: :class:`RealTime` (tasks on the event loop, the wall clock) or,
on a lab with a simulation (:class:`~georep.runtime.simlab.SimLab`), :class:`Simulated`: the
processes and the nemesis are the simulation's actors, run one at a time on virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..core.plan import FaultWindow, Plan, fault_label
from ..engine.nemesis import (
    FlapNemesis,
    KillNemesis,
    LatencyNemesis,
    Nemesis,
    PartitionNemesis,
    SkewNemesis,
)
from .clients import WorkloadClient
from .outcome import one_line
from .recorder import Recorder

LATE_S = 5.0  # a process stops invoking this long after the planned end (it fell behind)
Progress = Callable[[dict[str, Any]], None]


def nemesis_for(w: FaultWindow) -> Nemesis:
    t = w.target
    if w.kind == "partition":
        return PartitionNemesis.pair(t["a"], t["b"])
    if w.kind == "one-way":
        return PartitionNemesis.pair(t["a"], t["b"], one_way=True)
    if w.kind == "isolate":
        return PartitionNemesis.isolating(t["region"])
    if w.kind == "flap":
        return FlapNemesis(t["a"], t["b"], t["period"])
    if w.kind == "latency":
        return LatencyNemesis(t["a"], t["b"], t["ms"], t["jitter"])
    if w.kind == "skew":
        return SkewNemesis(t["region"], t["ms"])
    if w.kind == "kill":
        return KillNemesis(t["src"], t["dst"])
    raise ValueError(f"unknown nemesis {w.kind!r}")


class Execution:
    """The live state of a run, for the progress display."""

    def __init__(self, plan: Plan) -> None:
        self.planned = len(plan.ops)
        self.done = 0
        self.active: dict[int, str] = {}  # window index -> "kind target"
        self.phase = "run"

    def snapshot(self) -> dict[str, Any]:
        return {"done": self.done, "planned": self.planned, "phase": self.phase,
                "faults": sorted(self.active.values())}


class RealTime:
    """Wall-clock time: every process and the nemesis a task of its own, all at once."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    async def until(self, at: float) -> None:
        delay = self.t0 + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task:
        return asyncio.create_task(work(), name=name)

    async def join(self, tasks: list[asyncio.Task]) -> None:
        await asyncio.gather(*tasks)


class Simulated:
    """Virtual time: the processes and the nemesis are actors of ``sim``, one at a time."""

    def __init__(self, sim: Any) -> None:
        self.sim, self.t0 = sim, sim.now

    def elapsed(self) -> float:
        return self.sim.now - self.t0

    async def until(self, at: float) -> None:
        await self.sim.sleep_until(self.t0 + at)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task:
        return self.sim.spawn(name, work)

    async def join(self, tasks: list[asyncio.Task]) -> None:
        await self.sim.run(lambda: all(t.done() for t in tasks))
        for t in tasks:
            t.result()  # a process that raised ends the run with its error


Timeline = RealTime | Simulated


def timeline_for(lab: Any) -> Timeline:
    sim = getattr(lab, "sim", None)
    return RealTime() if sim is None else Simulated(sim)


async def _process(lab: Any, client: WorkloadClient, rec: Recorder, ops, clock: Timeline,
                   state: Execution, notify: Callable[[], None]) -> None:
    end = (ops[-1].at if ops else 0) + LATE_S
    for op in ops:
        await clock.until(op.at)
        if clock.elapsed() > end:
            return
        await client.invoke(lab, rec, op)
        state.done += 1
        notify()


async def _nemesis(lab: Any, plan: Plan, nemeses: list[Nemesis], rec: Recorder,
                   clock: Timeline, state: Execution, notify: Callable[[], None]) -> None:
    steps = sorted([(w.start, 1, i, "start") for i, w in enumerate(plan.faults)]
                   + [(w.stop, 0, i, "stop") for i, w in enumerate(plan.faults)])
    for at, _, i, what in steps:
        await clock.until(at)
        w = plan.faults[i]
        invoked = rec.invoke("nemesis", f"{what}-{w.kind}", w.target)
        try:
            done = await nemeses[i].invoke(lab, {"f": what})
            rec.complete(invoked, "info", done.get("value"))
        except Exception as exc:  # a fault that could not be set is recorded, not fatal
            rec.complete(invoked, "info", error=one_line(exc))
        if what == "start":
            state.active[i] = fault_label({"kind": w.kind, "target": w.target})
        else:
            state.active.pop(i, None)
        notify()


async def execute(lab: Any, plan: Plan, client: WorkloadClient, rec: Recorder,
                  progress: Progress | None = None) -> Execution:
    """Run the plan's operations and faults; every fault is lifted before this returns (or
    raises: a bug in a client must not leave the lab partitioned)."""
    state = Execution(plan)

    def notify() -> None:
        if progress is not None:
            progress(state.snapshot())

    clock = timeline_for(lab)
    nemeses = [nemesis_for(w) for w in plan.faults]
    tasks = [clock.spawn(f"process {p}", lambda ops=ops: _process(
        lab, client, rec, ops, clock, state, notify))
        for p, ops in plan.by_process().items()]
    nemesis = clock.spawn("nemesis", lambda: _nemesis(lab, plan, nemeses, rec, clock, state,
                                                      notify))
    try:
        await clock.join([*tasks, nemesis])
    finally:
        for task in [*tasks, nemesis]:  # a process that raised ends the run for every one
            task.cancel()
        await asyncio.gather(*tasks, nemesis, return_exceptions=True)
        await _lift(lab, plan, nemeses, rec)
        state.active.clear()
    return state


async def _lift(lab: Any, plan: Plan, nemeses: list[Nemesis], rec: Recorder) -> None:
    """Close every window still open (a process ran late, or failed), recorded as the stop it
    is; one that cannot be closed is recorded as a failed stop, and the others are closed all
    the same."""
    for w, n in zip(plan.faults, nemeses, strict=True):
        if not n.active:
            continue
        invoked = rec.invoke("nemesis", f"stop-{w.kind}", w.target)
        try:
            done = await n.invoke(lab, {"f": "stop"})
            rec.complete(invoked, "info", done.get("value"))
        except Exception as exc:
            rec.complete(invoked, "info", error=one_line(exc))


async def finish(lab: Any, client: WorkloadClient, rec: Recorder, keys: list[str],
                 state: Execution, progress: Progress | None = None,
                 timeout: float = 120.0) -> dict[str, Any]:
    """Heal, reconcile, settle, then record every region's final reads and the conflict feed.
    A reconcile that fails is reported (and the final reads still made: the checkers judge)."""
    def phase(name: str) -> None:
        state.phase = name
        if progress is not None:
            progress(state.snapshot())

    phase("heal")
    lab.heal()
    phase("reconcile")
    out: dict[str, Any] = {}
    try:
        report = await lab.reconcile(timeout=timeout)
        out = {"verified": report["verified"], "redrive": report["redrive"]}
        phase("settle")
        await lab.settle(timeout=timeout)
    except Exception as exc:
        out = {"verified": False, "error": one_line(exc)}
    phase("final reads")
    for r in lab.config.regions:
        await _recorded(rec, "final-read", r.name, lambda r=r: client.final_read(
            lab, r.name, keys))
    await _recorded(rec, "conflicts", None, lambda: _conflicts(lab, client), many=False)
    return out


async def _recorded(rec: Recorder, f: str, region: str | None, read: Callable[[], Any], *,
                    many: bool = True) -> None:
    """Record a final read (``many``: one op per value it returns); one that fails is a
    ``fail``, which the checkers take as no read at all (the key unread: unknown), not as an
    empty region."""
    try:
        values = await read()
    except Exception as exc:
        rec.complete(rec.invoke("final", f, None, region), "fail", error=one_line(exc))
        return
    for value in values if many else [values]:
        rec.complete(rec.invoke("final", f, None, region), "ok", value)


async def _conflicts(lab: Any, client: WorkloadClient) -> list[dict[str, Any]]:
    hash_keys = {name: client.hash_keys[role] for role, name in client.tables.items()}
    return compact_feed(await lab.conflicts(), hash_keys, client.prefix)


def compact_feed(entries: list[dict[str, Any]], hash_keys: dict[str, str],
                 prefix: str = "") -> list[dict[str, Any]]:
    """The conflict feed as a history records it: entries of the tables in ``hash_keys``
    (table -> its hash key) whose key starts with ``prefix`` (dropped), versions as values."""
    out = []
    for e in entries:
        hk = hash_keys.get(e["table"])
        key = None if hk is None else str(e["key"].get(hk, ""))
        if key is None or not key.startswith(prefix):
            continue
        out.append({"table": e["table"], "key": key.removeprefix(prefix),
                    "winner": e["winner"].get("value"),
                    "losers": [v.get("value") for v in e.get("losers", [])],
                    "siblings": [v.get("value") for v in e.get("siblings", [])]})
    return out
