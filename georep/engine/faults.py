"""The one mechanism that applies a lab's faults: cuts, latency, flaps and clock skew.

Place in the data flow: the embedded lab (:class:`georep.runtime.embedded.Lab`) and the live
lab's supervisor each hold one :class:`Faults` over their link proxies and call it for every
fault; it validates the request, keeps the active faults as data (a
:class:`~georep.core.grudge.Grudge`, delays per byte flow, skew per region, flaps), pushes them
onto the proxies (:meth:`Faults.apply`), and emits one event per change.

``heal(a, b)`` lifts the cuts, the flap and the latency between a and b; ``heal()`` lifts every
cut, flap and latency. Skew is a clock, not a link: ``skew(R, 0)`` clears it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import LabConfig
from ..core import grudge as g
from ..core.grudge import Flow, Grudge, link_flows, proxy_drops
from ..errors import LabError
from .proxy import NO_DELAY, Delay, LinkProxy


@dataclass(eq=False)
class Flap:
    """A pair cut and healed every ``period`` seconds until healed."""

    a: str
    b: str
    period: float
    cutting: bool = True
    toggles: int = 1
    task: asyncio.Task | None = None

    def describe(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "period": self.period, "cutting": self.cutting,
                "toggles": self.toggles}


def _number(name: str, value: Any, *, unit: str = "milliseconds", negative: bool = False,
           zero: bool = True) -> float:
    """``value`` as a finite number, or a one-line LabError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabError(f"{name} must be a number of {unit}, not {value!r}")
    if not math.isfinite(value):
        raise LabError(f"{name} must be a finite number of {unit}, not {value}")
    if value < 0 and not negative:
        raise LabError(f"{name} must not be negative, not {value}")
    if value == 0 and not zero:
        raise LabError(f"{name} must be more than 0 {unit}, not {value}")
    return value


