"""The DynamoDB global-tables story: a conflicting update on both sides of a partition.

Place in the data flow: a front end of the embedded lab (``georep demo``). It drives the lab
through the story, waits on conditions (never fixed sleeps), and returns a plain-data report;
rendering is the CLI's business.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..core.meta import split
from ..runtime.embedded import Lab
from ..runtime.waits import wait_for

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


async def run(lab: Lab, a: str = "us-east", b: str = "eu-west") -> Report:
    policy = lab.config.table(TABLE).policy
    report = Report(policy=policy, run_id=lab.run_id)
    t0 = time.monotonic()

    def say(text: str, **data: Any) -> None:
        report.timeline.append({"t_ms": round((time.monotonic() - t0) * 1000), "text": text,
                                **data})

    first = {"name": "Alice", "status": "active"}
    crdt = policy == "crdt"
    await lab.put(a, TABLE, KEY, first)
    say(f"{a} writes {KEY} = {first}", region=a)
    if crdt:
        await lab.crdt(a, TABLE, KEY, [("balance", "+=", 1000)])
        await lab.transfer_rights(a, TABLE, KEY, "balance", b, 500)
        say(f"{a} credits balance += 1000 (a bounded counter) and gives {b} 500 of its rights",
            region=a)
    await lab.settle()
    say(f"replicated: {b} reads {await lab.get(b, TABLE, KEY)}", region=b)

    lab.partition(a, b)
    say(f"network partition between {a} and {b} (both directions blackholed)")
    mark = len(lab.events.events)
    v_a = await lab.update(a, TABLE, KEY, {"status": "active-premium"})
    say(f"{a} sets status=active-premium (HLC {v_a.meta.timestamp})", region=a)
    await wait_for(lambda: lab.physical_ms(b) > v_a.meta.timestamp.physical, timeout=2,
                   what="the clock to move")
    v_b = await lab.update(b, TABLE, KEY, {"status": "inactive"})
    say(f"later, {b} sets status=inactive (HLC {v_b.meta.timestamp})", region=b)
    if crdt:
        await lab.crdt(a, TABLE, KEY, [("balance", "-=", 300), ("logins", "+=", 1)])
        await lab.crdt(b, TABLE, KEY, [("balance", "-=", 200), ("logins", "+=", 1)])
        say(f"{a} debits 300 and counts a login; {b} debits 200 and counts a login, "
            "each within its own rights")
        report.counters["expected"] = {"balance": 1000 - 300 - 200, "logins": 2}

    def retried(link: str) -> bool:
        return any(e["kind"] == "retry" and e["link"] == link for e in lab.events.events[mark:])

    await wait_for(lambda: retried(f"{a}>{b}") and retried(f"{b}>{a}"), timeout=30,
                   what="a failed delivery")
    report.retries = sum(1 for e in lab.events.events[mark:] if e["kind"] == "retry")
    say(f"replicators time out and retry with backoff: {report.retries} failed deliveries so far")

    lab.heal()
    say("partition healed")
    await lab.settle()
    diverged = await lab.diverged(TABLE)
    report.converged = not diverged
    for r in lab.config.regions:
        report.regions[r.name] = await lab.get(r.name, TABLE, KEY)
        if crdt:
            report.counters[r.name] = {c: report.regions[r.name].get(c)
                                       for c in ("balance", "logins")}
        siblings = await lab.siblings(r.name, TABLE, KEY)
        if len(siblings) > 1:
            report.siblings[r.name] = siblings
    raw = await lab.writers[a].read(lab.config.table(TABLE), KEY)
    _, meta = split(raw)
    report.winner = meta.origin if meta else None
    seen = set()
    for e in await lab.conflicts(TABLE, KEY):
        report.conflicts.append({k: e[k] for k in ("region", "policy", "key", "winner",
                                                   "losers", "siblings")})
        for loser in e["losers"]:
            ident = (loser["region"], loser["hlc"])
            if ident not in seen:
                seen.add(ident)
                report.overwritten.append(loser)
    say("converged" if report.converged else f"NOT converged: {diverged}")
    return report
