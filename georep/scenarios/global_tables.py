"""Scenario ``global-tables``: a conflicting update to one item on both sides of a partition.

Place in the data flow: a scenario (:mod:`.base`) and the story of ``georep demo``. :func:`run`
drives a lab through the story on one table (whatever its policy), waits on conditions (never
fixed sleeps) and returns a plain-data :class:`Report`; :class:`GlobalTables` tells it once per
policy and turns each report into a row of the outcome table. Rendering is the CLI's business.

The story: user_123 is written and replicated; the link is cut both ways; us-east sets
``status = active-premium``, then eu-west ``status = inactive``; the replicators retry and cannot
deliver; the partition heals. DynamoDB global tables promise "no data loss, conflict resolved".
Under last-writer-wins the earlier write is gone (named in the conflict feed); under vclock
both stay as siblings; under crdt the status is an MV-register that keeps both, and counters
updated on both sides lose nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..core.meta import split
from ..runtime.waits import wait_for
from .base import Context, Row, Scenario, alike

KEY = "user_123"
TABLE = "users"


@dataclass
class Report:
    policy: str
    timeline: list[dict[str, Any]] = field(default_factory=list)
    regions: dict[str, Any] = field(default_factory=dict)
    converged: bool = False
    winner: str | None = None
    overwritten: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    siblings: dict[str, list[Any]] = field(default_factory=dict)  # vclock: region -> values
    counters: dict[str, Any] = field(default_factory=dict)  # crdt: expected and final values
    retries: int = 0
    run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def run(lab: Any, a: str = "us-east", b: str = "eu-west", *, table: str = TABLE,
              key: str = KEY) -> Report:
    """Tell the story on ``table`` of ``lab`` (embedded or live) with the item ``key``."""
    report = Report(policy=lab.config.table(table).policy, run_id=lab.run_id)
    t0 = time.monotonic()

    def say(text: str, **data: Any) -> None:
        report.timeline.append({"t_ms": round((time.monotonic() - t0) * 1000), "text": text,
                                **data})

    crdt = report.policy == "crdt"
    first = {"name": "Alice", "status": "active"}
    await lab.put(a, table, key, first)
    say(f"{a} writes {key} = {first}", region=a)
    if crdt:
        await lab.crdt(a, table, key, [("balance", "+=", 1000)])
        await lab.transfer_rights(a, table, key, "balance", b, 500)
        say(f"{a} credits balance += 1000 (a bounded counter) and gives {b} 500 of its rights",
            region=a)
    await lab.settle()
    say(f"replicated: {b} reads {await lab.get(b, table, key)}", region=b)

    lab.partition(a, b)
    say(f"network partition between {a} and {b} (both directions blackholed)")
    mark = len(lab.run_events())
    v_a = await lab.update(a, table, key, {"status": "active-premium"})
    say(f"{a} sets status=active-premium (HLC {v_a.meta.timestamp})", region=a)
    await wait_for(lambda: lab.physical_ms(b) > v_a.meta.timestamp.physical, timeout=2,
                   what="the clock to move")
    v_b = await lab.update(b, table, key, {"status": "inactive"})
    say(f"later, {b} sets status=inactive (HLC {v_b.meta.timestamp})", region=b)
    if crdt:
        await lab.crdt(a, table, key, [("balance", "-=", 300), ("logins", "+=", 1)])
        await lab.crdt(b, table, key, [("balance", "-=", 200), ("logins", "+=", 1)])
        say(f"{a} debits 300 and counts a login; {b} debits 200 and counts a login, "
            "each within its own rights")
        report.counters["expected"] = {"balance": 1000 - 300 - 200, "logins": 2}
    report.retries = await _retries(lab, mark, a, b)
    say(f"replicators time out and retry with backoff: {report.retries} failed deliveries so far")

    lab.heal(a, b)
    say("partition healed")
    await lab.settle()
    await _final(lab, report, a, table, key)
    say("converged" if report.converged else "NOT converged")
    return report


async def _retries(lab: Any, mark: int, a: str, b: str) -> int:
    """Wait until both directions failed a delivery; the failed deliveries since ``mark``."""
    def retries() -> list[str]:
        return [e["link"] for e in lab.run_events()[mark:] if e["kind"] == "retry"]

    await wait_for(lambda: {f"{a}>{b}", f"{b}>{a}"} <= set(retries()), timeout=30,
                   what="a failed delivery")
    return len(retries())


async def _final(lab: Any, report: Report, a: str, table: str, key: str) -> None:
    """Fill the report with every region's item, siblings, the winner and the feed."""
    report.converged = await alike(lab, table, [key])
    for r in lab.config.regions:
        report.regions[r.name] = await lab.get(r.name, table, key)
        if report.policy == "crdt":
            report.counters[r.name] = {c: (report.regions[r.name] or {}).get(c)
                                       for c in ("balance", "logins")}
        siblings = await lab.siblings(r.name, table, key)
        if len(siblings) > 1:
            report.siblings[r.name] = siblings
    _, meta = split(await lab.writers[a].read(lab.config.table(table), key))
    report.winner = meta.origin if meta else None
    seen = set()
    for e in await lab.conflicts(table, key):
        report.conflicts.append({k: e[k] for k in ("region", "policy", "key", "winner",
                                                   "losers", "siblings")})
        for loser in e["losers"]:
            ident = (loser["region"], loser["hlc"])
            if ident not in seen:
                seen.add(ident)
                report.overwritten.append(loser)


