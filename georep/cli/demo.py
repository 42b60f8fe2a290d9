"""``georep demo``: the global-tables story on an embedded lab, told step by step with its
verdict. Front end only: the story is :mod:`georep.scenarios.global_tables` (``georep scenario
run global-tables`` tells it under every policy at once).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..config import load
from .shared import JsonOpt, RegionsOpt, fail, out, styled

app = typer.Typer()


@app.command()
def demo(
    regions: RegionsOpt = Path("regions"),
    policy: Annotated[str, typer.Option(
        help="Conflict policy of the users table: lww, vclock or crdt.")] = "lww",
    run_dir: Annotated[Path, typer.Option(help="Where runs/<id>/ is written.")] = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """Tell the DynamoDB global-tables story on an embedded lab.

    us-east writes user_123; it replicates; the link is partitioned; both sides update the
    same item; the replicators retry and cannot deliver; the partition heals and the regions
    converge. The verdict says which write won and which was overwritten. Exits 0 iff the
    regions converged.
    """
    from dataclasses import replace

    from ..runtime.embedded import Lab
    from ..scenarios import global_tables

    config = load(regions)
    if policy not in ("lww", "vclock", "crdt"):
        fail(f"unknown policy {policy!r} (available: lww, vclock, crdt)")
    # Under crdt the story's status is a multi-value register, balance a bounded counter
    # (never below zero) and logins a PN-counter.
    types = {"status": "mvregister", "balance": "bcounter", "logins": "pncounter"}
    tables = tuple(replace(t, policy=policy, crdt=types if policy == "crdt" else {})
                   if t.name == "users" else t for t in config.tables)
    config = replace(config, tables=tables)
    config.table("users")
    names = [r.name for r in config.regions]
    if not {"us-east", "eu-west"} <= set(names):
        fail(f"the demo needs regions us-east and eu-west; {regions} has {', '.join(names)}")

    async def go():
        async with Lab.embedded(config, run_dir=run_dir) as lab:
            return await global_tables.run(lab)

    if as_json:
        report = asyncio.run(go())
    else:
        with out.status("running the story on an embedded lab…"):
            report = asyncio.run(go())
    if as_json:
        print(json.dumps(report.as_dict(), default=str))
    else:
        _render_demo(report, run_dir)
    raise typer.Exit(0 if report.converged else 1)


def _render_demo(report, run_dir: Path) -> None:
    out.rule(styled(f"[bold]global tables under a partition — policy {report.policy}"))
    for step in report.timeline:
        out.print(Text.assemble((f"{step['t_ms']:>6} ms", "dim"), "  ", step["text"]),
                  highlight=False)
    table = Table(title="final item in each region (metadata hidden)")
    table.add_column("region")
    table.add_column("item")
    for region, item in report.regions.items():
        table.add_row(region, json.dumps(item, sort_keys=True))
    out.print(table)
    if report.converged and report.siblings:
        values = next(iter(report.siblings.values()))
        out.print(styled(f"[green]converged[/green]: every region holds the same {len(values)} "
                         "siblings; nothing was lost, and a reader must choose "
                         "(`georep resolve … --pick N`):"), highlight=False)
        for n, v in enumerate(values, 1):
            out.print(f"  {n}. {json.dumps(v, sort_keys=True)}", highlight=False)
    elif report.converged and report.counters:
        want = report.counters["expected"]
        first = next(iter(report.regions))
        got = report.counters[first]
        out.print(Text.assemble(
            ("converged", "green"), f" by merging: status keeps both values "
            f"{report.regions[first]['status']}; balance {got['balance']} (expected "
            f"{want['balance']}), logins {got['logins']} (expected {want['logins']}): "
            "no increment or decrement lost."), highlight=False)
    elif report.converged:
        out.print(Text.assemble(("converged", "green"), ": every region holds the same item; "
                                "the write from ", (report.winner, "bold"), " won."))
    else:
        out.print(styled("[red]NOT converged[/red]: the regions disagree."))
    for lost in report.overwritten:
        out.print(Text.assemble(
            ("overwritten", "yellow"), f": the {lost['region']} write "
            f"{json.dumps(lost['value'], sort_keys=True)} is lost under last-writer-wins "
            "(recorded as a conflict, not silently). DynamoDB global tables' 'no data loss' "
            "does not hold for concurrent updates to one item."), highlight=False)
    out.print(Text(f"events: {run_dir / report.run_id / 'events.jsonl'}", style="dim"),
              highlight=False)
