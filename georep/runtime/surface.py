"""The one lab interface: what a workload, a story, a scenario or a test may ask of a lab.

Place in the data flow: between whatever drives a lab and the two runtimes that satisfy it,
the embedded :class:`~georep.runtime.embedded.Lab` (everything in this process) and
:class:`~georep.runtime.live.LiveLab` (a client of a lab started with ``georep up``). Code
written against :class:`LabSurface` runs on both. The data half (writes through georep's write
path with their ``write`` events, reads, the conflict feed, divergence and the reconcile
orchestration) is written once, in :class:`~georep.runtime.labdata.LabData`, which both
runtimes inherit.

Faults are synchronous (they change a proxy's state, or ask the live lab's supervisor to);
everything that talks to a region or waits is a coroutine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..config import LabConfig

__all__ = ["LabSurface"]


@runtime_checkable
class LabSurface(Protocol):
    config: LabConfig
    run_id: str

    # -- data: georep's write path, reads, the conflict feed -----------------------------------
    async def put(self, region: str, table: str, key: Any, values: Mapping[str, Any], *,
                  replaced: list | None = None) -> Any: ...
    async def update(self, region: str, table: str, key: Any, values: Mapping[str, Any], *,
                     replaced: list | None = None) -> Any: ...
    async def delete(self, region: str, table: str, key: Any, *,
                     replaced: list | None = None) -> Any: ...
    async def get(self, region: str, table: str, key: Any) -> dict[str, Any] | None: ...
    async def scan(self, region: str, table: str, *, raw: bool = False
                   ) -> list[dict[str, Any]]: ...
    async def conflicts(self, table: str | None = None, key: Any = None,
                        region: str | None = None) -> list[dict[str, Any]]: ...
    async def diverged(self, table: str) -> dict[str, dict[str, Any]]: ...

    # -- faults ----------------------------------------------------------------------------
    def partition(self, a: str, b: str, *, one_way: bool = False) -> Any: ...
    def heal(self, a: str | None = None, b: str | None = None) -> Any: ...
    def skew(self, region: str, offset_ms: int) -> Any: ...
    def link_state(self) -> dict[str, str]: ...

    # -- replicators, convergence, the run ----------------------------------------------------
    async def kill_replicator(self, src: str, dst: str) -> Any: ...
    async def start_replicator(self, src: str, dst: str) -> Any: ...
    async def settle(self, timeout: float = 30.0) -> None: ...
    async def reconcile(self, table: str | None = None, *, timeout: float = 60.0,
                        progress: Callable[[str, int], None] | None = None
                        ) -> dict[str, Any]: ...
    def run_events(self) -> list[dict[str, Any]]: ...