class GlobalTables(Scenario):
    name = "global-tables"
    title = "DynamoDB global tables: one item updated on both sides of a partition"
    story = ("user_123 is active in every region; a partition cuts us-east from eu-west; "
             "us-east sets status active-premium, then eu-west sets it inactive; the partition "
             "heals.")
    claim = "no data loss, conflict resolved"
    variants: ClassVar[dict[str, str]] = {"lww": "lww", "vclock": "vclock", "crdt": "crdt"}
    documented: ClassVar[dict[str, dict[str, Any]]] = {
        "lww": {"holds": False, "measured": {"converged": True, "overwritten": 1,
                                             "status": "inactive"}},
        "vclock": {"holds": True, "measured": {"converged": True, "overwritten": 0,
                                               "siblings": 2}},
        "crdt": {"holds": True, "measured": {"converged": True, "overwritten": 0,
                                             "status": ["active-premium", "inactive"],
                                             "balance": 500, "logins": 2}},
    }

    async def run_variant(self, ctx: Context, variant: str) -> Row:
        key, start = ctx.key(KEY), ctx.timeline.now_ms()
        report = await run(ctx.lab, ctx.a, ctx.b, table=ctx.tables[variant], key=key)
        for step in report.timeline:
            step = dict(step)
            ctx.say(step.pop("text"), t_ms=start + step.pop("t_ms"), **step)
        item = report.regions[ctx.a] or {}
        siblings = report.siblings.get(ctx.a, [])
        status = item.get("status")
        measured = {"converged": report.converged, "overwritten": len(report.overwritten),
                    "status": sorted(status) if isinstance(status, list) else status}
        evidence = {"key": key, "table": ctx.tables[variant], "winner": report.winner,
                    "overwritten": report.overwritten, "conflicts": report.conflicts}
        if variant == "vclock":
            measured["siblings"] = len(siblings)
            evidence["siblings"] = siblings
            kept = {s.get("status") for s in siblings if s}
            holds = report.converged and {"active-premium", "inactive"} <= kept
            text = (f"both writes kept as {len(siblings)} siblings in every region: a reader "
                    "chooses" if holds else "the siblings do not hold both writes")
        elif variant == "crdt":
            measured.update({c: item.get(c) for c in ("balance", "logins")})
            holds = (report.converged and measured["status"] == ["active-premium", "inactive"]
                     and {c: item.get(c) for c in ("balance", "logins")}
                     == report.counters["expected"])
            text = (f"status keeps both values {measured['status']}; balance "
                    f"{item.get('balance')} and logins {item.get('logins')} lose no update")
        else:
            holds = report.converged and not report.overwritten
            lost = ", ".join(f"{o['region']}'s {o.get('value')}" for o in report.overwritten)
            text = (f"{report.winner}'s write won (status {status}); overwritten: "
                    f"{lost or 'nothing'}, named in the conflict feed")
        return Row(variant, holds, text, measured, evidence)


SCENARIO = GlobalTables()
