"""The scenarios' shared base: the tables they use, a narrated timeline, and the outcome table.

Place in the data flow: between ``georep scenario`` (:mod:`georep.cli.scenario`) and the
scenario modules. :mod:`.run` opens the lab and hands each variant a :class:`Context` (the lab,
the tables, a timeline); the scenario drives the lab and returns one :class:`Row` of the outcome
table per variant; the :class:`Outcome` is plain data, rendered by the CLI and checked against
the scenario's documented outcome by :func:`expect`. Nothing here renders or prints.

Every scenario keeps its items in three tables, one per policy (``lww``, ``vclock``, ``crdt``,
the last with :data:`CRDT_TYPES`), keyed by kind (``acct_1001``, ``order_abc123``…): on a live
lab any table of the right policy serves, the default ``users`` table for lww included.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..harness.clients import TableNeed

# The crdt table's attribute types, shared by every scenario (one table serves them all).
CRDT_TYPES = {"status": "mvregister", "balance": "bcounter", "logins": "pncounter",
              "net": "pncounter"}
NEEDS = {"lww": TableNeed("lww", "lww"), "vclock": TableNeed("vclock", "vclock"),
         "crdt": TableNeed("crdt", "crdt", CRDT_TYPES)}


@dataclass
class Row:
    """One variant's line of the outcome table."""

    variant: str
    holds: bool  # whether the story's claim held under this variant
    outcome: str  # what happened, in one sentence
    measured: dict[str, Any] = field(default_factory=dict)  # the numbers --expect compares
    evidence: dict[str, Any] = field(default_factory=dict)  # keys, feed entries, op indexes


@dataclass
class Outcome:
    scenario: str
    title: str
    claim: str
    lab: str  # "embedded" or "live"
    run_id: str
    rows: list[Row] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)  # the variants the run chose

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Timeline:
    """What happened, in order, with the milliseconds since the scenario started."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self.steps: list[dict[str, Any]] = []
        self.variant: str | None = None

    def now_ms(self) -> int:
        return round((self._clock() - self._t0) * 1000)

    def say(self, text: str, *, t_ms: int | None = None, **data: Any) -> None:
        step = {"t_ms": self.now_ms() if t_ms is None else t_ms, "variant": self.variant,
                "text": text}
        self.steps.append({**step, **data})


@dataclass
class Context:
    """What a variant runs with: the lab, the table of each policy, the timeline, the regions
    (``a`` the story's primary or home region, ``b`` the other), the variant, and a tag that
    keeps a live lab's earlier runs' items apart."""

    lab: Any
    tables: dict[str, str]
    timeline: Timeline
    a: str
    b: str
    variant: str = ""
    tag: str = ""

    def key(self, name: str) -> str:
        """The story's key as stored: variants share tables, so each has its own items."""
        return "-".join(part for part in (name, self.variant, self.tag) if part)

    def say(self, text: str, **data: Any) -> None:
        self.timeline.say(text, **data)


class Scenario(ABC):
    """A story told on the lab: its claim, its variants (name -> the policy it needs) and the
    documented outcome of each (``holds`` and the measured numbers ``--expect`` checks)."""

    name: str
    title: str
    story: str
    claim: str
    variants: dict[str, str]
    documented: dict[str, dict[str, Any]]

    def needs(self, variants: list[str]) -> list[TableNeed]:
        return [NEEDS[p] for p in dict.fromkeys(self.variants[v] for v in variants)]

    @abstractmethod
    async def run_variant(self, ctx: Context, variant: str) -> Row:
        """Drive the lab through the story under ``variant``; leave every link healed."""


def link_events(lab: Any, kind: str, link: str, since: int = 0) -> list[dict[str, Any]]:
    """The lab's events of ``kind`` on ``link`` from index ``since`` of its event log on."""
    return [e for e in lab.run_events()[since:] if e["kind"] == kind and e.get("link") == link]


async def alike(lab: Any, table: str, keys: list[str]) -> bool:
    """Whether every region holds the same value (and siblings) for each of ``keys``: the
    scenario's own items, not the whole table (a live lab may hold other writers' items)."""
    for key in keys:
        seen = [(await lab.get(r.name, table, key), await lab.siblings(r.name, table, key))
                for r in lab.config.regions]
        if any(s != seen[0] for s in seen):
            return False
    return True


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def expect(scenario: Scenario, outcome: Outcome) -> list[str]:
    """One line per way the outcome differs from the scenario's documented outcome."""
    problems = [f"{v}: no outcome" for v in outcome.variants
                if v not in {row.variant for row in outcome.rows}]
    for row in outcome.rows:
        want = scenario.documented.get(row.variant, {})
        if "holds" in want and row.holds != want["holds"]:
            problems.append(f"{row.variant}: the claim {'held' if row.holds else 'failed'}, "
                            f"documented: {'holds' if want['holds'] else 'fails'}")
        for name, value in want.get("measured", {}).items():
            got = row.measured.get(name)
            if got != value:
                problems.append(f"{row.variant}: {name} = {got!r}, documented {value!r}")
    return problems
