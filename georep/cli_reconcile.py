"""``georep reconcile``: redrive every DLQ, wait for the replicators, then repair with Merkle
trees and prove the regions equal (live lab). Front end only: the work is
:func:`georep.engine.reconcile.reconcile_table`, the same as ``Lab.reconcile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .cli import JsonOpt, app, err, out, seconds_option, styled
from .cli_dlq import _with_link
from .cli_lab import HomeOpt, _home
from .config import load
from .errors import LabError
from .runtime.control import ControlClient
from .runtime.home import LabHome


def _wait_caught_up(home: LabHome, timeout: float) -> None:
    control = ControlClient(home)
    deadline = time.monotonic() + timeout
    while True:
        s = control.call("GET", "/status")
        problems = []
        for link, r in s["replicators"].items():
            if not r["alive"]:
                problems.append(f"replicator {link} is dead (start it with "
                                f"`georep replicator start {link.replace('>', ' ')}`)")
            elif s["links"][link]["state"] != "open":
                problems.append(f"link {link} is {s['links'][link]['state']} (`georep heal`)")
            elif r["pending"] != 0 or r["breaker"] != "closed":
                problems.append(f"replicator {link} has {r['pending']} pending, breaker "
                                f"{r['breaker']}")
        if not problems:
            return
        if time.monotonic() > deadline:
            raise LabError(f"the replicators did not catch up within {timeout:.0f}s: "
                           + "; ".join(problems))
        time.sleep(0.25)


@app.command()
def reconcile(home: HomeOpt = None, as_json: JsonOpt = False,
              table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
              timeout: Annotated[float, seconds_option(
                  "Seconds to wait for the replicators to catch up.")] = 60) -> None:
    """Redrive every link's DLQ, wait until every replicator has caught up, build a Merkle tree
    per region from parallel segmented scans, repair the differing ranges with the table's
    policy (conflicts go to the feed), and verify. Exits 0 iff the regions are proven equal."""
    from aiobotocore.session import AioSession

    from .cli_regions import region_client
    from .engine.reconcile import reconcile_table

    h = _home(home)
    state = h.state()
    config = load(state["regions_dir"])
    tables = [config.table(table)] if table else list(config.tables)
    phases: dict[str, float] = {}
    t = time.perf_counter()
    redrives: dict[str, dict] = {}

    def redrive_all() -> int:
        blocked = 0
        for src, dst in config.links:
            report = asyncio.run(_with_link(home, f"{src}:{dst}",
                                            lambda rep: rep.redriver.redrive()))
            seen = redrives.get(f"{src}>{dst}", {})
            redrives[f"{src}>{dst}"] = {
                "delivered": seen.get("delivered", 0) + report.delivered,
                "suppressed": seen.get("suppressed", 0) + report.suppressed,
                "blocked": report.blocked, "poison": len(report.poison),
                "stopped": report.stopped}
            blocked += report.blocked
        return blocked

    blocked = redrive_all()
    phases["redrive"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    _wait_caught_up(h, timeout)
    if blocked:  # dead letters that waited for a plain write's stamp: stamped by now
        redrive_all()
        _wait_caught_up(h, timeout)
    phases["catch_up"] = round(time.perf_counter() - t, 3)

    async def go(progress: Progress | None) -> list[Any]:
        async with contextlib.AsyncExitStack() as stack:
            clients = {}
            for r in config.regions:
                clients[r.name] = await stack.enter_async_context(
                    region_client(AioSession(), "dynamodb", r, state["regions"][r.name]))
            reports = []
            for tb in tables:
                tasks = {}
                if progress is not None:
                    tasks = {r: progress.add_task(f"scan {r}/{tb.name}", total=None)
                             for r in clients}

                def advance(region: str, n: int, tasks=tasks) -> None:
                    if progress is not None:
                        progress.advance(tasks[region], n)

                reports.append(await reconcile_table(clients, tb, progress=advance))
            return reports

    if as_json:
        reports = asyncio.run(go(None))
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed} items"), TimeElapsedColumn(),
                      console=err) as progress:
            reports = asyncio.run(go(progress))
    verified = all(r.verified for r in reports)
    if as_json:
        print(json.dumps({"verified": verified, "redrive": redrives, "seconds": phases,
                          "tables": [r.__dict__ for r in reports]}, default=str))
    else:
        _render(reports, redrives, phases)
    if not verified:
        raise typer.Exit(1)


def _render(reports, redrives, phases) -> None:
    delivered = sum(r["delivered"] for r in redrives.values())
    out.print(f"redrive: {delivered} dead letters delivered ({phases['redrive']} s); "
              f"replicators caught up ({phases['catch_up']} s)")
    t = Table(title="reconcile")
    for col in ("table", "scanned", "ranges (differing)", "diverged", "repaired", "conflicts",
                "scan s", "repair s", "verified"):
        t.add_column(col)
    for r in reports:
        t.add_row(r.table, ", ".join(f"{k}={v}" for k, v in r.scanned.items()),
                  f"{r.ranges} ({r.ranges_differing})", str(r.keys_diverged),
                  ", ".join(f"{k}={v}" for k, v in r.repaired.items()) or "0",
                  str(r.conflicts), str(r.seconds.get("scan")), str(r.seconds.get("repair")),
                  styled("[green]yes") if r.verified
                  else Text.assemble(("no", "red"), f": {r.why}"))
    out.print(t)

