"""``georep report RUN_DIR...``: a run's analysis figures as PNG files and an HTML page.

Front end only: the loading, the figures and the page are :mod:`georep.analysis` (imported
when the command runs: pandas is not needed by the other commands). Several run directories
(say one per policy, same seed) are drawn side by side, one panel each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .shared import JsonOpt, fail, out

app = typer.Typer()


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="Run directories (as `georep test` prints them); several are compared.")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Where the PNG files and index.html go.",
        show_default="RUN_DIR/report (the first run's)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the divergence, lag and DLQ/breaker figures of one or more runs as PNG files,
    with an HTML page beside them (index.html: the policies compared, the figures, the time
    to converge after each heal, lag percentiles, events by kind)."""
    from ..analysis import RunDirError, load
    from ..analysis.report import write_report

    try:
        runs = [load(d) for d in run_dirs]
    except RunDirError as exc:
        fail(str(exc))
    target = out_dir if out_dir is not None else run_dirs[0] / "report"
    if target.exists() and not target.is_dir():
        fail(f"--out {target}: exists and is not a directory")
    written = write_report(runs, target)
    if as_json:
        out.print_json(json.dumps(written, default=str))
        return
    table = Table("run", "policy", "writes", "conflicts", "lost (silent)", "lost (in feed)",
                  "siblings", "converge s", "verdict", title="runs")
    for run, row in zip(runs, written["summary"], strict=True):
        table.add_row(run.path.name, *(_cell(row[c]) for c in (
            "policy", "writes", "conflicts", "lost_silent", "lost_recorded", "siblings",
            "converge_s", "valid")))
    out.print(table)
    out.print(f"report: {target / 'index.html'}")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.3g}"
    return "–" if value is None else str(value)
