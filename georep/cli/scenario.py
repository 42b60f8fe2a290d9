"""``georep scenario list | run NAME | tables``: the seed's incidents, told on the lab, each with
the story's claim beside what happened. Front end only: the scenarios are
:mod:`georep.scenarios`; this module renders their outcome tables.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .connect import lab_home
from .shared import HomeOpt, JsonOpt, RegionsOpt, fail, out, styled

app = typer.Typer()
group = typer.Typer(help="The seed's incidents as runnable scenarios: each story's claim beside "
                         "the measured outcome under each design.", no_args_is_help=True)
app.add_typer(group, name="scenario")


@group.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """The scenarios, their claims and their variants."""
    from ..scenarios import SCENARIOS

    rows = [{"name": s.name, "title": s.title, "claim": s.claim, "story": s.story,
             "variants": s.variants, "documented": s.documented} for s in SCENARIOS.values()]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title="scenarios (georep scenario run NAME)")
    for col in ("name", "the story's claim", "variants (policy)"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["claim"],
                      ", ".join(f"{v} ({p})" for v, p in r["variants"].items()))
    out.print(table)


@group.command()
def tables() -> None:
    """The lab.toml blocks of the scenarios' tables, for a live lab (add them, then restart it).
    """
    from ..scenarios.run import tables_toml

    print(tables_toml(), end="")


@group.command()
def run(
    name: Annotated[str, typer.Argument(help="The scenario (see `georep scenario list`).")],
    policy: Annotated[str | None, typer.Option(
        help="Run only the variants of this policy (lww, vclock, crdt) or this variant.")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="Run on the lab started with `georep up` (its lab.toml needs the "
                       "tables `georep scenario tables` prints).")] = False,
    expect: Annotated[bool, typer.Option(
        "--expect", help="Exit 1 unless every variant's outcome is the documented one.")] = False,
    regions: RegionsOpt = Path("regions"),
    home: HomeOpt = None,
    run_dir: Annotated[Path, typer.Option(
        help="Where the embedded lab writes runs/<id>/.")] = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """Tell a scenario on the lab; print its timeline and outcome table.

    It runs on a fresh embedded lab, or with --live on the running lab. The outcome table has
    the story's claim, what happened under each variant, and the evidence (keys, conflict-feed
    entries, request indexes) with --json.

    Exits 0 when the scenario ran and produced its table, whatever the outcome; with --expect,
    1 when an outcome differs from the documented one (each difference on one line).
    """
    from ..scenarios import get
    from ..scenarios.base import expect as compare
    from ..scenarios.run import run as run_scenario

    scenario = get(name)
    if not live and not regions.is_dir():
        fail(f"--regions {regions}: " + ("not a folder" if regions.exists() else
                                         "no such folder"))
    go = run_scenario(scenario, policy=policy, live=live, regions_dir=regions,
                      home=lab_home(home) if live else None, run_dir=run_dir)
    try:
        if as_json:
            outcome = asyncio.run(_terminable(go))
        else:
            with out.status(f"running scenario {name} on the "
                            f"{'live' if live else 'embedded'} lab…"):
                outcome = asyncio.run(_terminable(go))
    except asyncio.CancelledError:
        fail("stopped by SIGTERM; the links the scenario cut are healed", 143)
    problems = compare(scenario, outcome)
    if as_json:
        print(json.dumps({**outcome.as_dict(), "differences": problems}, default=str))
    else:
        _render(outcome, problems)
    raise typer.Exit(1 if expect and problems else 0)


async def _terminable(go):
    """Run ``go`` with SIGTERM cancelling it, as Ctrl-C does: the scenario's finally blocks
    heal what it cut before the process ends."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await go
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _render(outcome, problems: list[str]) -> None:
    out.rule(styled(f"[bold]{outcome.title}"))
    for step in outcome.timeline:
        out.print(Text.assemble((f"{step['t_ms']:>6} ms", "dim"), "  ",
                                (f"[{step['variant']}] ", "cyan"), step["text"]),
                  highlight=False)
    table = Table(title=f"the claim: \u201c{outcome.claim}\u201d ({outcome.lab} lab, "
                        f"run {outcome.run_id})")
    for col in ("variant", "claim", "what happened"):
        table.add_column(col)
    for row in outcome.rows:
        table.add_row(row.variant, Text("holds", "green") if row.holds else Text("fails", "red"),
                      row.outcome)
    out.print(table)
    for problem in problems:
        out.print(Text.assemble(("differs from the documented outcome: ", "yellow"), problem),
                  highlight=False)
    out.print(Text("evidence (keys, feed entries, request indexes): --json", style="dim"))
