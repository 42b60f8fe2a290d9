"""Series computed from a run's events: divergence, DLQ depth, breaker state, convergence.

Place in the data flow: the lab's event log (``events.jsonl``, :mod:`georep.runtime.events`)
is read by :mod:`georep.analysis` (the pandas loaders) and by the harness's figures
(:mod:`georep.harness.plots`); both compute their series here. Pure: lists of event dicts in,
lists of tuples out, no pandas, no files, so a ``georep test`` that draws its figure does not
import pandas.

**Divergence** is computed from the events, not from reads of the regions: a key of a table is
divergent at an instant when the regions' latest versions of it differ, a region's latest
version being the highest it was seen to hold. A version is its HLC and its origin region (the
order georep ranks versions by: two regions' clocks can give one HLC to two writes): a write's
or stamp's region, an apply's ``origin``, a suppress's link source (a link ships only its
source's own writes); a reconcile repair names the HLC alone, and brings the version of that
HLC that ranks highest. A region holds a version from the moment a
client wrote it there (``write``), a replicator stamped a plain write there (``stamp``), a link
delivered it or found it already there (``apply``, ``suppress``: by stream or by DLQ redrive),
or reconcile wrote it there (``reconcile-repair``). Under last-writer-wins a key's regions are
alike when their highest HLCs are equal: the newest write has reached everywhere. Under vclock
and CRDT policies concurrent versions all stand, so regions are alike when they have seen the
same set of versions (a version counts as seen through any later one that had seen it): both
sides of a partition's concurrent writes must cross. A stamped plain write has seen what its
region held when it was written, not when a replicator stamped it (each outgoing link stamps
it, perhaps after the region moved on): the stamping link's ``read`` events say which write
of the key its batch ended with. This is a measure, not a proof: versions
no event names (a plain write no replicator stamped) are not seen, and a write's context is
what its region's events said it held. The proof of convergence is the reconcile's Merkle
verification and the convergence checker's final reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

IGNORED_TABLES = frozenset({"georep_conflicts"})
HOLDS = ("apply", "suppress")  # the destination of the link holds the version afterwards
WRITES = ("write", "stamp")  # a version made in the event's region (or named there)
BREAKER_LEVELS = {"closed": 0, "half-open": 1, "open": 2}
PHASES = ("before", "during", "after")  # of a version's write, relative to the cuts
Event = dict[str, Any]
Version = tuple[int, str]  # (packed HLC, origin region); an unstamped plain write: HLC < 0


def key_id(key: Any) -> str:
    """One identity for a key however an event wrote it: a client's write names the key as
    given (``"r0"``), a replicator's apply as the item's key attributes (``{"id": "r0"}``)."""
    if isinstance(key, dict):
        return json.dumps([key[k] for k in sorted(key)], default=str)
    return json.dumps([key], default=str)


def holder(event: Event) -> str | None:
    """The region that holds the event's version afterwards (None: not a version event)."""
    kind = event.get("kind")
    if kind in WRITES or kind == "reconcile-repair":
        region = event.get("region")
        return region if isinstance(region, str) else None
    if kind in HOLDS and isinstance(event.get("link"), str):
        return event["link"].partition(">")[2] or None
    return None


def event_regions(events: Iterable[Event]) -> list[str]:
    """The regions the events name: where writes happened and where links deliver."""
    return sorted({r for e in events if (r := holder(e)) is not None})


def is_time(value: Any) -> bool:
    """A finite number (not a bool): a time an event or a run can carry."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def timed(events: Iterable[Event]) -> list[Event]:
    """The events that carry a numeric time, in time order (a stable sort: ties keep the
    order the log has them in)."""
    return sorted((e for e in events if is_time(e.get("time"))), key=lambda e: e["time"])


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _origin(event: Event) -> str | None:
    """The region that made the event's version (None: a reconcile repair does not say)."""
    if event["kind"] in WRITES:
        return str(event.get("region"))
    if isinstance(event.get("origin"), str):
        return event["origin"]
    link = event.get("link")
    return link.partition(">")[0] if isinstance(link, str) else None


