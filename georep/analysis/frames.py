"""A run directory as pandas DataFrames: events, history, lag, conflicts, DLQ depth, breaker
states, divergence over time and the time to converge after each heal.

Place in the data flow: the last stop of a run. ``georep test`` (or a lab run) leaves a run
directory (``events.jsonl``, ``history.jsonl``, ``results.json``, ``run.json``); :func:`load`
reads it into a :class:`Run`, whose frames the notebook (``notebooks/divergence.ipynb``), the
figures (:mod:`.figures`) and ``georep report`` use. The series come from
:mod:`georep.core.divergence`.

Times are seconds since the run began (``run.json``'s ``started_at``, the instant the history's
0 stands for), on the lab's clock: virtual seconds in a deterministic run. Events of the lab's
start-up come before 0. Files are read as JSON; nothing is evaluated. The history is read as
``georep check`` reads it (:mod:`georep.core.history`); an event line that is not an object
with a finite ``time`` and a ``kind``, or whose ``link``, ``region`` or ``table`` is not a
string, is skipped like a line still being written; a ``results.json`` whose fields have the
wrong shape is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ..core import divergence as S
from ..core.history import conflict_feed, final_reads, pairs, parse_lines
from ..errors import GeorepError
from ..runtime.events import read_events

NS = 1e9
FAULT_KINDS_CUT = frozenset({"partition", "one-way", "isolate", "flap"})
EVENT_COLUMNS = ["t", "kind", "link", "region", "table", "key"]


class RunDirError(GeorepError):
    """A run directory that cannot be analysed (missing, or its files unreadable)."""


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: not a JSON object")
    return value


def _history(path: Path) -> list[dict[str, Any]]:
    """The history's operations, checked as ``georep check`` checks them."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: not readable ({exc})") from None
    try:
        ops = parse_lines(lines)
        pairs(ops)
        final_reads(ops)
        feed = conflict_feed(ops) or []
    except ValueError as exc:
        raise RunDirError(f"{path}: {exc}") from None
    if not all(isinstance(entry, dict) for entry in feed):
        raise RunDirError(f"{path}: a conflict-feed entry is not a JSON object")
    return ops


RESULT_SHAPES = {"config": dict, "checkers": dict, "faults": list, "counts": dict}
JSON_NAMES = {dict: "object", list: "array"}


def _results(path: Path) -> dict[str, Any]:
    """``results.json``, its fields of the shapes the analysis reads."""
    results = _json(path)
    for name, shape in RESULT_SHAPES.items():
        if results.get(name) is not None and not isinstance(results[name], shape):
            raise RunDirError(f"{path}: {name!r} is not a JSON {JSON_NAMES[shape]}")
    checkers = results.get("checkers") or {}
    if not all(isinstance(c, dict) for c in checkers.values()):
        raise RunDirError(f"{path}: a checker's result is not a JSON object")
    accounted = (checkers.get("lost-updates") or {}).get("accounted")
    if accounted is not None and not isinstance(accounted, dict):
        raise RunDirError(f"{path}: 'lost-updates' 'accounted' is not a JSON object")
    if not all(isinstance(f, dict) for f in results.get("faults") or []):
        raise RunDirError(f"{path}: a fault period is not a JSON object")
    return results


def _event(e: dict[str, Any]) -> bool:
    """An event the analysis can read: a time, a ``kind``, and text where text is due."""
    return S.is_time(e.get("time")) and isinstance(e.get("kind"), str) and all(
        e.get(name) is None or isinstance(e[name], str) for name in ("link", "region", "table"))


