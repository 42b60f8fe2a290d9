"""``georep report RUN_DIR``: the analysis figures of one or more runs as PNG files, and a small
HTML page beside them, for users who do not use Jupyter.

Place in the data flow: after a run. :func:`.frames.load` reads each run directory; the figures
come from :mod:`.figures`, the tables from :mod:`.compare` and :class:`.frames.Run`. The page
is static HTML: every value from a run is escaped, nothing is fetched or run.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from . import figures
from .compare import COLUMNS, compare
from .frames import Run

CAPTIONS = {
    "divergence": "Keys not alike in every region over time, from the lab's events; the fault "
                  "periods are shaded. It rises while a cut keeps versions from crossing and "
                  "should fall to zero after the heal, the DLQ redrive and the reconcile.",
    "lag": "Replication lag per link (from the source write to the destination's apply), for "
           "versions written before, during and after the cuts. During a cut the lag is the "
           "time the version waited in the DLQ.",
    "dlq": "Dead letters per link and each link's circuit breaker: the breaker opens when the "
           "destination stops answering, writes go to the DLQ, and the redrive after the "
           "heal empties it.",
}


def write_report(runs: list[Run], out: Path, *, dpi: int = 100) -> dict[str, Any]:
    """Write ``divergence.png``, ``lag.png``, ``dlq.png`` and ``index.html`` in ``out``;
    what was written and the comparison rows (with the run's name; null for NaN)."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for name, fig in figures.all_figures(runs).items():
        fig.savefig(out / f"{name}.png", dpi=dpi)
        names.append(f"{name}.png")
    table = compare(runs)
    (out / "index.html").write_text(page(runs, table, names), encoding="utf-8")
    rows = table.reset_index().to_dict(orient="records")
    return {"out": str(out), "files": [*names, "index.html"],
            "runs": [r.path.name for r in runs],
            "summary": [{"run": r.path.name, **{k: _json_value(v) for k, v in row.items()}}
                        for r, row in zip(runs, rows, strict=True)]}


def _json_value(value: Any) -> Any:
    """NaN (a number the run has not: no cut, no lost-updates checker) as JSON's null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _table(frame: pd.DataFrame, **kw: Any) -> str:
    return frame.to_html(border=0, escape=True, na_rep="–", float_format="{:.3g}".format, **kw)


def page(runs: list[Run], table: pd.DataFrame, images: list[str]) -> str:
    """The HTML page: the comparison, each figure with its caption, per-run details."""
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>georep report</title><style>body{font-family:sans-serif;max-width:70em;"
             "margin:2em auto}table{border-collapse:collapse}td,th{padding:.2em .6em;"
             "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style>"
             "</head><body><h1>georep report</h1>",
             "<p>" + "<br>".join(e(f"{r.label}: {r.path}") for r in runs) + "</p>",
             "<h2>Policies compared</h2>",
             _table(table.rename(columns=COLUMNS))]
    for name in images:
        stem = name.removesuffix(".png")
        parts.append(f"<h2>{e(stem)}</h2><img src='{e(name)}' alt='{e(stem)}'>"
                     f"<p>{e(CAPTIONS.get(stem, ''))}</p>")
    for run in runs:
        parts.append(f"<h2>{e(run.label)}</h2>")
        parts.append("<h3>Time to converge after each heal (s)</h3>")
        parts.append(_table(run.convergence(), index=False))
        parts.append("<h3>Replication lag percentiles (ms)</h3>")
        parts.append(_table(run.lag_percentiles(), index=False))
        counts = Counter(e_.get("kind") for e_ in run.raw_events)
        parts.append("<h3>Events by kind</h3>")
        parts.append(_table(pd.DataFrame(sorted(counts.items()), columns=["kind", "events"]),
                            index=False))
    parts.append("</body></html>")
    return "\n".join(parts)
