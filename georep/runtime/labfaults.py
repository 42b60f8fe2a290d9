"""The faults of a lab whose link proxies run in this process: the embedded lab's fault methods.

Place in the data flow: between a driver (a test, a scenario, the nemesis) and
:class:`~georep.engine.faults.Faults`, which applies each fault to the link proxies. The embedded
lab (:class:`~georep.runtime.embedded.Lab`) mixes these in; the live lab sends the same calls to
its supervisor's control API instead.
"""

from __future__ import annotations

from typing import Any


class EngineFaults:
    """Mixed into a lab that holds ``self._faults`` (a :class:`~georep.engine.faults.Faults`)."""

    _faults: Any

    def partition(self, a: str, b: str, *, one_way: bool = False) -> None:
        """Cut a↔b: bytes are blackholed, callers time out.

        ``one_way`` cuts only the bytes a sends to b: a's requests to b, and a's responses to
        b's requests. b's requests still reach a and are applied, but b never hears back: it
        times out and retries, and the retry is a suppressed duplicate. Cuts add up: a later
        partition leaves the earlier ones in place.
        """
        self._faults.partition(a, b, one_way=one_way)

    def isolate(self, region: str) -> None:
        """Cut ``region`` from every other region, both directions."""
        self._faults.isolate(region)

    def latency(self, a: str, b: str, ms: float, jitter: float = 0, *,
                one_way: bool = False) -> None:
        """Hold the bytes a sends to b (and b to a, unless ``one_way``) for ``ms`` ± a uniform
        ``jitter`` before forwarding them. ``ms=0`` (and no jitter) lifts the delay."""
        self._faults.set_latency(a, b, ms, jitter, one_way)

    def flap(self, a: str, b: str, period: float) -> None:
        """Cut a↔b now, heal it after ``period`` seconds, cut again, ... until ``heal(a, b)``
        or ``heal()``. Events ``flap-cut`` and ``flap-heal`` mark each toggle."""
        self._faults.flap(a, b, period)

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """Restore a↔b, or every link when no region is named: cuts, flaps and latency go;
        clock skew stays (``skew(region, 0)`` clears it)."""
        self._faults.heal(a, b)

    def link_state(self) -> dict[str, str]:
        return self._faults.link_state()

    def faults(self) -> dict[str, Any]:
        """The active faults: grudge, cuts (in words), latency, skew_ms, flaps."""
        return self._faults.describe()

    def skew(self, region: str, offset_ms: int) -> None:
        """Offset one region's physical clock (its HLC still never runs backwards)."""
        self._faults.skew(region, offset_ms)
