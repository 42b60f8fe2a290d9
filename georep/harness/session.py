"""One ``georep test`` run from options to verdict: the lab, the plan, the run, the checks.

Place in the data flow: called by the CLI (``georep test``) and by tests. :func:`run_test`
builds the workload's client and the plan, starts an embedded lab with the workload's tables
(or connects to a live lab and finds them), runs the plan (:mod:`.runner`), records the
history (:mod:`.recorder`), judges it with the pure checkers (:mod:`georep.core.checkers`) and
writes ``plan.json``, ``results.json``, ``run.json`` and the plots (:mod:`.results`) in the run
directory.

On the embedded lab the run is deterministic unless ``realtime``: a
:class:`~georep.runtime.simlab.SimLab` under a :class:`~georep.runtime.sim.Simulation` seeded
with the run's seed, so the same seed gives the same history byte for byte (see
``docs/harness.md``, "Deterministic runs"). A live lab is always real time.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import LabConfig, load
from ..core.checkers import check
from ..core.plan import make_plan
from ..errors import LabError
from ..runtime.embedded import Lab
from ..runtime.live import LiveLab
from ..runtime.sim import Simulation
from ..runtime.simlab import SimLab
from .clients import Bank, Counter, SetWorkload, WorkloadClient
from .orders import Orders
from .recorder import Recorder
from .register import Register
from .results import write_results
from .runner import Progress, execute, finish
from .tables import find_tables, with_tables

CLIENTS: dict[str, type[WorkloadClient]] = {
    "register": Register, "counter": Counter, "set": SetWorkload, "bank": Bank,
    "orders": Orders}
OPTIONS = {"bank": ("balance",), "orders": ("idempotency",), "register": ("writers",)}


@dataclass(frozen=True)
class RunSpec:
    workload: str
    policy: str
    seed: int
    nemeses: tuple[str, ...] = ("partition",)
    duration: float = 20.0
    rate: float = 10.0
    concurrency: int | None = None  # default: two processes per region
    options: dict[str, str] = field(default_factory=dict)
    regions: str | Path | LabConfig = "regions"
    live: bool = False
    home: str | Path | None = None
    runs: str | Path = "runs"  # where the run directory goes: not part of the configuration
    realtime: bool = False  # a live lab is always real time
    # where to load ``regions`` from when it differs from how ``regions`` is written (a replay
    # from another directory); not part of the configuration
    regions_at: str | Path | None = None

    @property
    def simulated(self) -> bool:
        return not (self.realtime or self.live)

    def describe(self) -> dict[str, Any]:
        """The run's configuration as ``results.json`` records it (and ``--replay`` reads)."""
        d = asdict(self)
        del d["runs"], d["regions_at"]
        d["regions"] = "(config)" if isinstance(self.regions, LabConfig) else str(self.regions)
        d["home"] = None if d["home"] is None else str(d["home"])
        d["nemeses"] = list(self.nemeses)
        d["realtime"] = not self.simulated
        return d


def client_for(spec: RunSpec, prefix: str = "") -> WorkloadClient:
    cls = CLIENTS.get(spec.workload)
    if cls is None:
        raise LabError(f"unknown workload {spec.workload!r} (known: {', '.join(CLIENTS)})")
    allowed = OPTIONS.get(spec.workload, ())
    for name in spec.options:
        if name not in allowed:
            known = ", ".join(allowed) or "none"
            raise LabError(f"the {spec.workload} workload has no option {name!r} "
                           f"(its options: {known})")
    client = cls(spec.policy, spec.options, prefix)
    client.needs()  # a policy the workload cannot run on is one line, before any lab starts
    return client