def _hlc(event: Event) -> int | None:
    try:
        return int(event["hlc"])
    except (KeyError, TypeError, ValueError):
        return None


def divergence_series(events: Iterable[Event], regions: list[str], t0: float,
                      policy: str = "lww") -> list[tuple[float, int]]:
    """(seconds since ``t0``, number of divergent keys), one point per event that changes it.

    Only keys a client wrote (or a replicator stamped) count; ``georep_conflicts`` never does.
    See the module's docstring for what "divergent" means under each policy."""
    cover = _Latest() if policy == "lww" else _Covered()
    written: set[tuple[str, str]] = set()
    divergent: set[tuple[str, str]] = set()
    out: list[tuple[float, int]] = []
    unstamped = 0  # negative stand-ins, below every HLC: the stamp that follows supersedes
    for e in timed(events):
        if e.get("table") in IGNORED_TABLES:
            continue
        if e["kind"] == "read" and isinstance(e.get("link"), str):
            for key in e.get("keys") or ():
                cover.read(e["link"], (str(e.get("table")), key_id(key)))
            continue
        region = holder(e)
        if region is None:
            continue
        ident = (str(e.get("table")), key_id(e.get("key")))
        hlc = _hlc(e)
        if e["kind"] in WRITES:
            written.add(ident)
            if hlc is None:  # a plain write, not stamped yet: a version only its region has
                unstamped -= 1
                hlc = unstamped
        version = None if hlc is None else cover.version(ident, hlc, _origin(e))
        cover.see(ident, region, e["kind"], version, e.get("link"))
        before = len(divergent)
        if ident in written and not cover.alike(ident, regions):
            divergent.add(ident)
        else:
            divergent.discard(ident)
        if len(divergent) != before:
            out.append((e["time"] - t0, len(divergent)))
    return out


class _Versions:
    """The versions of each key the events named, to find a repair's by its HLC."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], set[Version]] = {}

    def version(self, ident: tuple[str, str], hlc: int, origin: str | None) -> Version:
        """The version (``hlc``, ``origin``); with no origin, the highest known of ``hlc``."""
        known = self.known.setdefault(ident, set())
        if origin is None:
            return max((v for v in known if v[0] == hlc), default=(hlc, ""))
        known.add((hlc, origin))
        return (hlc, origin)

    def read(self, link: str, ident: tuple[str, str]) -> None:
        """A link read a batch holding a local write of the key: see :class:`_Covered`."""


class _Latest(_Versions):
    """Last writer wins: a region's state of a key is its highest version; alike when equal."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[tuple[str, str], dict[str, Version]] = {}

    def see(self, ident: tuple[str, str], region: str, kind: str,
            version: Version | None, link: str | None = None) -> None:
        versions = self.held.setdefault(ident, {})
        if version is not None:
            versions[region] = max(version, versions.get(region, version))

    def alike(self, ident: tuple[str, str], regions: list[str]) -> bool:
        versions = self.held.get(ident, {})
        return len({versions.get(r) for r in regions}) == 1


