"""Nemeses: the fault half of a test, as Jepsen shapes it (setup, invoke, teardown).

Place in the data flow: a test's scheduler calls :meth:`Nemesis.invoke` with an op
(``{"f": "start"}`` or ``{"f": "stop"}``) whenever it decides; the nemesis drives a lab through
its public fault methods (``partition``, ``heal``, ``latency``, ``skew``, ``flap``,
``kill_replicator``, ``start_replicator``) and returns the
completed op, type ``info``, whose ``value`` says what it did. A nemesis never sleeps: when to
start and stop is the scheduler's business. The lab may be the embedded :class:`Lab` or the live
lab's supervisor; a method that returns an awaitable is awaited.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..core import grudge as g
from ..core.grudge import Grudge
from ..errors import LabError

GrudgeBuilder = Callable[[Sequence[str]], Grudge]


class Nemesis(Protocol):
    active: bool  # its fault is in place (started, not yet stopped)

    async def setup(self, lab: Any) -> None: ...

    async def invoke(self, lab: Any, op: dict[str, Any]) -> dict[str, Any]: ...

    async def teardown(self, lab: Any) -> None: ...


async def _call(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _done(op: dict[str, Any], value: Any) -> dict[str, Any]:
    return {**op, "type": "info", "value": value}


class _StartStop:
    """A nemesis with one fault: ``start`` injects it, ``stop`` (and teardown) lifts it."""

    active = False

    async def setup(self, lab: Any) -> None:
        return None

    async def invoke(self, lab: Any, op: dict[str, Any]) -> dict[str, Any]:
        f = op.get("f")
        if f == "start":
            value = await self._start(lab)
            self.active = True
        elif f == "stop":
            value = await self._stop(lab)
            self.active = False
        else:
            raise LabError(f"a nemesis op's f is 'start' or 'stop', not {f!r}")
        return _done(op, value)

    async def teardown(self, lab: Any) -> None:
        if self.active:
            await self.invoke(lab, {"f": "stop"})

    async def _start(self, lab: Any) -> Any:
        raise NotImplementedError

    async def _stop(self, lab: Any) -> Any:
        raise NotImplementedError


class NoopNemesis(_StartStop):
    """Does nothing, and says so."""

    async def _start(self, lab: Any) -> Any:
        return None

    async def _stop(self, lab: Any) -> Any:
        return None


class PartitionNemesis(_StartStop):
    """``start`` cuts the grudge ``builder`` makes of the lab's regions (halves by default);
    ``stop`` heals the pairs it cut (which lifts their latency too, see Faults.heal)."""

    def __init__(self, builder: GrudgeBuilder = g.halves) -> None:
        self.builder = builder
        self.cut = Grudge()

    @classmethod
    def pair(cls, a: str, b: str, *, one_way: bool = False) -> PartitionNemesis:
        """Cut a↔b, or only the bytes a sends to b."""
        return cls(lambda regions: g.one_way(a, b) if one_way else g.partition(a, b))

    @classmethod
    def isolating(cls, region: str) -> PartitionNemesis:
        """Cut every link of ``region``, both ways."""
        return cls(lambda regions: g.isolate(region, regions))

    async def _start(self, lab: Any) -> Any:
        grudge = self.builder([r.name for r in lab.config.regions])
        for a, b in grudge.pairs():
            there, back = grudge.cuts(a, b), grudge.cuts(b, a)
            if there and back:
                await _call(lab.partition(a, b, one_way=False))
            else:
                x, y = (a, b) if there else (b, a)
                await _call(lab.partition(x, y, one_way=True))
        self.cut = self.cut | grudge
        return {"grudge": grudge.to_dict(), "cuts": grudge.describe()}

    async def _stop(self, lab: Any) -> Any:
        healed = self.cut.pairs()
        for a, b in healed:
            await _call(lab.heal(a, b))
        self.cut = Grudge()
        return {"healed": [list(pair) for pair in healed]}


class LatencyNemesis(_StartStop):
    """``start`` delays the bytes between a and b (a to b only if ``one_way``); ``stop``
    lifts the delay."""

    def __init__(self, a: str, b: str, ms: float, jitter: float = 0, *,
                 one_way: bool = False) -> None:
        self.a, self.b, self.ms, self.jitter, self.one_way = a, b, ms, jitter, one_way

    async def _set(self, lab: Any, ms: float, jitter: float) -> dict[str, Any]:
        await _call(lab.latency(self.a, self.b, ms, jitter, one_way=self.one_way))
        return {"a": self.a, "b": self.b, "ms": ms, "jitter": jitter, "one_way": self.one_way}

    async def _start(self, lab: Any) -> Any:
        return await self._set(lab, self.ms, self.jitter)

    async def _stop(self, lab: Any) -> Any:
        return await self._set(lab, 0, 0)


class FlapNemesis(_StartStop):
    """``start`` makes the a↔b link flap (cut and healed every ``period`` seconds, by the lab);
    ``stop`` heals the pair, which ends the flapping."""

    def __init__(self, a: str, b: str, period: float) -> None:
        self.a, self.b, self.period = a, b, period

    async def _start(self, lab: Any) -> Any:
        await _call(lab.flap(self.a, self.b, self.period))
        return {"a": self.a, "b": self.b, "period": self.period}

    async def _stop(self, lab: Any) -> Any:
        await _call(lab.heal(self.a, self.b))
        return {"healed": [self.a, self.b]}


class KillNemesis(_StartStop):
    """``start`` kills the src→dst replicator (a task cancelled in the embedded lab, SIGKILL of
    its process in the live lab); ``stop`` starts a new one, which resumes from the link's
    checkpoint."""

    def __init__(self, src: str, dst: str) -> None:
        self.src, self.dst = src, dst

    async def _start(self, lab: Any) -> Any:
        await _call(lab.kill_replicator(self.src, self.dst))
        return {"killed": f"{self.src}>{self.dst}"}

    async def _stop(self, lab: Any) -> Any:
        await _call(lab.start_replicator(self.src, self.dst))
        return {"started": f"{self.src}>{self.dst}"}


class SkewNemesis(_StartStop):
    """``start`` offsets one region's physical clock by ``ms``; ``stop`` sets it back to 0."""

    def __init__(self, region: str, ms: int) -> None:
        self.region, self.ms = region, ms

    async def _start(self, lab: Any) -> Any:
        await _call(lab.skew(self.region, self.ms))
        return {"region": self.region, "ms": self.ms}

    async def _stop(self, lab: Any) -> Any:
        await _call(lab.skew(self.region, 0))
        return {"region": self.region, "ms": 0}
