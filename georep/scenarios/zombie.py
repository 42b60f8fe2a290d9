"""Scenario ``zombie-replicator``: Kafka's producer fencing, applied to the replicator.

Place in the data flow: a scenario (:mod:`.base`), run by :mod:`.run`. It drives the replicator
of link a>b through the lab's surface (pause, a takeover start, resume) and judges it from the
lab's events (``lease``, ``apply``, ``suppress``, ``fenced``), the link's checkpoint row in the
source region, and the destination's items.

The story: a producer instance stalls; a new instance takes over; the stalled one wakes and
tries to write. Kafka's answer: "the newer producer instance prevents zombie writes" (its epoch
fences the old one). georep's replicator takes a lease per link and table (epoch + 1) when it
starts, and saves each checkpoint on condition that the epoch is still its own. Here the
replicator of a>b is paused, alive: on the embedded lab it holds the next batch it reads,
unapplied; on a live lab its process is frozen (SIGSTOP). A second replicator takes the link
over and replicates newer writes of the same keys. The first wakes up with its stale batch.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..aws.checkpoints import CheckpointStore
from ..runtime.waits import wait_for
from .base import Context, Row, Scenario, alike, link_events, plural

KEYS = 5
NEWER = 3  # keys written a third time while the zombie sleeps


async def _checkpoint(lab: Any, a: str, link: str, table: str) -> dict[str, int]:
    """shard -> the link's saved sequence number (as a number, to compare)."""
    cps = await CheckpointStore(lab.clients[a], link, table).load()
    return {sid: int(cp.seq) for sid, cp in cps.items() if cp.seq is not None}


def _backwards(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return [sid for sid, seq in before.items() if after.get(sid, -1) < seq]


class Zombie(Scenario):
    name = "zombie-replicator"
    title = "A zombie replicator: paused, superseded, awake with a stale batch"
    story = ("the replicator of a link is paused (alive, not dead); a second one takes the link "
             "over; newer writes replicate; the first wakes up holding what it read before.")
    claim = "newer producer instance prevents zombie writes"
    variants: ClassVar[dict[str, str]] = {"lease-epoch": "lww"}
    documented: ClassVar[dict[str, dict[str, Any]]] = {
        "lease-epoch": {"holds": True, "measured": {
            "epoch_step": 1, "zombie_fenced": True, "applied_twice": 0,
            "checkpoint_backwards": 0, "stale_overwrites": 0, "converged": True}},
    }

    async def run_variant(self, ctx: Context, variant: str) -> Row:
        lab, a, b = ctx.lab, ctx.a, ctx.b
        link, table = f"{a}>{b}", ctx.tables["lww"]
        keys = [ctx.key(f"item_{n}") for n in range(KEYS)]
        for k in keys:
            await lab.put(a, table, k, {"v": 1})
        await lab.settle()
        mark = len(lab.run_events())
        first = self._lease(lab, link, table, 0)
        c0 = await _checkpoint(lab, a, link, table)
        ctx.say(f"{KEYS} items written in {a} and replicated; the replicator of {link} holds "
                f"the lease at epoch {first['epoch']}")
        lab.pause_replicator(a, b)
        for k in keys:
            await lab.put(a, table, k, {"v": 2})
        holding = await self._held(lab, a, b)
        ctx.say(f"the replicator of {link} is paused, alive; the {KEYS} items are written again "
                f"(v2)" + (f"; it read {plural(holding, 'record')} and holds them" if holding else
                           "; its process is frozen"))
        await lab.start_replicator(a, b, duplicate=True)
        await wait_for(lambda: self._lease(lab, link, table, mark), timeout=30,
                       what="the new replicator to take the lease")
        second = self._lease(lab, link, table, mark)
        for k in keys[:NEWER]:
            await lab.put(a, table, k, {"v": 3})
        await lab.settle()
        c1 = await _checkpoint(lab, a, link, table)
        ctx.say(f"a second replicator takes the lease (epoch {second['epoch']}), replicates v2, "
                f"then v3 of {NEWER} items")
        woke = len(lab.run_events())
        lab.resume_replicator(a, b)
        await wait_for(lambda: link_events(lab, "fenced", link, woke), timeout=30,
                       what="the zombie to be fenced")
        await lab.settle()
        c2 = await _checkpoint(lab, a, link, table)
        fenced = link_events(lab, "fenced", link, woke)
        ctx.say(f"the first replicator wakes with its stale batch and is fenced: "
                f"{fenced[0]['error']}")
        facts = {"first": first, "second": second, "checkpoints": [c0, c1, c2],
                 "fenced": fenced, "mark": mark, "woke": woke}
        return await self._row(ctx, variant, keys, facts)

    @staticmethod
    async def _held(lab: Any, a: str, b: str) -> int:
        """Embedded: wait until the paused replicator reads and holds the new batch."""
        rep = lab.replicator(a, b) if hasattr(lab, "replicator") else None
        if rep is None:
            return 0
        await wait_for(lambda: rep.holding > 0, timeout=30, what="the paused replicator to "
                       "read the next batch")
        return rep.holding

    @staticmethod
    def _lease(lab: Any, link: str, table: str, since: int) -> dict[str, Any] | None:
        leases = [e for e in link_events(lab, "lease", link, since) if e.get("table") == table]
        return leases[-1] if leases else None

    async def _row(self, ctx: Context, variant: str, keys: list[str], facts: dict) -> Row:
        lab, a, b = ctx.lab, ctx.a, ctx.b
        link, table = f"{a}>{b}", ctx.tables["lww"]
        applies: dict[tuple[str, Any], int] = {}
        for e in link_events(lab, "apply", link, 0):
            if e.get("table") == table and e.get("key") in keys:
                applies[(e["key"], e["hlc"])] = applies.get((e["key"], e["hlc"]), 0) + 1
        zombie_suppressed = [e for e in link_events(lab, "suppress", link, facts["woke"])
                             if e.get("table") == table]
        want = {k: 3 if n < NEWER else 2 for n, k in enumerate(keys)}
        got = {k: (await lab.get(b, table, k) or {}).get("v") for k in keys}
        c0, c1, c2 = facts["checkpoints"]
        measured = {
            "epoch_step": facts["second"]["epoch"] - facts["first"]["epoch"],
            "zombie_fenced": bool(facts["fenced"]),
            "applied_twice": sum(1 for n in applies.values() if n > 1),
            "checkpoint_backwards": len(_backwards(c0, c1) + _backwards(c1, c2)),
            "stale_overwrites": sum(1 for k in keys if got[k] != want[k]),
            "converged": await alike(lab, table, keys),
            "zombie_suppressed": len(zombie_suppressed)}
        holds = (measured["zombie_fenced"] and measured["applied_twice"] == 0
                 and measured["checkpoint_backwards"] == 0 and measured["stale_overwrites"] == 0
                 and measured["converged"])
        text = (f"the zombie was fenced by epoch {facts['second']['epoch']} (it held "
                f"{facts['first']['epoch']}); {measured['applied_twice']} records applied twice, "
                f"{measured['zombie_suppressed']} of its redeliveries suppressed, "
                f"{measured['stale_overwrites']} stale overwrites, the checkpoint went backwards "
                f"{measured['checkpoint_backwards']} times")
        evidence = {"link": link, "table": table, "keys": keys, "final": got,
                    "leases": [facts["first"], facts["second"]], "fenced": facts["fenced"],
                    "checkpoints": {"before pause": c0, "after takeover": c1,
                                    "after the zombie woke": c2},
                    "zombie_suppressed": zombie_suppressed[:10]}
        return Row(variant, holds, text, measured, evidence)


SCENARIO = Zombie()
