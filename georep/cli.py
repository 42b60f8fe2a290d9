"""The georep command line (typer). Front end only: it parses, calls the lab, and renders.

Every error a user can cause ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .config import load
from .errors import GeorepError

app = typer.Typer(
    help="georep: multi-region DynamoDB replication under network partitions, as a lab.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Not a terminal (a pipe, a file, a test): wide enough that tables are not squeezed.
# markup=False: keys, values, paths and messages are printed as given ("[red]" stays); georep's
# own colours are Text with a style (see styled).
out = Console(width=None if sys.stdout.isatty() else 140, markup=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 400, markup=False)

RegionsOpt = Annotated[Path, typer.Option("--regions", help="Folder of region files and lab.toml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


@app.callback()
def _root() -> None:
    """georep: a lab for multi-region DynamoDB replication under network partitions.

    Regions are DynamoDB endpoints under moto; replicators stream each region's local writes
    to the others through link proxies, where partitions are injected.
    """


def styled(markup: str) -> Text:
    """georep's own rich markup (``"[red]down[/red]"``), never user text: escape any inside."""
    return Text.from_markup(markup)


def error_line(message: str) -> None:
    err.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    error_line(message)
    raise typer.Exit(code)


def _positive_seconds(param: typer.CallbackParam, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        fail(f"{param.opts[0]} must be a positive, finite number of seconds, not {value:g}")
    return value


def seconds_option(help_text: str):
    """A duration option, refused while parsing (before the command does anything) unless it
    is a positive, finite number of seconds."""
    return typer.Option(help=help_text, callback=_positive_seconds)


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

    from .runtime.embedded import Lab
    from .stories import global_tables

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


def load_commands() -> typer.Typer:
    """The whole CLI: registers the live-lab command modules on ``app`` and returns it."""
    from . import (  # noqa: F401  (they register their commands)
        cli_checkpoint,
        cli_data,
        cli_dlq,
        cli_lab,
        cli_reconcile,
    )

    return app


def main() -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    load_commands()
    try:
        app()
    except GeorepError as exc:
        error_line(str(exc))
        sys.exit(2)
    except (BotoCoreError, ClientError) as exc:  # a region call outside cli_regions' clients
        error_line(f"a region refused or did not answer: {exc}")
        sys.exit(2)
    except OSError as exc:  # a path given on the command line (--home, --run-dir, ...)
        if exc.filename is None:
            raise
        error_line(f"{exc.filename}: {exc.strerror or exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
