"""Running a scenario: the lab it runs on, its tables, and its variants one after another.

Place in the data flow: called by ``georep scenario run`` and by the scenario regression tests.
On the embedded lab the scenario gets fresh tables of its own (``scenario_<policy>``) in the
regions of ``regions_dir``; on a running live lab (``live=True``) it uses the lab's tables,
one per policy it needs (:func:`live_tables`), and tags its keys with the run so that earlier
runs' items stay apart. A live run refuses a lab with active faults and holds the lab's
scenario lock (:func:`one_at_a_time`): a scenario cuts and heals its own link (a, b) and
nothing else, and every variant ends with that link healed, an error or a cancel included.
A wait that runs out (a lab that does not settle) ends as one LabError line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import KeyAttr, LabConfig, Table, load
from ..errors import LabError
from ..harness.clients import TableNeed
from ..harness.tables import serves
from .base import NEEDS, Context, Outcome, Scenario, Timeline


def table_block(need: TableNeed) -> str:
    """The lab.toml block of the table a scenario needs."""
    lines = [f"[tables.scenario_{need.policy}]", 'hash_key = { name = "id", type = "S" }',
             f'policy = "{need.policy}"']
    if need.crdt:
        pairs = ", ".join(f'{a} = "{k}"' for a, k in need.crdt.items())
        lines.append(f"crdt = {{ {pairs} }}")
    return "\n".join(lines)


def tables_toml() -> str:
    """Every table the scenarios use, as lab.toml blocks (``georep scenario tables``)."""
    return "\n\n".join(table_block(n) for n in NEEDS.values()) + "\n"


def live_tables(config: LabConfig, needs: list[TableNeed]) -> dict[str, str]:
    """policy -> a table of the live lab serving it (``scenario_<policy>`` when the lab has
    it, else the first that serves); LabError naming what to add."""
    out = {}
    missing = []
    for need in needs:
        found = sorted((t.name != f"scenario_{need.policy}", n, t.name)
                       for n, t in enumerate(config.tables) if serves(t, need))
        if found:
            out[need.policy] = found[0][2]
        else:
            missing.append(f"scenario_{need.policy}")
    if missing:
        raise LabError(f"the lab has no table for the scenario's {', '.join(missing)}: add the "
                       "blocks `georep scenario tables` prints to lab.toml, then restart the "
                       "lab (georep down; georep up)")
    return out


def embedded_config(config: LabConfig, needs: list[TableNeed]) -> tuple[LabConfig, dict]:
    tables = {n.policy: Table(f"scenario_{n.policy}", KeyAttr("id", "S"), None, n.policy,
                              crdt=dict(n.crdt)) for n in needs}
    return replace(config, tables=tuple(tables.values())), {p: t.name for p, t in tables.items()}


def pick_variants(scenario: Scenario, policy: str | None) -> list[str]:
    """The variants to run: all, or those of one policy (``--policy``), or one by name."""
    if policy is None:
        return list(scenario.variants)
    chosen = [v for v, p in scenario.variants.items() if policy in (v, p)]
    if not chosen:
        names = sorted({*scenario.variants, *scenario.variants.values()})
        raise LabError(f"scenario {scenario.name} has no variant or policy {policy!r} "
                       f"(available: {', '.join(names)})")
    return chosen


def story_regions(regions: list[str], scenario: Scenario) -> tuple[str, str]:
    """The story's two regions: us-east and eu-west when the lab has them, else its first two
    (in the order of the region files)."""
    if {"us-east", "eu-west"} <= set(regions):
        return "us-east", "eu-west"
    if len(regions) < 2:
        raise LabError(f"scenario {scenario.name} needs two regions; the lab has "
                       f"{', '.join(regions) or 'none'}")
    return regions[0], regions[1]


def active_faults(faults: dict[str, Any]) -> list[str]:
    """The faults a scenario would disturb (or be disturbed by): cuts, latency, flaps."""
    cuts = faults.get("cuts") or "no cuts"
    return [*([] if cuts == "no cuts" else [f"cuts {cuts}"]),
            *(f"latency {x['from']}>{x['to']}" for x in faults.get("latency", [])),
            *(f"flap {f['a']}<>{f['b']}" for f in faults.get("flaps", []))]


@contextlib.contextmanager
def one_at_a_time(home: Any):
    """Hold the live lab's scenario lock: two scenarios on one lab would cut and heal each
    other's links. LabError, one line, when another holds it."""
    path = Path(home.path) / "scenario.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LabError(f"another scenario runs on the lab in {home.path}; wait for it "
                           "to finish") from None
        yield
    finally:
        os.close(fd)


async def run(scenario: Scenario, *, policy: str | None = None, live: bool = False,
              regions_dir: str | Path = "regions", home: Any = None,
              run_dir: str | Path | None = "runs") -> Outcome:
    """Run ``scenario``'s variants (all, or ``policy``'s) on a fresh embedded lab, or on the
    running live lab of ``home`` (a LabHome) when ``live``."""
    variants = pick_variants(scenario, policy)
    needs = scenario.needs(variants)
    if not live:
        from ..runtime.embedded import Lab

        config, tables = embedded_config(load(regions_dir), needs)
        async with Lab.embedded(config, run_dir=run_dir) as lab:
            return await _variants(scenario, variants, lab, tables, "embedded", "")
    from ..runtime.live import LiveLab

    lab_cm = LiveLab.connect(home)
    tables = live_tables(lab_cm.config, needs)
    with one_at_a_time(lab_cm.home):
        async with lab_cm as lab:
            if busy := active_faults(lab.faults()):
                raise LabError(f"the lab has active faults ({'; '.join(busy)}): a scenario "
                               "cuts and heals links itself; `georep heal` first")
            return await _variants(scenario, variants, lab, tables, "live",
                                   secrets.token_hex(3))


async def _variants(scenario: Scenario, variants: list[str], lab: Any, tables: dict[str, str],
                    kind: str, tag: str) -> Outcome:
    a, b = story_regions([r.name for r in lab.config.regions], scenario)
    timeline = Timeline()
    outcome = Outcome(scenario.name, scenario.title, scenario.claim, kind, lab.run_id,
                      variants=list(variants))
    ctx = Context(lab, tables, timeline, a, b, tag=tag)
    for variant in variants:
        timeline.variant = ctx.variant = variant
        try:
            outcome.rows.append(await scenario.run_variant(ctx, variant))
        except TimeoutError as exc:
            raise LabError(f"scenario {scenario.name}, variant {variant}: the lab did not get "
                           f"there in time ({exc or 'timed out'}); a scenario needs a lab "
                           "with no other faults and no busy writers") from None
        finally:
            lab.heal(a, b)  # only the story's link: any other fault is not the scenario's
    outcome.timeline = timeline.steps
    return outcome
