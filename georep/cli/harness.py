"""``georep test`` and ``georep check``: a workload under faults, a history, a verdict.

Front end only: the run is :func:`georep.harness.session.run_test` (replay and shrink:
:mod:`georep.harness.replay`), the checkers are :mod:`georep.core.checkers`. Exit codes: 0
valid, 1 invalid, 2 unknown (or a bad argument, said in one line on stderr); ``--replay``
exits 3 when the replayed history is not the recorded one.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..config import load
from ..core.checkers import check as run_checkers
from ..core.history import pairs, parse_lines
from ..core.plan import NEMESES, WORKLOADS, check_options
from ..errors import LabError
from ..harness.replay import replay, shrink
from ..harness.session import RunSpec, client_for, run_test
from ..harness.tables import find_tables
from .connect import live_config
from .shared import HomeOpt, JsonOpt, err, fail, out, seconds_option

app = typer.Typer()
EXIT = {True: 0, False: 1, "unknown": 2}


def _options(pairs: list[str]) -> dict[str, str]:
    out_: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            fail(f"--option {pair!r}: write it as NAME=VALUE, e.g. idempotency=home")
        out_[name] = value
    return out_


def _positive_rate(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        fail(f"--rate must be a positive, finite number of operations per second, "
             f"not {value:g}")
    return value


@app.command("test")
def test_cmd(
    workload: Annotated[str, typer.Option(
        help=f"What the clients do: {', '.join(WORKLOADS)}.")] = "register",
    policy: Annotated[str, typer.Option(
        help="The conflict policy of the workload's tables: lww, vclock or crdt.")] = "lww",
    nemesis: Annotated[str, typer.Option(
        help=f"Faults, comma-separated: {', '.join(NEMESES)}, or none.")] = "partition",
    duration: Annotated[float, seconds_option("Seconds of workload and faults.")] = 20.0,
    rate: Annotated[float, typer.Option(
        help="Operations per second, all clients together.", callback=_positive_rate)] = 10.0,
    concurrency: Annotated[int | None, typer.Option(
        help="Client processes, spread over the regions.", show_default="2 per region")
    ] = None,
    seed: Annotated[int | None, typer.Option(
        help="The seed of the schedule (operations and faults).", show_default="random")
    ] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="A workload option NAME=VALUE: bank balance=pncounter|bcounter,"
        " orders idempotency=local|home, register writers=georep|plain|mixed.")] = None,
    regions: Annotated[Path, typer.Option(
        help="Folder of region files and lab.toml (embedded lab).")] = Path("regions"),
    live: Annotated[bool, typer.Option(
        "--live", help="Run against the lab started with `georep up`.")] = False,
    home: HomeOpt = None,
    runs: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    realtime: Annotated[bool, typer.Option(
        "--realtime", help="Run everything at once on the wall clock instead of one step at "
        "a time on a virtual clock (always so with --live).")] = False,
    replay_dir: Annotated[Path | None, typer.Option(
        "--replay", help="Run a recorded run directory's seed and configuration again (the "
        "other options are not used) and say whether the history came out the same; exit 3 "
        "when it did not.", show_default=False)] = None,
    shrink_run: Annotated[bool, typer.Option(
        "--shrink", help="When the run is invalid, run it again smaller (same seed: half "
        "the duration, rate or processes, a nemesis fewer) and report the smallest run that "
        "still fails, with its command line.")] = False,
    shrink_runs: Annotated[int, typer.Option(
        "--shrink-runs", help="At most this many runs while shrinking.")] = 12,
    as_json: JsonOpt = False,
) -> None:
    """Run a workload on a lab while nemeses inject faults; record every client's history;
    heal, reconcile, settle and read every region; check the history. Prints the seed and the
    run directory (history.jsonl, plan.json, results.json, run.json, plots).

    On the embedded lab the run is deterministic: client operations, replicator steps and
    faults run one at a time, in an order drawn from the seed, on a virtual clock, against the
    real moto regions; the same seed gives the same history.jsonl and results.json byte for
    byte (docs/harness.md, "Deterministic runs"). Exit 0 valid, 1 invalid, 2 unknown."""
    if replay_dir is not None:
        _replay(replay_dir, as_json)
    if shrink_runs < 1:
        fail("--shrink-runs must be at least 1")
    if concurrency is not None and concurrency < 1:
        fail("--concurrency must be at least 1")
    nemeses = tuple(n.strip() for n in nemesis.split(",") if n.strip()) or ("none",)
    try:
        check_options(workload, nemeses, duration, rate, concurrency or 1)
    except ValueError as exc:
        fail(str(exc))
    if not live and not regions.is_dir():
        fail(f"{regions}: no such regions folder (give --regions DIR)")
    spec = RunSpec(workload=workload, policy=policy, nemeses=nemeses,
                    seed=seed if seed is not None else secrets.randbits(32),
                    duration=duration, rate=rate, concurrency=concurrency,
                    options=_options(option or []), regions=regions, live=live, home=home,
                    runs=runs, realtime=realtime)
    client = client_for(spec)  # a bad option or policy: one line, before anything starts
    if live:  # no lab, or no table for the workload: one line, before anything starts
        find_tables(live_config(home)[2], client.needs())
    err.print(f"seed {spec.seed}" + ("" if spec.simulated else " (real time)"))
    results = _run(spec, show=not as_json)
    if shrink_run and results["valid"] is False:
        regions_n = len(live_config(home)[2].regions) if live else len(load(regions).regions)
        results["shrink"] = asyncio.run(shrink(spec, results, regions=regions_n,
                                               max_runs=shrink_runs, said=err.print))
    elif shrink_run:
        err.print("the run is not invalid: nothing to shrink")
    if as_json:
        print(json.dumps(results, default=str))
    else:
        _render(results)
    raise typer.Exit(EXIT[results["valid"]])


def _replay(run_dir: Path, as_json: bool) -> None:
    err.print(f"replaying {run_dir}")
    results = asyncio.run(replay(run_dir))
    r = results["replay"]
    if as_json:
        print(json.dumps(results, default=str))
    else:
        _render(results)
        h = r["history"]
        if h["identical"]:
            out.print(f"replay: history identical ({h['lines']} lines); results "
                      f"{'identical' if r['results']['identical'] else 'DIFFERENT'}")
        else:
            out.print(Text(f"replay: history DIFFERS from line {h['first_difference']} "
                           f"(lines {h['lines'][0]} recorded, {h['lines'][1]} now)"
                           + ("" if r["deterministic"] else "; that run was real time"),
                           "bold red"))
        out.print(f"verdict: recorded {r['verdict']['recorded']}, "
                  f"replayed {r['verdict']['replayed']}")
    raise typer.Exit(EXIT[results["valid"]] if r["matched"] else 3)


def _run(spec: RunSpec, *, show: bool) -> dict[str, Any]:
    def started(run_dir: Path) -> None:
        err.print(f"run directory {run_dir}")

    if not show:
        return asyncio.run(run_test(spec, started=started))
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} ops"),
                  TextColumn("{task.fields[faults]}"), TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task("run", total=None, faults="")

        def progress(s: dict[str, Any]) -> None:
            faults = ", ".join(s["faults"]) or "no faults"
            bar.update(task, description=s["phase"], completed=s["done"], total=s["planned"],
                       faults=faults)

        return asyncio.run(run_test(spec, progress=progress, started=started))


@app.command("check")
def check_cmd(
    path: Annotated[Path, typer.Argument(
        help="A run directory (its history.jsonl) or a history file in georep's format.")],
    as_json: JsonOpt = False,
) -> None:
    """Run the checkers again on a recorded history (or one your own client wrote, in the
    format of docs/harness.md) and print the verdict. Exit 0 valid, 1 invalid, 2 unknown."""
    file = path / "history.jsonl" if path.is_dir() else path
    if not file.is_file():
        fail(f"{file}: no such history file")
    try:
        with file.open(encoding="utf-8") as f:
            history = parse_lines(f)
        pairs(history)  # every completion has its invoke, one at a time per process
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabError(f"{file}: {exc}") from None
    verdict = run_checkers(history)
    if as_json:
        print(json.dumps({"history": str(file), **verdict}, default=str))
    else:
        _render({"valid": verdict["valid"], "checkers": verdict["checkers"]})
    raise typer.Exit(EXIT[verdict["valid"]])


def _mark(valid: Any) -> Text:
    if valid is True:
        return Text("valid", "green")
    if valid is False:
        return Text("INVALID", "bold red")
    return Text("unknown", "yellow")


def _render(results: dict[str, Any]) -> None:
    t = Table(title="checkers")
    for col in ("checker", "verdict", "details"):
        t.add_column(col)
    for name, r in results["checkers"].items():
        details = {k: v for k, v in r.items() if k != "valid"}
        text = json.dumps(details, default=str)
        t.add_row(name, _mark(r["valid"]), text if len(text) < 200 else text[:197] + "...")
    out.print(t)
    if "counts" in results:
        line = "; ".join(f"{f}: {c['ok']} ok, {c['fail']} fail, {c['info']} info"
                         for f, c in results["counts"].items())
        out.print(f"operations: {line}")
        for p in results.get("faults", []):
            out.print(f"fault {p['kind']} {json.dumps(p['target'])}: "
                      f"{p['start_s']:.1f}s to {p['stop_s']:.1f}s")
        out.print(f"run directory: {results['run_dir']}")
    if "shrink" in results:
        s = results["shrink"]["smallest"]
        out.print(f"smallest failing run ({results['shrink']['runs']} tried): "
                  f"{s['operations']} operations, {s['faults']} faults, failing "
                  f"{', '.join(s['checkers'])}; {s['run_dir']}")
        out.print(f"  {s['command']}")
    out.print(Text.assemble("verdict: ", _mark(results["valid"])))
