"""The analysis figures: divergent keys over time per policy, replication-lag percentiles per
link and phase, DLQ depth and breaker state over time.

Place in the data flow: :class:`.frames.Run` objects in, matplotlib ``Figure`` objects out,
for the notebook (which displays them) and ``georep report`` (:mod:`.report`, which saves them).
Built on matplotlib's object API (``Figure`` with an Agg canvas), never pyplot: nothing global
is touched, so a notebook's own figures are left alone. Every time axis shades the run's fault
periods (:func:`georep.harness.plots.shade_faults`).
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..harness.plots import shade_faults
from .frames import Run

PERCENTILES = ("p50", "p90", "p99")
LINK_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
POLICY_COLOURS = {"lww": "tab:red", "vclock": "tab:blue", "crdt": "tab:green"}
XLABEL = "seconds since the run began"


def new_figure(rows: int, cols: int = 1, *, width: float = 10.0, height: float = 2.6,
               sharex: bool = True) -> tuple[Figure, list[list[Any]]]:
    fig = Figure(figsize=(width, max(3.0, height * rows)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False)
    return fig, [list(row) for row in axes]


def name(run: Run, runs: list[Run]) -> str:
    """A panel's name: the run's policy, and its workload and seed when two runs share it."""
    if sum(r.policy == run.policy for r in runs) < 2:
        return run.policy
    return f"{run.policy}, {run.config.get('workload', '?')}, seed {run.results.get('seed')}"


def _steps(ax: Any, xs: list[float], ys: list[float], end: float, **kw: Any) -> None:
    """A step line held at its last value until ``end``."""
    if not xs:
        xs, ys = [0.0], [0]
    ax.plot([*xs, max(end, xs[-1])], [*ys, ys[-1]], drawstyle="steps-post", **kw)


def divergence(runs: list[Run]) -> Figure:
    """Divergent keys over time, one panel per run (policy), the fault periods shaded."""
    fig, axes = new_figure(len(runs))
    end = max(r.end for r in runs)
    top = max([1, *(int(r.divergence()["divergent"].max()) for r in runs)])
    for run, (ax,) in zip(runs, axes, strict=True):
        div = run.divergence()
        _steps(ax, div["t"].tolist(), div["divergent"].tolist(), end, linewidth=1.3,
               color=POLICY_COLOURS.get(run.policy, "black"), label=name(run, runs))
        ax.set_ylim(0, top * 1.1)
        shade_faults(ax, run.fault_periods())
        ax.set_ylabel(f"{name(run, runs)}\ndivergent keys", fontsize=9)
    axes[-1][0].set_xlabel(XLABEL)
    fig.suptitle("Keys not alike in every region, over time (partitions shaded)", fontsize=11)
    fig.tight_layout()
    return fig


def lag(runs: list[Run]) -> Figure:
    """Replication-lag percentiles per link, for versions written before, during and after
    the cuts; one panel per run. A log scale: lag during a cut is seconds, else milliseconds."""
    fig, axes = new_figure(len(runs), sharex=False)
    for run, (ax,) in zip(runs, axes, strict=True):
        table = run.lag_percentiles()
        labels, positions = [], []
        for i, row in enumerate(table.itertuples(index=False)):
            labels.append(f"{row.link}\n{row.phase} (n={row.n})")
            positions.append(i)
            for j, p in enumerate(PERCENTILES):
                ax.bar(i + (j - 1) * 0.27, max(getattr(row, p), 0.1), width=0.25,
                       color=LINK_COLOURS[j], label=p if i == 0 else None)
        ax.set_xticks(positions, labels, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel(f"{name(run, runs)}\nlag (ms)", fontsize=9)
        if positions:
            ax.legend(fontsize=7, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no version applied", transform=ax.transAxes, ha="center")
    fig.suptitle("Replication lag percentiles per link, by when the version was written",
                 fontsize=11)
    fig.tight_layout()
    return fig


def dlq_and_breaker(runs: list[Run]) -> Figure:
    """Per run: the DLQ depth of each link (top) and each link's breaker state (bottom)."""
    fig, axes = new_figure(2 * len(runs))
    end = max(r.end for r in runs)
    for n, run in enumerate(runs):
        dlq_ax, br_ax = axes[2 * n][0], axes[2 * n + 1][0]
        links = sorted({*run.dlq_depth()["link"], *run.breaker()["link"]})
        colour = {link: LINK_COLOURS[i % len(LINK_COLOURS)] for i, link in enumerate(links)}
        depth = run.dlq_depth()
        for link, rows in depth.groupby("link"):
            _steps(dlq_ax, [0.0, *rows["t"]], [0, *rows["depth"]], end, color=colour[link],
                   label=link)
        dlq_ax.set_ylabel(f"{name(run, runs)}\nDLQ messages", fontsize=9)
        dlq_ax.set_ylim(bottom=0)
        breaker = run.breaker()
        for i, (link, rows) in enumerate(breaker.groupby("link")):
            offset = 0.06 * (i - (len(links) - 1) / 2)  # links apart when in the same state
            _steps(br_ax, [0.0, *rows["t"]], [offset, *(rows["level"] + offset)], end,
                   color=colour[link], label=link)
        br_ax.set_yticks([0, 1, 2], ["closed", "half-open", "open"], fontsize=8)
        br_ax.set_ylim(-0.4, 2.6)
        br_ax.set_ylabel("breaker", fontsize=9)
        for ax in (dlq_ax, br_ax):
            shade_faults(ax, run.fault_periods())
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper right")
    axes[-1][0].set_xlabel(XLABEL)
    fig.suptitle("Dead letters and circuit breakers over time", fontsize=11)
    fig.tight_layout()
    return fig


def all_figures(runs: list[Run]) -> dict[str, Figure]:
    """name -> figure: ``divergence``, ``lag``, ``dlq``."""
    return {"divergence": divergence(runs), "lag": lag(runs), "dlq": dlq_and_breaker(runs)}