async def run_test(spec: RunSpec, *, progress: Progress | None = None,
                   started: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Run the test; its results (``results.json``'s content, with ``run_dir``)."""
    run_id = time.strftime("test-%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    # a live lab keeps earlier runs' items: this run's keys carry its id
    client = client_for(spec, prefix=run_id + "/" if spec.live else "")
    if spec.live:
        async with LiveLab.connect(spec.home) as lab:
            client.bind(find_tables(lab.config, client.needs()))
            return await _run(lab, spec, client, Path(spec.runs) / run_id, progress, started)
    config = spec.regions if isinstance(spec.regions, LabConfig) else \
        load(spec.regions_at or spec.regions)
    config, tables = with_tables(config, client.needs())
    client.bind(tables)
    kw: dict[str, Any] = {"run_dir": spec.runs, "run_id": run_id, "seed": spec.seed}
    if not spec.simulated:
        async with Lab(config, **kw) as lab:
            return await _run(lab, spec, client, lab.run_path, progress, started)
    sim = Simulation(spec.seed)
    client.op_timeout_s = None  # an operation waits on virtual time while the others run
    async with SimLab(config, sim=sim, **kw) as lab:
        return await _run(lab, spec, client, lab.run_path, progress, started)


async def _run(lab: Any, spec: RunSpec, client: WorkloadClient, run_dir: Path,
               progress: Progress | None, started: Callable[[Path], None] | None
               ) -> dict[str, Any]:
    regions = [r.name for r in lab.config.regions]
    plan = make_plan(seed=spec.seed, workload=spec.workload, nemeses=spec.nemeses,
                     regions=regions, links=lab.config.links, duration=spec.duration,
                     rate=spec.rate, concurrency=spec.concurrency or 2 * len(regions),
                     options=spec.options)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=1) + "\n")
    if started is not None:
        started(run_dir)
    sim = getattr(lab, "sim", None)
    rec = Recorder(run_dir / "history.jsonl") if sim is None else \
        Recorder(run_dir / "history.jsonl", clock_ns=sim.elapsed_ns, wall=sim.time)
    wall0 = time.monotonic()
    keys = plan.keys()
    try:
        await client.setup(lab, rec, keys)
        if spec.workload == "bank":
            await lab.settle(timeout=60)  # every region sees the opening balances
        state = await execute(lab, plan, client, rec, progress)
        reconcile = await finish(lab, client, rec, keys, state, progress)
    finally:
        await client.close()
        rec.close()
    if Path(lab.run_path) != run_dir:  # a live lab logs to its own run: keep this test's part
        _copy_events(lab.run_events(), run_dir / "events.jsonl", rec.started_at, client.prefix)
    verdict = check(rec.ops)
    if not plan.ops:  # nothing was tested: a CI job must not read that as a pass
        verdict = {**verdict, "valid": "unknown",
                   "reason": "the plan has no client operation (raise --rate or --duration)"}
    run = {"run_id": run_dir.name, "lab_run": lab.run_id, "started_at": rec.started_at,
           "wall_clock_start": round(time.time() - (time.monotonic() - wall0), 3),
           "mode": "realtime" if sim is None else "deterministic",
           "wall_s": round(time.monotonic() - wall0, 3)}
    if not spec.live and not isinstance(spec.regions, LabConfig):
        run["regions_dir"] = str(Path(spec.regions_at or spec.regions).resolve())
    if sim is not None:
        run.update(virtual_s=round(sim.now, 3), turns=sim.turns,
                   virtual_per_wall=round(sim.now / max(run["wall_s"], 1e-9), 2))
    return write_results(run_dir, spec=spec.describe(), plan=plan, history=rec.ops,
                         verdict=verdict, reconcile=reconcile, run=run)


def _copy_events(events: list[dict[str, Any]], path: Path, since: float, prefix: str) -> None:
    """The live lab's events of this run: from its start, those naming one of its keys (every
    key it writes starts with ``prefix``; a ``read`` event, one of its ``keys``) or none
    (faults, kills, breakers)."""
    def mine(key: Any) -> bool:
        values = key.values() if isinstance(key, dict) else [key]
        return any(str(v).startswith(prefix) for v in values)

    def ours(e: dict[str, Any]) -> bool:
        if e.get("keys"):
            return any(mine(k) for k in e["keys"])
        return e.get("key") is None or mine(e["key"])

    with path.open("w", encoding="utf-8") as f:
        for e in events:
            if e.get("time", 0) >= since and ours(e):
                f.write(json.dumps(e, default=str) + "\n")
