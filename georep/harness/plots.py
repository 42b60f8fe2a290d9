"""The figures of a test run: latency, throughput and divergence between regions, as PNG files.

Place in the data flow: the last step of a run. :func:`~.results.write_results` calls
:func:`plot_run` with the run directory, the history (:mod:`.recorder`) and the results (counts,
fault periods, configuration, ``started_at``); the divergence figure also reads the lab's own
``events.jsonl`` (:mod:`georep.runtime.events`) from the run directory, its series computed by
:mod:`georep.core.divergence`. :func:`shade_faults` also shades the analysis figures
(:mod:`georep.analysis`).
The drawing uses matplotlib's object API (``Figure`` with an Agg canvas): no pyplot, so
importing this module changes no backend and a notebook's own figures are left alone.
Each figure shades the fault periods, so what a fault did shows against when it happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..core.divergence import divergence_series as divergence_series
from ..core.divergence import event_regions as event_regions
from ..core.plan import fault_label as fault_label
from ..runtime.events import read_events

NS = 1e9
KIND_COLOURS = {"partition": "tab:blue", "one-way": "tab:cyan", "isolate": "tab:purple",
                "flap": "tab:pink", "latency": "tab:brown", "skew": "tab:olive",
                "kill": "tab:gray"}
OTHER_COLOURS = ("darkgoldenrod", "teal", "navy", "indigo", "sienna", "darkslategray")
LANE = 0.07  # a label's height, in axes fractions
LANES = 6  # label lanes at the most: a seventh overlapping label goes back to the top
CHAR = 1 / 130  # a label character's width, as a fraction of the x range (estimate)
STYLE = {"ok": ("o", "tab:green"), "fail": ("x", "tab:red"), "info": ("^", "tab:orange")}
MIN_MS = 0.01  # a latency the clock could not resolve, drawn at the bottom of the log scale


# -- the history ------------------------------------------------------------------------------

def latencies(history: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """completion type -> (invoke time in s, latency in ms) of each client operation."""
    pending: dict[int, dict[str, Any]] = {}
    out: dict[str, list[tuple[float, float]]] = {t: [] for t in STYLE}
    for op in history:
        if not isinstance(op.get("process"), int):
            continue
        if op["type"] == "invoke":
            pending[op["process"]] = op
        elif (inv := pending.pop(op["process"], None)) is not None and op["type"] in out:
            out[op["type"]].append((inv["time"] / NS, (op["time"] - inv["time"]) / 1e6))
    return out


def rates(history: list[dict[str, Any]]) -> dict[str, list[int]]:
    """completion type -> completions in each second of the run (all lists one length)."""
    done = [(op["type"], int(op["time"] // NS)) for op in history
            if isinstance(op.get("process"), int) and op["type"] in STYLE]
    n = max((s for _, s in done), default=-1) + 1
    out = {t: [0] * n for t in STYLE}
    for type_, second in done:
        out[type_][second] += 1
    return out


# -- fault periods ----------------------------------------------------------------------------

def label_lanes(periods: list[dict[str, Any]], x_range: float) -> list[int]:
    """A vertical lane for each period's label (in the order given, sorted by start): the
    lowest lane free from its start, a label taking its period or its text's width, if wider."""
    ends: list[float] = []
    out = []
    for p in periods:
        end = max(p["stop_s"], p["start_s"] + len(fault_label(p)) * CHAR * x_range)
        lane = next((i for i, e in enumerate(ends) if e <= p["start_s"]), len(ends))
        ends[lane:lane + 1] = [end]
        out.append(lane)
    return out


def fault_colours(kinds: Iterable[str]) -> dict[str, str]:
    """A colour per fault kind: the known kinds' own, the others one each of the rest."""
    others = sorted(k for k in set(kinds) if k not in KIND_COLOURS)
    return {**KIND_COLOURS,
            **{k: OTHER_COLOURS[i % len(OTHER_COLOURS)] for i, k in enumerate(others)}}


def headroom(ax: Any, band: float) -> None:
    """Raise the top of the y axis so the data stays below the top ``band`` (a fraction)."""
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log":
        ax.set_ylim(lo, lo * (hi / lo) ** (1 / (1 - band)))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / (1 - band))