@dataclass
class Run:
    """One run directory, loaded. ``raw_events`` and ``ops`` are the files' dicts, in order."""

    path: Path
    results: dict[str, Any]
    facts: dict[str, Any]  # run.json
    raw_events: list[dict[str, Any]]
    ops: list[dict[str, Any]]
    t0: float
    regions: list[str] = field(default_factory=list)

    # -- what the run was -----------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        return self.results.get("config") or {}

    @property
    def policy(self) -> str:
        return str(self.config.get("policy", "?"))

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.get('workload', '?')} / {self.policy} / seed {self.results.get('seed')}"

    @property
    def end(self) -> float:
        """The last instant the run recorded (seconds since t0)."""
        last_op = max((op["time"] / NS for op in self.ops if "time" in op), default=0.0)
        last_event = max((e["time"] for e in S.timed(self.raw_events)), default=self.t0)
        return max(last_op, last_event - self.t0)

    def fault_periods(self) -> list[dict[str, Any]]:
        """The nemeses' fault periods (``results.json``): kind, target, start_s, stop_s."""
        return [p for p in self.results.get("faults") or []
                if S.is_time(p.get("start_s")) and S.is_time(p.get("stop_s"))]

    def faults(self) -> pd.DataFrame:
        rows = [{"kind": p["kind"], "target": json.dumps(p.get("target"), sort_keys=True),
                 "start_s": p["start_s"], "stop_s": p["stop_s"]} for p in self.fault_periods()]
        return pd.DataFrame(rows, columns=["kind", "target", "start_s", "stop_s"])

    def cuts(self) -> list[tuple[float, float]]:
        """The periods when some link was cut (partition, one-way, isolate, flap)."""
        return [(p["start_s"], p["stop_s"]) for p in self.fault_periods()
                if p["kind"] in FAULT_KINDS_CUT]

    # -- frames ---------------------------------------------------------------------------

    def events(self) -> pd.DataFrame:
        """One row per event: ``t`` (s since t0), kind, link, region, table, key (a JSON
        identity, see :func:`georep.core.divergence.key_id`), and ``fields``: the event's own
        dict."""
        rows = [{"t": e["time"] - self.t0, "kind": e.get("kind"), "link": e.get("link"),
                 "region": S.holder(e) if e.get("region") is None else e.get("region"),
                 "table": e.get("table"),
                 "key": None if e.get("key") is None else S.key_id(e["key"]), "fields": e}
                for e in S.timed(self.raw_events)]
        return pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "fields"])

    def history(self) -> pd.DataFrame:
        """One row per history line: index, t (s), process, type, f, region, key, value."""
        rows = [{"index": op.get("index"), "t": op.get("time", 0) / NS,
                 "process": op.get("process"), "type": op.get("type"), "f": op.get("f"),
                 "region": op.get("region"),
                 "key": op["value"].get("key") if isinstance(op.get("value"), dict) else None,
                 "value": op.get("value")} for op in self.ops]
        return pd.DataFrame(rows, columns=["index", "t", "process", "type", "f", "region",
                                           "key", "value"])

    def lag(self) -> pd.DataFrame:
        """One row per version a link applied: t, link, table, key, lag_ms, via (stream or
        redrive), and phase: when the version was written (t − lag) relative to the cuts.

        The lag is from the version's ``write`` event (its acknowledgement, on the lab's
        clock) when the log has it, else the apply's own ``lag_ms``: that one is measured
        from the version's HLC or stream record, on the source region's clock, which the
        skew nemesis moves (a lag of seconds off, or below zero)."""
        cuts = self.cuts()
        written = {(e.get("table"), S.key_id(e.get("key")), e.get("hlc"), e.get("region")):
                   e["time"] for e in S.timed(self.raw_events)
                   if e["kind"] == "write" and e.get("hlc") is not None}
        rows = []
        for e in S.timed(self.raw_events):
            if e.get("kind") != "apply" or not S.is_time(e.get("lag_ms")):
                continue
            t = e["time"] - self.t0
            origin = e.get("origin") or str(e.get("link")).partition(">")[0]
            at = written.get((e.get("table"), S.key_id(e.get("key")), e.get("hlc"), origin))
            lag_ms = float(e["lag_ms"]) if at is None else round((e["time"] - at) * 1000, 3)
            rows.append({"t": t, "link": e.get("link"), "table": e.get("table"),
                         "key": S.key_id(e.get("key")), "lag_ms": lag_ms,
                         "via": e.get("via", "stream"),
                         "phase": S.phase_of(t - lag_ms / 1000, cuts)})
        return pd.DataFrame(rows, columns=["t", "link", "table", "key", "lag_ms", "via",
                                           "phase"])

    def lag_percentiles(self, qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> pd.DataFrame:
        """Lag percentiles (ms) per link and phase, with the number of versions applied."""
        lag = self.lag()
        if lag.empty:
            return pd.DataFrame(columns=["link", "phase", "n", *[f"p{round(q * 100)}"
                                                                for q in qs]])
        lag["phase"] = pd.Categorical(lag["phase"], S.PHASES, ordered=True)
        grouped = lag.groupby(["link", "phase"], observed=True)["lag_ms"]
        out = grouped.quantile(list(qs)).unstack()
        out.columns = [f"p{round(q * 100)}" for q in qs]
        out.insert(0, "n", grouped.size())
        return out.reset_index()

    def conflicts(self) -> pd.DataFrame:
        """The conflict-feed entries the replicators recorded (``conflict`` events, less the
        withdrawn): t, link, region, table, key, reason, winner, losers, siblings."""
        withdrawn = {e.get("id") for e in self.raw_events if e.get("kind") == "conflict-withdrawn"}
        rows = [{"t": e["time"] - self.t0, "link": e.get("link"), "region": e.get("region"),
                 "table": e.get("table"), "key": S.key_id(e.get("key")),
                 "reason": e.get("reason"), "winner": e.get("winner"),
                 "losers": e.get("losers"), "siblings": e.get("siblings")}
                for e in S.timed(self.raw_events)
                if e.get("kind") == "conflict" and e.get("id") not in withdrawn]
        return pd.DataFrame(rows, columns=["t", "link", "region", "table", "key", "reason",
                                           "winner", "losers", "siblings"])

    def dlq_depth(self) -> pd.DataFrame:
        """Messages in each link's DLQ after each change: t, link, depth."""
        return pd.DataFrame(S.dlq_depth_series(self.raw_events, self.t0),
                            columns=["t", "link", "depth"])

    def breaker(self) -> pd.DataFrame:
        """Each breaker transition: t, link, state, level (closed 0, half-open 1, open 2)."""
        rows = [{"t": t, "link": link, "state": state, "level": S.BREAKER_LEVELS.get(state)}
                for t, link, state in S.breaker_series(self.raw_events, self.t0)]
        return pd.DataFrame(rows, columns=["t", "link", "state", "level"])

    @cached_property
    def divergence_points(self) -> list[tuple[float, int]]:
        """The divergence series (:func:`georep.core.divergence.divergence_series`), computed
        once: the frame, the convergence per heal and the comparison all read it."""
        return S.divergence_series(self.raw_events, self.regions, self.t0, self.policy)

    def divergence(self) -> pd.DataFrame:
        """Divergent keys after each change: t, divergent (see
        :mod:`georep.core.divergence`); starts at (min(0, first change), 0)."""
        points = self.divergence_points
        start = min(0.0, points[0][0]) if points else 0.0
        return pd.DataFrame([(start, 0), *points], columns=["t", "divergent"])

    def heals(self) -> list[float]:
        """When links were healed: the instants of the ``heal`` events (a nemesis's, the
        run's final one), each once (healing an isolated region is one event per pair)."""
        return sorted({e["time"] - self.t0 for e in S.timed(self.raw_events)
                       if e["kind"] == "heal"})

    def convergence(self) -> pd.DataFrame:
        """Per heal: heal_s, seconds until no key was divergent (NaN: not before the next
        fault began or the run ended)."""
        points = self.divergence_points
        starts = [start for start, _ in self.cuts()]
        rows = [{"heal_s": h, "converge_s": math.nan if s is None else s}
                for h, s in S.convergence_times(points, self.heals(), starts)]
        return pd.DataFrame(rows, columns=["heal_s", "converge_s"])

    def converge_after_cuts(self) -> float:
        """Seconds from the end of the last cut (partition, one-way, isolate, flap) until no
        key was divergent: the heal, the redrive and the reconcile together. NaN when the
        run had no cut or the keys never converged; 0 when none differed at the heal."""
        cuts = self.cuts()
        if not cuts:
            return math.nan
        points = self.divergence_points
        ((_, took),) = S.convergence_times(points, [max(stop for _, stop in cuts)], [])
        return math.nan if took is None else took


def load(run_dir: str | Path) -> Run:
    """Read a run directory; :class:`RunDirError` names what is missing or unreadable."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory")
    if not (path / "events.jsonl").is_file() and not (path / "history.jsonl").is_file():
        raise RunDirError(f"{path}: not a run directory (no events.jsonl, no history.jsonl)")
    results, facts = _results(path / "results.json"), _json(path / "run.json")
    events = [e for e in read_events(path / "events.jsonl") if _event(e)]
    started = facts.get("started_at", results.get("started_at"))
    first = next(iter(S.timed(events)), {"time": 0.0})["time"]
    t0 = float(started) if S.is_time(started) else first
    regions = _regions(events)
    return Run(path, results, facts, events, _history(path / "history.jsonl"), t0, regions)


def _regions(events: list[dict[str, Any]]) -> list[str]:
    """The lab's regions: those its ``lab-start`` names, else those the events name."""
    for e in events:
        if e.get("kind") == "lab-start" and isinstance(e.get("regions"), dict) and e["regions"]:
            return sorted(e["regions"])
    return S.event_regions(events)