class Faults:
    """The active faults of one lab over its proxies (any mapping whose values are the
    :class:`LinkProxy` objects; read at each call, so the lab may fill it as it starts)."""

    def __init__(self, config: LabConfig, proxies: Mapping[Any, LinkProxy], *,
                 emit: Callable[..., Any], on_change: Callable[[], None] | None = None) -> None:
        self.config = config
        self.proxies = proxies
        self.emit = emit
        self.on_change = on_change  # after every change (the live lab persists and meters)
        self.grudge = Grudge()  # the cuts asked for; flaps add theirs while cutting
        self.latency: dict[Flow, Delay] = {}
        self.skew_ms: dict[str, int] = {r.name: 0 for r in config.regions}
        self.flaps: dict[frozenset[str], Flap] = {}
        self.sleep = asyncio.sleep  # the flaps' timer (the deterministic mode's is virtual)

    # -- checks ----------------------------------------------------------------------------

    def _regions(self) -> list[str]:
        return [r.name for r in self.config.regions]

    def _check_pair(self, a: str, b: str) -> None:
        self.config.region(a)
        self.config.region(b)
        if a == b:
            raise LabError(f"a link joins two different regions, not {a} with itself")
        self._check_flows([(a, b)])

    def _check_flows(self, flows: Iterable[Flow]) -> None:
        """Every flow's bytes pass through proxies on both links of its pair."""
        links = {(p.src, p.dst) for p in self.proxies.values()}
        for x, y in flows:
            for src, dst in ((x, y), (y, x)):
                if (src, dst) not in links:
                    raise LabError(f"link {src}>{dst} goes to an external endpoint; "
                                   "it cannot be faulted")

    # -- applying --------------------------------------------------------------------------

    def effective(self) -> Grudge:
        """The grudge the proxies enforce now: the cuts, and the flaps that are cutting."""
        out = self.grudge
        for flap in self.flaps.values():
            if flap.cutting:
                out = out | g.partition(flap.a, flap.b)
        return out

    def apply(self) -> None:
        """Push the grudge and the delays onto every proxy (lifted cuts close tainted
        connections, :meth:`LinkProxy.set_drops`)."""
        grudge = self.effective()
        for p in self.proxies.values():
            p.set_drops(*proxy_drops(grudge, p.src, p.dst))
            requests, responses = link_flows(p.src, p.dst)
            p.set_delays(self.latency.get(requests, NO_DELAY),
                         self.latency.get(responses, NO_DELAY))
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def link_state(self, names: Iterable[str] | None = None) -> dict[str, str]:
        states = {p.name: p.state for p in self.proxies.values()}
        return states if names is None else {n: states[n] for n in names}

    # -- faults ----------------------------------------------------------------------------

    def cut(self, grudge: Grudge) -> None:
        """Add ``grudge``'s cuts to the active ones."""
        for r in sorted(grudge.regions):
            self.config.region(r)
        self._check_flows(grudge.flows)
        self.grudge = self.grudge | grudge
        self.apply()
        self.emit("cut", flows=grudge.to_dict()["flows"], cuts=grudge.describe(),
                  links=self.link_state())

    def partition(self, a: str, b: str, *, one_way: bool = False) -> None:
        self._check_pair(a, b)
        self.grudge = self.grudge | (g.one_way(a, b) if one_way else g.partition(a, b))
        self.apply()
        self.emit("partition", a=a, b=b, one_way=one_way, links=self.link_state())

    def isolate(self, region: str) -> None:
        self.config.region(region)
        grudge = g.isolate(region, self._regions())
        self._check_flows(grudge.flows)
        self.grudge = self.grudge | grudge
        self.apply()
        self.emit("isolate", region=region, links=self.link_state())

    def set_latency(self, a: str, b: str, ms: float, jitter: float = 0,
                    one_way: bool = False) -> list[str]:
        """Delay the bytes a sends to b (and b to a unless ``one_way``) by ``ms`` ± ``jitter``;
        0 and 0 lift it. Returns the links whose delays changed."""
        ms, jitter = _number("ms", ms), _number("jitter", jitter)
        if jitter > ms:
            raise LabError(f"jitter ({jitter} ms) must not exceed ms ({ms} ms): "
                           "a delay cannot be negative")
        if not isinstance(one_way, bool):
            raise LabError(f"one_way must be true or false, not {one_way!r}")
        self._check_pair(a, b)
        flows = [(a, b)] if one_way else [(a, b), (b, a)]
        for flow in flows:
            if ms or jitter:
                self.latency[flow] = Delay(ms, jitter)
            else:
                self.latency.pop(flow, None)
        self.apply()
        links = [f"{a}>{b}", f"{b}>{a}"]  # each flow passes both links of the pair
        self.emit("latency", a=a, b=b, ms=ms, jitter=jitter, one_way=one_way, links=links)
        return links

    def skew(self, region: str, offset_ms: float) -> int:
        """Offset one region's physical clock by ``offset_ms`` (rounded to whole ms)."""
        self.config.region(region)
        offset = round(_number("ms", offset_ms, negative=True))
        self.skew_ms[region] = offset
        self._changed()
        self.emit("skew", region=region, offset_ms=offset)
        return offset

    def flap(self, a: str, b: str, period: float) -> None:
        """Cut a↔b now, heal it ``period`` seconds later, cut again, ... until a heal of the
        pair (or of everything). Each toggle emits ``flap-cut`` or ``flap-heal``. Needs a
        running event loop: the toggles are a task on it."""
        period = _number("period", period, unit="seconds", zero=False)
        self._check_pair(a, b)
        loop = asyncio.get_running_loop()
        self._stop_flap(a, b)
        flap = Flap(a, b, period)
        self.flaps[frozenset((a, b))] = flap
        self.apply()
        self.emit("flap", a=a, b=b, period=period)
        self._emit_toggle(flap)
        flap.task = loop.create_task(self._toggle(flap), name=f"flap {a}<>{b}")

    async def _toggle(self, flap: Flap) -> None:
        while True:
            await self.sleep(flap.period)
            flap.cutting = not flap.cutting
            flap.toggles += 1
            self.apply()
            self._emit_toggle(flap)

    def _emit_toggle(self, flap: Flap) -> None:
        self.emit("flap-cut" if flap.cutting else "flap-heal", a=flap.a, b=flap.b,
                  links=self.link_state([f"{flap.a}>{flap.b}", f"{flap.b}>{flap.a}"]))

    def _stop_flap(self, a: str, b: str) -> None:
        flap = self.flaps.pop(frozenset((a, b)), None)
        if flap is not None and flap.task is not None:
            flap.task.cancel()

    def heal(self, a: str | None = None, b: str | None = None) -> list[str]:
        """Lift the cuts, the flap and the latency between a and b, or every one when no
        region is named (skew stays). Returns the links healed."""
        if (a is None) != (b is None):
            raise LabError("heal takes two regions, or none to heal every link")
        if a is None:
            links = [p.name for p in self.proxies.values()]
            for pair in list(self.flaps):
                self._stop_flap(*pair)
            self.grudge, self.latency = Grudge(), {}
        else:
            self._check_pair(a, b)
            links = [f"{a}>{b}", f"{b}>{a}"]
            self._stop_flap(a, b)
            self.grudge = self.grudge.without(a, b)
            for flow in ((a, b), (b, a)):
                self.latency.pop(flow, None)
        self.apply()
        self.emit("heal", links=links)
        return links

    async def close(self) -> None:
        """Stop every flap's task (the lab is stopping); the proxies are left as they are."""
        tasks = [f.task for f in self.flaps.values() if f.task is not None]
        self.flaps.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def describe(self) -> dict[str, Any]:
        """The active faults as JSON-able data (``georep status``'s ``faults``)."""
        grudge = self.effective()
        return {
            "grudge": grudge.to_dict(),
            "cuts": grudge.describe(),
            "latency": [{"from": x, "to": y, "ms": d.ms, "jitter": d.jitter_ms}
                        for (x, y), d in sorted(self.latency.items())],
            "skew_ms": {r: ms for r, ms in self.skew_ms.items() if ms},
            "flaps": [f.describe() for f in self.flaps.values()],
        }
