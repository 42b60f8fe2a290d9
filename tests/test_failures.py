"""The failure machinery on an embedded lab: lease fencing, crash safety."""

from __future__ import annotations

import asyncio
import random

import pytest

from georep.testing import wait_for

from .helpers import raw_items, stream_records, write_stamped

pytestmark = pytest.mark.asyncio


async def test_a_zombie_replicator_is_fenced_and_stops(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "before", {"v": 0})
    await lab.settle()
    zombie = lab.replicators[("us-east", "eu-west")]
    epoch = zombie.tables[0].checkpoints.epoch
    usurper = await lab.start_replicator("us-east", "eu-west", duplicate=True)
    await wait_for(lambda: usurper.tables[0].checkpoints.epoch is not None, what="the lease")
    assert usurper.tables[0].checkpoints.epoch == epoch + 1
    # Both see the next write; only the lease holder may move the checkpoint.
    await lab.put("us-east", "users", "after", {"v": 1})
    [(_, zombie_task)] = lab.zombies
    await wait_for(lambda: zombie_task.done(), what="the zombie to stop itself")
    assert zombie.fenced and zombie_task.exception() is None
    [fenced] = lab.events.of_kind("fenced")
    assert fenced["link"] == "us-east>eu-west" and "zombie" in fenced["error"]
    await lab.settle()
    assert await lab.get("eu-west", "users", "after") == {"id": "after", "v": 1}
    item = lab.client("us-east").get_item(
        TableName="georep_checkpoints", Key={"id": {"S": "us-east>eu-west|users"}})["Item"]
    assert item["epoch"] == {"N": str(epoch + 1)}
    assert item["owner"] == {"S": usurper.tables[0].checkpoints.owner}
    assert await lab.diverged("users") == {}


async def test_crashes_at_random_moments_lose_and_duplicate_nothing(georep_lab):
    """Cancel the replicator at >= 10 random await points during 2,000 writes, restart it each
    time: every write arrives exactly as written, and the replays are all suppressed."""
    lab = georep_lab
    rng = random.Random(20261126)
    total = 2000
    done = asyncio.Event()
    written = {f"k{i:04d}": i for i in range(total)}

    async def writer():
        await write_stamped(lab, "us-east", written, pace_s=0.05)
        done.set()

    applied = suppressed = crashes = 0
    task = asyncio.create_task(writer())
    while not done.is_set() or crashes < 10:
        await asyncio.sleep(rng.uniform(0.02, 0.3))
        stats = lab.replicators[("us-east", "eu-west")].stats
        await lab.stop_replicator("us-east", "eu-west")
        applied += stats.applied
        suppressed += stats.suppressed
        crashes += 1
        await lab.start_replicator("us-east", "eu-west")
    await task
    await lab.settle(60)
    stats = lab.replicators[("us-east", "eu-west")].stats
    applied += stats.applied
    suppressed += stats.suppressed
    assert crashes >= 10
    items = raw_items(lab, "eu-west")
    assert {k: int(v["n"]["N"]) for k, v in items.items()} == written
    # Exactly-once effect: each write caused exactly one write at eu-west, however often the
    # crashes made the replicator read it again.
    assert len(stream_records(lab, "eu-west")) == total
    applies = [e["key"]["id"] for e in lab.events.of_kind("apply")
               if e["link"] == "us-east>eu-west"]
    assert len(applies) == len(set(applies)) == applied <= total
    # A crash between an apply and its count (or checkpoint) makes a replay: the replay found
    # the write already there and was suppressed. So the suppressed duplicates cover every
    # write whose apply was not counted, and nothing was applied twice.
    assert suppressed >= total - applied
    assert await lab.diverged("users") == {}