def shade_faults(ax: Any, faults: list[dict[str, Any]]) -> None:
    """A translucent span per fault period, and its label in a band at the top, staggered."""
    periods = sorted(faults, key=lambda p: p["start_s"])
    if not periods:
        return
    colour = fault_colours(str(p.get("kind")) for p in periods)
    for p in periods:
        ax.axvspan(p["start_s"], p["stop_s"], color=colour[str(p.get("kind"))], alpha=0.15,
                   linewidth=0)
    lo, hi = ax.get_xlim()
    lanes = [lane % LANES for lane in label_lanes(periods, hi - lo)]
    headroom(ax, 0.02 + LANE * (max(lanes) + 1))
    for p, lane in zip(periods, lanes, strict=True):
        ax.text(p["start_s"], 0.98 - LANE * lane, fault_label(p), fontsize=7, va="top",
                ha="left", color=colour[str(p.get("kind"))], clip_on=True,
                transform=ax.get_xaxis_transform(),
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})


# -- figures ----------------------------------------------------------------------------------

def title(what: str, results: dict[str, Any]) -> str:
    config = results.get("config") or {}
    if "seed" not in config and results.get("seed") is not None:
        config = {**config, "seed": results["seed"]}
    parts = [f"{k} {config[k]}" for k in ("workload", "policy", "seed")
             if config.get(k) is not None]
    return f"{what}: {', '.join(parts)}" if parts else what


@contextmanager
def figure(path: Path, what: str, ylabel: str, results: dict[str, Any],
           xlabel: str = "seconds since the run began") -> Iterator[Any]:
    """Axes to draw on; afterwards the faults are shaded and the figure saved (a Figure not
    registered with pyplot: nothing to close, nothing left open)."""
    fig = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(fig)  # PNG output without pyplot's global state
    ax = fig.add_subplot()
    yield ax
    shade_faults(ax, results.get("faults") or [])
    ax.set_title(title(what, results), fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_latency(path: Path, history: list[dict[str, Any]], results: dict[str, Any]) -> None:
    with figure(path, "Latency", "latency (ms)", results) as ax:
        for type_, points in latencies(history).items():
            if points:
                marker, colour = STYLE[type_]
                ax.scatter([x for x, _ in points], [max(y, MIN_MS) for _, y in points], s=10,
                           marker=marker, color=colour, alpha=0.6,
                           label=f"{type_} ({len(points)})")
        ax.set_yscale("log")


def plot_rate(path: Path, history: list[dict[str, Any]], results: dict[str, Any]) -> None:
    with figure(path, "Throughput", "completions per second", results) as ax:
        for type_, counts in rates(history).items():
            if any(counts):
                ax.stairs(counts, range(len(counts) + 1), color=STYLE[type_][1],
                          linewidth=1.5, label=f"{type_} ({sum(counts)})")
        ax.set_ylim(bottom=0)


def plot_divergence(path: Path, history: list[dict[str, Any]], results: dict[str, Any],
                    events: list[dict[str, Any]]) -> None:
    started = results.get("started_at")
    t0 = float(started) if started is not None else min(e["time"] for e in events)
    series = divergence_series(events, event_regions(events), t0,
                               (results.get("config") or {}).get("policy") or "lww")
    xs = [min(0.0, series[0][0]) if series else 0.0, *(x for x, _ in series)]
    ys = [0, *(n for _, n in series)]
    end = max(history[-1]["time"] / NS if history else 0.0, max(e["time"] for e in events) - t0)
    xs.append(max(end, xs[-1]))
    ys.append(ys[-1])
    xlabel = ("seconds since the run began" if started is not None
              else "seconds since the first event (the run's start time is unknown)")
    with figure(path, "Divergent keys", "keys not alike in every region", results,
                xlabel=xlabel) as ax:
        ax.plot(xs, ys, drawstyle="steps-post", color="black", linewidth=1.2)
        ax.set_ylim(bottom=0)


def plot_run(run_dir: Path, history: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    """Write ``latency.png``, ``rate.png`` and (when ``events.jsonl`` holds writes)
    ``divergence.png`` in ``run_dir``; their names."""
    run_dir = Path(run_dir)
    plot_latency(run_dir / "latency.png", history, results)
    plot_rate(run_dir / "rate.png", history, results)
    names = ["latency.png", "rate.png"]
    events = [e for e in read_events(run_dir / "events.jsonl")
              if isinstance(e.get("time"), int | float)]
    if any(e.get("kind") == "write" for e in events):
        plot_divergence(run_dir / "divergence.png", history, results, events)
        names.append("divergence.png")
    return names
