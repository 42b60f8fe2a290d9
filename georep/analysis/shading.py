"""The fault periods drawn on a figure: a translucent span per period and its label, staggered.

Place in the data flow: every figure with time on its x axis calls :func:`shade_faults` with
the run's fault periods (``results.json`` ``faults``: kind, target, start_s, stop_s): the
harness's own figures (:mod:`georep.harness.plots`) and the analysis figures
(:mod:`.figures`, the notebook, ``georep report``). Matplotlib axes in, nothing out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.plan import fault_label

KIND_COLOURS = {"partition": "tab:blue", "one-way": "tab:cyan", "isolate": "tab:purple",
                "flap": "tab:pink", "latency": "tab:brown", "skew": "tab:olive",
                "kill": "tab:gray"}
OTHER_COLOURS = ("darkgoldenrod", "teal", "navy", "indigo", "sienna", "darkslategray")
LANE = 0.07  # a label's height, in axes fractions
LANES = 6  # label lanes at the most: a seventh overlapping label goes back to the top
CHAR = 1 / 130  # a label character's width, as a fraction of the x range (estimate)


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
