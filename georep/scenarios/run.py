"""Running a scenario: the lab it runs on, its tables, and its variants one after another.

Place in the data flow: called by ``georep scenario run`` and by the scenario regression tests.
On the embedded lab the scenario gets fresh tables of its own (``scenario_<policy>``) in the
regions of ``regions_dir``; on a running live lab (``live=True``) it uses the lab's tables,
one per policy it needs (:func:`live_tables`), and tags its keys with the run so that earlier
runs' items stay apart. Every variant ends with its links healed.
"""

from __future__ import annotations

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
    """policy -> a table of the live lab serving it; LabError naming what to add."""
    out = {}
    missing = []
    for need in needs:
        found = [t.name for t in config.tables if serves(t, need)]
        if found:
            out[need.policy] = found[0]
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


async def run(scenario: Scenario, *, policy: str | None = None, live: bool = False,
              regions_dir: str | Path = "regions", home: str | Path | None = None,
              run_dir: str | Path | None = "runs") -> Outcome:
    variants = pick_variants(scenario, policy)
    needs = scenario.needs(variants)
    if live:
        from ..runtime.live import LiveLab

        lab_cm: Any = LiveLab.connect(home)
        tables = live_tables(lab_cm.config, needs)
        tag = secrets.token_hex(3)
    else:
        from ..runtime.embedded import Lab

        config, tables = embedded_config(load(regions_dir), needs)
        lab_cm, tag = Lab.embedded(config, run_dir=run_dir), ""
    a, b = story_regions([r.name for r in lab_cm.config.regions], scenario)
    timeline = Timeline()
    async with lab_cm as lab:
        outcome = Outcome(scenario.name, scenario.title, scenario.claim,
                          "live" if live else "embedded", lab.run_id)
        ctx = Context(lab, tables, timeline, a, b, tag=tag)
        for variant in variants:
            timeline.variant = ctx.variant = variant
            try:
                outcome.rows.append(await scenario.run_variant(ctx, variant))
            finally:
                lab.heal()
    outcome.timeline = timeline.steps
    return outcome
