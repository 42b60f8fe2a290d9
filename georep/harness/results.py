"""A run's results: ``results.json`` and the plots, from the history and the verdict.

Place in the data flow: the last step of ``georep test`` (:mod:`.session`) and of
``georep check`` (which re-judges a recorded history and rewrites nothing unless asked).
:func:`summarise` is pure (counts per ``f``, the fault periods the nemesis recorded);
:func:`write_results` writes ``results.json`` and asks :mod:`.plots` for the figures (a plot
that fails is named in the results, never fatal: the verdict stands without it).

``results.json`` holds only what the run's seed and configuration decide, so that a
deterministic run replayed gives the same bytes; what names the wall clock or this machine
(the run's id and directory, when it started, how long it took) goes to ``run.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.plan import Plan
from .outcome import one_line

NS = 1e9


def counts(history: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """ok / fail / info per ``f`` of the clients' operations (integer processes)."""
    out: dict[str, dict[str, int]] = {}
    for op in history:
        if isinstance(op.get("process"), int) and op["type"] != "invoke":
            row = out.setdefault(op["f"], {"ok": 0, "fail": 0, "info": 0})
            row[op["type"]] += 1
    return dict(sorted(out.items()))


def fault_periods(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each fault the nemesis started, from its start to its stop (or the history's end),
    in seconds since the run began."""
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    out, target = [], None
    end = history[-1]["time"] / NS if history else 0.0
    for op in history:
        if op.get("process") != "nemesis":
            continue
        if op["type"] == "invoke":  # the nemesis is one process: its completion comes next
            target = op.get("value")
            continue
        what, _, kind = op["f"].partition("-")
        ident = (kind, json.dumps(target, sort_keys=True))
        if what == "start":
            open_[ident] = {"kind": kind, "target": target, "start_s": op["time"] / NS}
            if op.get("error"):
                open_[ident]["error"] = op["error"]
        elif what == "stop" and ident in open_:
            out.append({**open_.pop(ident), "stop_s": op["time"] / NS})
    out.extend({**p, "stop_s": end} for p in open_.values())
    return sorted(out, key=lambda p: p["start_s"])


def summarise(*, spec: dict[str, Any], plan: Plan | None, history: list[dict[str, Any]],
              verdict: dict[str, Any], reconcile: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    return {"valid": verdict["valid"], "checkers": verdict["checkers"],
            **({"reason": verdict["reason"]} if "reason" in verdict else {}),
            "seed": plan.seed if plan else spec.get("seed"), "config": spec,
            "counts": counts(history), "faults": fault_periods(history),
            "operations": sum(1 for op in history
                              if isinstance(op.get("process"), int) and op["type"] == "invoke"),
            "reconcile": reconcile}


def write_results(run_dir: Path, *, run: dict[str, Any] | None = None,
                  **kw: Any) -> dict[str, Any]:
    """Write ``results.json`` (see :func:`summarise`), ``run.json`` (``run``: the wall-clock
    facts, with ``started_at``, the time the history's 0 stands for) and the plots; returns
    both together, with ``run_dir``."""
    results = summarise(**kw)
    run = {**(run or {}), "run_dir": str(run_dir)}
    try:
        from .plots import plot_run

        results["plots"] = plot_run(run_dir, kw["history"],
                                    {**results, "started_at": run.get("started_at")})
    except Exception as exc:  # the verdict stands without its pictures
        results["plots"] = []
        results["plot_error"] = one_line(exc)
    (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (run_dir / "run.json").write_text(json.dumps(run, indent=1, default=str) + "\n")
    return {**results, **run}
