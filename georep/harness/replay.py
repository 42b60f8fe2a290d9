"""Replay and shrink: a recorded run again from its seed, and the smallest run that still fails.

Place in the data flow: ``georep test --replay RUN_DIR`` and ``georep test --shrink`` (and
tests) call :func:`replay` and :func:`shrink`, which call :func:`~.session.run_test`. A run's
configuration is read back from its ``results.json`` (:func:`spec_of`); a deterministic run
replayed must give the same ``history.jsonl`` and ``results.json`` byte for byte, and
:func:`compare` says where they first differ when they do not.

Shrinking is simple on purpose: the seed stays, and the run is made smaller along the lines a
user can type (half the duration, half the rate, half the processes, one nemesis fewer), one
change at a time, keeping each change after which the run is still invalid, until no change
keeps it failing or the budget of runs is spent. The smallest failing run is reported with its
command line.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.plan import check_options
from ..errors import LabError
from .session import RunSpec, run_test

MAX_SHRINK_RUNS = 12


def spec_of(run_dir: Path, runs: Path | None = None) -> RunSpec:
    """The :class:`RunSpec` a run directory's ``results.json`` records (its new run directory
    under ``runs``, by default beside the recorded one)."""
    path = Path(run_dir) / "results.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))["config"]
    except FileNotFoundError:
        raise LabError(f"{path}: no such file (is {run_dir} a run directory?)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{path}: not a georep results file ({exc})") from None
    if not isinstance(config, dict):
        raise LabError(f"{path}: not a georep results file (its config is not an object)")
    if config.get("regions") == "(config)":
        raise LabError(f"{run_dir}: that run's regions were given by a program, not a folder; "
                       "replay it from that program")
    try:
        nemeses, options = config["nemeses"], config.get("options") or {}
        concurrency = config.get("concurrency")
        if not (isinstance(nemeses, list) and all(isinstance(n, str) for n in nemeses)):
            raise ValueError("nemeses is not a list of names")
        if not (isinstance(options, dict)
                and all(isinstance(v, str) for v in options.values())):
            raise ValueError("options is not an object of NAME: VALUE strings")
        if concurrency is not None and (isinstance(concurrency, bool)
                                        or not isinstance(concurrency, int)):
            raise ValueError(f"concurrency {concurrency!r} is not a whole number")
        for name in ("workload", "policy", "regions"):
            if not isinstance(config[name], str):
                raise ValueError(f"{name} {config[name]!r} is not a string")
        spec = RunSpec(
            workload=config["workload"], policy=config["policy"], seed=int(config["seed"]),
            nemeses=tuple(nemeses), duration=float(config["duration"]),
            rate=float(config["rate"]), concurrency=concurrency,
            options=dict(options), regions=config["regions"],
            live=bool(config.get("live")), home=config.get("home"),
            runs=runs if runs is not None else Path(run_dir).parent,
            realtime=bool(config.get("realtime")), regions_at=_regions_dir(run_dir))
        # a run no plan can be drawn for fails here, not once a lab has started
        if not (math.isfinite(spec.duration) and math.isfinite(spec.rate)):
            raise ValueError("duration and rate must be finite")
        check_options(spec.workload, spec.nemeses, spec.duration, spec.rate,
                      1 if spec.concurrency is None else spec.concurrency)
    except KeyError as exc:
        raise LabError(f"{path}: its configuration is incomplete (no {exc})") from None
    except (TypeError, ValueError) as exc:
        raise LabError(f"{path}: its configuration is not one georep can run ({exc})") from None
    return spec


def _regions_dir(run_dir: Path) -> str | None:
    """The regions folder the run loaded, as ``run.json`` names it (resolved: a relative
    ``--regions`` means another folder from another directory), if it is still there."""
    try:
        where = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
        where = where.get("regions_dir") if isinstance(where, dict) else None
    except (OSError, ValueError):
        return None
    return where if isinstance(where, str) and Path(where).is_dir() else None


def compare(old: Path, new: Path) -> dict[str, Any]:
    """Whether two files are byte-identical; if not, the first line (0-based) that differs."""
    x, y = old.read_bytes(), new.read_bytes()
    a, b = x.splitlines(), y.splitlines()
    if x == y:
        return {"identical": True, "lines": len(a)}
    first = next((i for i, (p, q) in enumerate(zip(a, b, strict=False)) if p != q),
                 min(len(a), len(b)))
    return {"identical": False, "lines": [len(a), len(b)], "first_difference": first}


async def replay(run_dir: Path, *, runs: Path | None = None, **kw: Any) -> dict[str, Any]:
    """Run a recorded run's seed and configuration again; its results, with ``replay``: did
    the history and the results come out the same, and the verdicts of both."""
    run_dir = Path(run_dir)
    spec = spec_of(run_dir, runs)
    if not (run_dir / "history.jsonl").is_file():
        raise LabError(f"{run_dir / 'history.jsonl'}: no such file (the recorded history the "
                       "replay is compared with)")
    before = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    results = await run_test(spec, **kw)
    new = Path(results["run_dir"])
    history = compare(run_dir / "history.jsonl", new / "history.jsonl")
    same = compare(run_dir / "results.json", new / "results.json")
    results["replay"] = {
        "of": str(run_dir), "deterministic": spec.simulated,
        "matched": history["identical"] and same["identical"],
        "history": history, "results": same,
        "verdict": {"recorded": before.get("valid"), "replayed": results["valid"]}}
    return results


def command_line(spec: RunSpec) -> str:
    """The ``georep test`` command that runs ``spec``."""
    args = ["georep", "test", "--workload", spec.workload, "--policy", spec.policy,
            "--nemesis", ",".join(spec.nemeses), "--duration", f"{spec.duration:g}",
            "--rate", f"{spec.rate:g}", "--seed", str(spec.seed)]
    if spec.concurrency is not None:
        args += ["--concurrency", str(spec.concurrency)]
    for name, value in sorted(spec.options.items()):
        args += ["--option", f"{name}={value}"]
    if spec.live:
        args += ["--live"] + (["--home", str(spec.home)] if spec.home else [])
    else:
        args += ["--regions", str(spec.regions)]
    if spec.realtime:
        args.append("--realtime")
    return shlex.join(args)


def smaller(spec: RunSpec, regions: int) -> Iterator[tuple[str, RunSpec]]:
    """The one-step-smaller runs of ``spec``, each with what changed."""
    if spec.duration >= 2:
        yield f"duration {spec.duration:g} -> {spec.duration / 2:g}", replace(
            spec, duration=spec.duration / 2)
    if spec.rate >= 2:
        yield f"rate {spec.rate:g} -> {spec.rate / 2:g}", replace(spec, rate=spec.rate / 2)
    procs = spec.concurrency or 2 * regions
    if procs > 1:
        yield f"concurrency {procs} -> {procs // 2}", replace(spec, concurrency=procs // 2)
    if len(spec.nemeses) > 1:
        for n in spec.nemeses:
            yield f"without nemesis {n}", replace(
                spec, nemeses=tuple(x for x in spec.nemeses if x != n))
    elif spec.nemeses not in (("none",), ()):
        yield f"without nemesis {spec.nemeses[0]}", replace(spec, nemeses=("none",))


async def shrink(spec: RunSpec, results: dict[str, Any], *, regions: int,
                 max_runs: int = MAX_SHRINK_RUNS,
                 said: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Starting from an invalid run (``spec`` and its ``results``), the smallest run found
    that is still invalid: its configuration, operations, faults, directory and command."""
    if results["valid"] is not False:
        raise LabError("the run is not invalid: there is nothing to shrink")
    best, best_results, tried = spec, results, []
    progress = True
    while progress and len(tried) < max_runs:
        progress = False
        for change, candidate in smaller(best, regions):
            if len(tried) >= max_runs:
                break
            got = await run_test(candidate)
            tried.append({"change": change, "valid": got["valid"], "run_dir": got["run_dir"],
                          "operations": got["operations"]})
            if said is not None:
                said(f"shrink: {change}: {_word(got['valid'])}")
            if got["valid"] is False:
                best, best_results, progress = candidate, got, True
                break
    return {"runs": len(tried), "tried": tried, "smallest": {
        "command": command_line(best), "run_dir": best_results["run_dir"],
        "operations": best_results["operations"], "faults": len(best_results["faults"]),
        "checkers": sorted(n for n, c in best_results["checkers"].items()
                           if c["valid"] is False)}}


def _word(valid: Any) -> str:
    return {True: "valid", False: "still invalid"}.get(valid, "unknown")
