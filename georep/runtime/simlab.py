"""The deterministic lab: the embedded lab with every clock, sleep and step under a
:class:`~georep.runtime.sim.Simulation`.

Place in the data flow: ``georep test`` builds it instead of
:class:`~georep.runtime.embedded.Lab` unless ``--realtime`` is given. The regions are the
same moto servers and the links the same proxies over real sockets; what changes:

- the lab's clock is the simulation's (HLC physical clocks with each region's skew, the
  conflict feed's times, the event log, the breaker's cool-down, the retry budgets);
- each table of each link's replicator is an actor of its own, ``serial`` (one key at a time,
  a pause after each batch), sleeping on virtual time (backoff, idle polls), and reading each
  stream record's creation time as the virtual time a replicator of its region first read the
  record (moto's is its wall clock): a plain write's stamp is that time, the same for every
  link of the region and after a restart, as the real field is;
- the write path waits for a plain write's stamp on virtual time (the replicators run meanwhile);
- flaps toggle on virtual time;
- the links' clients wait up to :data:`~georep.runtime.sim.SIM_TIMEOUT_S` for a reply (a
  wall-clock timeout would make the outcome depend on the machine's speed);
- the link proxies work per HTTP exchange: a cut answers at once by closing the connection
  (after reading the whole request, and, when only the responses are dropped, after the
  destination has answered), the failure a timeout would give without the wait; latency is
  virtual time passing;
- :meth:`settle` runs the simulation until every running replicator has had a quiet poll,
  twice, within ``timeout`` *virtual* seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..config import LabConfig
from ..core.hlc import Timestamp
from ..engine.replicator import Replicator
from ..errors import LabError
from .embedded import Lab
from .sim import SIM_TIMEOUT_S, Simulation


class SimLab(Lab):
    # A cut answers at once here; a wall-clock timeout could only fire on a slow machine, and
    # would make the outcome depend on it (the turn limit still catches a hang).
    link_wait_s = SIM_TIMEOUT_S

    def __init__(self, config: LabConfig, *, sim: Simulation, **kw: Any) -> None:
        super().__init__(config, clock=sim.time, **kw)
        self.sim = sim
        self._faults.sleep = sim.sleep
        # (source region, table, sequence number) -> the virtual time a replicator first read
        # that stream record: its creation time for every link, and for every restart
        self._first_read: dict[tuple[str, str, str], float] = {}

    async def start(self) -> None:
        external = [r for r in self.config.regions if not r.local]
        if external:  # its links could not be faulted in virtual time
            raise LabError(f"region {external[0].name} is external ({external[0].source}): the "
                           "deterministic simulation runs lab regions only; run with --realtime")
        await super().start()
        for writer in self.writers.values():
            writer.sleep = self.sim.sleep

    def _proxy_options(self) -> dict[str, Any]:
        return {"exchange": True, "sleep": self.sim.sleep}


    def _replicator_options(self, src: str) -> dict[str, Any]:
        def created_ms(record: dict, version) -> float:
            # the version's HLC is the source's virtual clock at the write, skew included
            return Timestamp.unpack(version.meta.hlc).physical - self.skew_ms[src]

        def record_clock(table: str, record: dict) -> float:
            key = (src, table, record["dynamodb"]["SequenceNumber"])
            return self._first_read.setdefault(key, self.sim.time())

        return {"sleep": self.sim.sleep, "serial": True, "created_ms": created_ms,
                "record_clock": record_clock}

    def _run_replicator(self, rep: Replicator) -> asyncio.Future:
        tasks = [self.sim.spawn(f"replicator {rep.name} {tl.table.name}",
                                lambda tl=tl: rep.run(only=[tl]))
                 for tl in rep.tables]
        return asyncio.gather(*tasks)

    async def settle(self, timeout: float = 30.0) -> None:
        """Run the simulation until every running replicator has found nothing new twice
        (the second round catches what the first caused); TimeoutError when that takes more
        than ``timeout`` virtual seconds (a cut link, say)."""
        for _ in range(2):
            marks = {key: rep.mark() for key, rep in self.replicators.items()
                     if key in self._tasks}

            def quiet(marks: dict = marks) -> bool:
                self._check_tasks()
                return all(self.replicators[key].quiet_since(mark) or self._tasks[key].done()
                           for key, mark in marks.items() if key in self._tasks)

            await self.sim.run(quiet, limit_s=timeout)
        self._check_tasks()