class _Covered(_Versions):
    """Siblings and CRDTs keep concurrent versions: a region's state of a key is the set of
    versions it has seen, directly or through a later version that had seen them (a write's
    context is what its region had seen when it wrote; a delivered version brings its
    context; a reconcile repair brings what every region had seen). Alike when equal.

    A stamp's context is that of the plain write it stamps: the key's last local write when
    the stamping link read its batch (``read``; a replicator stamps the key's newest record of
    a batch), not what the region holds at the stamp (it may have moved on since)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple[str, str], dict[str, frozenset[Version]]] = {}
        self.context: dict[tuple[str, str, Version], frozenset[Version]] = {}
        self.last_write: dict[tuple[tuple[str, str], str], frozenset[Version]] = {}
        self.batch: dict[tuple[str, tuple[str, str]], frozenset[Version]] = {}

    def read(self, link: str, ident: tuple[str, str]) -> None:
        """``link`` read a batch holding a local write of the key (a ``read`` event's keys)."""
        last = self.last_write.get((ident, link.partition(">")[0]))
        if last is not None:
            self.batch[(link, ident)] = last

    def see(self, ident: tuple[str, str], region: str, kind: str,
            version: Version | None, link: str | None = None) -> None:
        regions = self.seen.setdefault(ident, {})
        have = regions.get(region, frozenset())
        if version is None:
            pass
        elif kind == "stamp":
            context = self.context.get((*ident, version))  # another link stamped it already
            if context is None:
                context = self.batch.get((str(link), ident), have) | {version}
                self.context[(*ident, version)] = context
            have = have | context
        elif kind in WRITES:
            have = self.context[(*ident, version)] = have | {version}
            self.last_write[(ident, region)] = have
        elif kind == "reconcile-repair":
            have = have.union(*regions.values(), (version,))
        else:
            have = have | self.context.get((*ident, version), frozenset((version,)))
        regions[region] = have

    def alike(self, ident: tuple[str, str], regions: list[str]) -> bool:
        seen = self.seen.get(ident, {})
        return len({seen.get(r, frozenset()) for r in regions}) == 1


def dlq_depth_series(events: Iterable[Event], t0: float) -> list[tuple[float, str, int]]:
    """(seconds since ``t0``, link, messages in the link's DLQ), one point per change: a
    ``dlq`` event adds one, a ``redrive`` or ``dlq-purge`` event takes away the messages it
    removed (its ``removed``; a log from before that field: what it delivered or suppressed)."""
    depth: dict[str, int] = {}
    out = []
    for e in timed(events):
        link = e.get("link")
        if not isinstance(link, str):
            continue
        if e["kind"] == "dlq":
            change = 1
        elif e["kind"] in ("redrive", "dlq-purge"):
            removed = e.get("removed")
            if not isinstance(removed, int) or isinstance(removed, bool):
                removed = _count(e.get("delivered")) + _count(e.get("suppressed"))
            change = -removed
        else:
            continue
        if change:
            # not clamped at 0: a negative depth shows the log missing dead letters
            depth[link] = depth.get(link, 0) + change
            out.append((e["time"] - t0, link, depth[link]))
    return out


def breaker_series(events: Iterable[Event], t0: float) -> list[tuple[float, str, str]]:
    """(seconds since ``t0``, link, state the breaker entered), one point per transition."""
    return [(e["time"] - t0, e["link"], str(e.get("new")))
            for e in timed(events)
            if e["kind"] == "breaker" and isinstance(e.get("link"), str)]


def convergence_times(series: list[tuple[float, int]], heals: list[float],
                      starts: list[float]) -> list[tuple[float, float | None]]:
    """(heal time, seconds until no key was divergent) for each heal in ``heals``: 0 when
    none was at the heal; None when keys still differed when the next fault began (one of
    ``starts`` after the heal) or when the series ends. All times in seconds since t0."""
    out: list[tuple[float, float | None]] = []
    for heal in sorted(heals):
        count = 0
        for t, n in series:  # the count in force at the heal
            if t > heal:
                break
            count = n
        if count == 0:
            out.append((heal, 0.0))
            continue
        limit = min((s for s in starts if s > heal), default=float("inf"))
        zero = next((t for t, n in series if heal < t and n == 0), None)
        out.append((heal, round(zero - heal, 6) if zero is not None and zero <= limit
                    else None))
    return out


def phase_of(t: float, periods: list[tuple[float, float]]) -> str:
    """``before`` the first fault, ``during`` one, or ``after`` a fault (healed)."""
    if not periods or t < min(start for start, _ in periods):
        return "before"
    if any(start <= t < stop for start, stop in periods):
        return "during"
    return "after"
