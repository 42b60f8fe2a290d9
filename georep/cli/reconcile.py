"""``georep reconcile``: redrive every DLQ, wait for the replicators, then repair with Merkle
trees and prove the regions equal (live lab). Front end only: the orchestration is
:meth:`georep.runtime.labdata.LabData.reconcile`, the same code as the embedded lab's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .connect import live, run
from .shared import HomeOpt, JsonOpt, err, out, seconds_option, styled

app = typer.Typer()


@app.command()
def reconcile(home: HomeOpt = None, as_json: JsonOpt = False,
              table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
              timeout: Annotated[float, seconds_option(
                  "Seconds to wait for the replicators to catch up.")] = 60,
              full: Annotated[bool, typer.Option(
                  "--full", help="Scan every region in full, even where its tree is kept "
                  "up to date from its stream (see 'What a reconcile proves' in the "
                  "README).")] = False,
              dry_run: Annotated[bool, typer.Option(
                  "--dry-run", help="Write nothing to any region (no DLQ redrive, no repair, "
                  "no conflict-feed entry): show what a repair would write, key by key (the "
                  "first 100). Exits 0 iff the regions are already equal.")] = False) -> None:
    """Redrive every link's DLQ, wait until every replicator has caught up, bring a Merkle tree
    per region up to date (from the stream records written since the last reconcile, or by a
    full parallel scan the first time, when a tree cannot be trusted, or with --full), repair
    the differing ranges with the table's policy (conflicts go to the feed), and verify. Exits
    0 iff the regions are proven equal. With --dry-run nothing is written to any region: the
    report names what a repair would write."""
    lab = live(home)
    if table is not None:
        lab.config.table(table)

    def go(progress: Progress | None) -> dict[str, Any]:
        tasks: dict[str, Any] = {}

        def advance(region: str, n: int) -> None:
            if progress is not None:
                if region not in tasks:
                    tasks[region] = progress.add_task(f"scan {region}", total=None)
                progress.advance(tasks[region], n)

        return run(lab, lambda lab: lab.reconcile(table, timeout=timeout, progress=advance,
                                                  full=full, dry_run=dry_run))

    if as_json:
        report = go(None)
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed} items"), TimeElapsedColumn(),
                      console=err) as progress:
            report = go(progress)
    if as_json:
        print(json.dumps(report, default=str))
    else:
        _render(report)
    if not report["verified"]:
        raise typer.Exit(1)


def _render(report: dict[str, Any]) -> None:
    phases, dry = report["seconds"], report.get("dry_run", False)
    delivered = sum(r["delivered"] for r in report["redrive"].values())
    out.print(("redrive: skipped (dry run); " if dry else
               f"redrive: {delivered} dead letters delivered ({phases['redrive']} s); ")
              + f"replicators caught up ({phases['catch_up']} s)")
    t = Table(title="reconcile (dry run: nothing written)" if dry else "reconcile")
    for col in ("table", "mode", "read", "ranges (differing)", "diverged",
                "would repair" if dry else "repaired", "conflicts", "scan s", "repair s",
                "verified"):
        t.add_column(col)
    for r in report["tables"]:
        writes = r["planned"] if dry else r["repaired"]
        t.add_row(r["table"], r["mode"], _read(r),
                  f"{r['ranges']} ({r['ranges_differing']})", str(r["keys_diverged"]),
                  ", ".join(f"{k}={v}" for k, v in writes.items() if v) or "0",
                  str(r["conflicts"]), str(r["seconds"].get("scan")),
                  str(r["seconds"].get("repair")),
                  styled("[green]yes") if r["verified"]
                  else Text.assemble(("no", "red"), f": {r['why']}"))
    out.print(t)
    for r in report["tables"] if dry else []:
        for p in r["planned_keys"]:
            out.print(f"{r['table']}: would write {p['key']!r} in {p['region']}")
    for r in report["tables"]:
        if r["mode"] == "full" and r["full_why"]:
            out.print(f"{r['table']}: full scan: {r['full_why']}")


def _read(r: dict[str, Any]) -> str:
    """What the first phase read per region: stream records (incremental) or scanned items."""
    if r["mode"] == "incremental":
        return ", ".join(f"{k}={v} records" for k, v in r["stream_records"].items())
    return ", ".join(f"{k}={v} items" for k, v in r["scanned"].items())

