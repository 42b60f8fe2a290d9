"""One row per run for comparing policies: writes, conflicts, lost updates (silent and
recorded), siblings, time to converge after the last cut was healed, the verdict.

Place in the data flow: after :func:`.frames.load`; the notebook's comparison table, the
README's and ``georep report``'s summary come from :func:`compare`. The figures are the run's
own: the checkers' details in ``results.json``, the final reads and the conflict feed read at
the end of the history, and the divergence series of :mod:`georep.core.divergence`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from ..core.history import conflict_feed, final_reads
from .frames import Run

READS = frozenset({"read", "final-read", "conflicts"})
COLUMNS = {
    "policy": "policy",
    "writes": "acknowledged writes",
    "conflicts": "conflicts in the feed",  # no final feed read: the recorded conflict events
    "lost_silent": "lost updates, silent",
    "lost_recorded": "lost updates, in the feed",
    "siblings": "keys with siblings",
    "converge_s": "s to converge after the last cut",
    "valid": "verdict",
}


def feed_entries(run: Run) -> int | None:
    """Distinct conflict-feed entries read at the end (one conflict recorded by two regions
    counts once); None when the history has no feed read."""
    feed = conflict_feed(run.ops)
    if feed is None:
        return None
    return len({json.dumps({k: entry.get(k) for k in
                            ("table", "key", "winner", "losers", "siblings")},
                           sort_keys=True, default=str) for entry in feed})


def sibling_keys(run: Run) -> int:
    """Keys that end with more than one concurrent value in some region: vclock siblings, or
    a register whose ``v`` holds several values (an MV-register)."""
    keys = set()
    for table, regions in final_reads(run.ops).items():
        for read in regions.values():
            keys.update((table, k) for k, s in read["siblings"].items() if s)
            keys.update((table, k) for k, item in read["items"].items()
                        if isinstance(item, dict) and isinstance(item.get("v"), list)
                        and len(item["v"]) > 1)
    return len(keys)


def summary(run: Run) -> dict[str, Any]:
    """The run's row of the comparison (keys of :data:`COLUMNS`, and ``run``)."""
    checkers = run.results.get("checkers") or {}
    lu = checkers.get("lost-updates") or {}
    valid = run.results.get("valid")
    feed = feed_entries(run)
    return {
        "run": run.path.name,
        "policy": run.policy,
        "writes": _writes(run),
        "conflicts": len(run.conflicts()) if feed is None else feed,
        "lost_silent": lu.get("lost_count", math.nan),
        "lost_recorded": (lu.get("accounted") or {}).get("in_feed", math.nan),
        "siblings": sibling_keys(run),
        "converge_s": run.converge_after_cuts(),
        "valid": {True: "valid", False: "invalid", None: "–"}.get(valid, str(valid)),
    }


def _writes(run: Run) -> int:
    """The history's acknowledged writes; a run without a history (``georep demo``, a lab
    session): its ``write`` events."""
    if not run.ops:
        return sum(1 for e in run.raw_events if e.get("kind") == "write")
    return sum(1 for op in run.ops if op.get("type") == "ok"
               and isinstance(op.get("process"), int) and op.get("f") not in READS)


def compare(runs: list[Run]) -> pd.DataFrame:
    """One row per run, indexed by policy (with the workload and the run's name when two runs
    share a policy), columns in :data:`COLUMNS` order."""
    frame = pd.DataFrame([summary(r) for r in runs])
    if frame["policy"].duplicated().any():
        frame["policy"] = [f"{r.policy} ({r.config.get('workload', '?')}, {r.path.name})"
                           for r in runs]
    return frame.set_index("policy")[[c for c in COLUMNS if c != "policy"]]


def markdown(frame: pd.DataFrame) -> str:
    """The comparison as a Markdown table with the columns' long names (no extra library)."""
    head = [COLUMNS.get(frame.index.name or "", frame.index.name or ""),
            *(COLUMNS.get(c, c) for c in frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in frame.iterrows():
        cells = [str(idx), *(_cell(v) for v in row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)
