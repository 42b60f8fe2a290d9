"""The failure machinery on an embedded lab: lease fencing, crash safety."""

from __future__ import annotations

import asyncio
import random

import pytest

from georep.testing import wait_for

from ..support.helpers import raw_items, stream_records, write_stamped

pytestmark = pytest.mark.asyncio


async def test_a_zombie_replicator_is_fenced_and_stops(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "before", {"v": 0})
    await lab.settle()
    zombie = lab.replicator("us-east", "eu-west")
    epoch, _ = zombie.lease()
    usurper = await lab.start_replicator("us-east", "eu-west", duplicate=True)
    await wait_for(lambda: usurper.lease()[0] is not None, what="the lease")
    assert usurper.lease()[0] == epoch + 1
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
    assert item["owner"] == {"S": usurper.lease()[1]}
    assert await lab.diverged("users") == {}


async def test_crashes_at_random_moments_lose_and_duplicate_nothing(georep_lab):
    """Cancel the replicator at >= 10 random await points during 800 writes, restart it each
    time: every write arrives exactly as written, and the replays are all suppressed.
    (800, not more: every apply is a conditional write, moto's slowest kind of request, and a
    replicator killed every 20 to 300 ms redoes its unsaved batch each time.)"""
    lab = georep_lab
    rng = random.Random(20261126)
    total = 800
    done = asyncio.Event()
    written = {f"k{i:04d}": i for i in range(total)}

    async def writer():
        await write_stamped(lab, "us-east", written, pace_s=0.05)
        done.set()

    applied = suppressed = crashes = 0
    task = asyncio.create_task(writer())
    while not done.is_set() or crashes < 10:
        await asyncio.sleep(rng.uniform(0.02, 0.3))  # a random moment to crash at, not a wait
        stats = lab.replicator("us-east", "eu-west").stats
        await lab.stop_replicator("us-east", "eu-west")
        applied += stats.applied
        suppressed += stats.suppressed
        crashes += 1
        await lab.start_replicator("us-east", "eu-west")
    await task
    await lab.settle(60)
    stats = lab.replicator("us-east", "eu-west").stats
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


async def test_partition_longer_than_the_retry_budget_goes_through_the_dlq(georep_lab):
    lab = georep_lab
    rep = lab.replicator("us-east", "eu-west")
    lab.partition("us-east", "eu-west")
    for i in range(5):
        await lab.put("us-east", "users", f"p{i}", {"n": i})
    # 5 consecutive timeouts open the breaker; the batch goes to the DLQ and the checkpoint
    # moves on. Later writes go straight to the DLQ while the breaker is open.
    await wait_for(lambda: rep.breaker_state.value == "open", timeout=20,
                   what="the breaker to open")
    await lab.put("us-east", "users", "late", {"n": 99})
    await wait_for(lambda: rep.stats.dead_lettered == 6, timeout=20, what="6 dead letters")
    assert await rep.dlq.depth() == 6
    reasons = {e["reason"] for e in lab.events.of_kind("dlq")}
    assert "breaker open" in reasons
    assert rep.stats.applied == 0
    lab.heal()
    await lab.settle()  # the probe closes the breaker, which redrives the DLQ
    assert rep.breaker_state.value == "closed"
    assert await rep.dlq.depth() == 0
    assert {i["id"] for i in await lab.scan("eu-west", "users")} == {
        *(f"p{i}" for i in range(5)), "late"}
    assert await lab.diverged("users") == {}
    transitions = [(e["old"], e["new"]) for e in lab.events.of_kind("breaker")
                   if e["link"] == "us-east>eu-west"]
    # Opened by the partition; closed by the first probe after the heal (probes during the
    # partition, if the machine is slow enough to make one, open it again).
    assert transitions[0] == ("closed", "open") and transitions[-1] == ("half-open", "closed")
    assert set(transitions) <= {("closed", "open"), ("open", "half-open"),
                                ("half-open", "open"), ("half-open", "closed")}
    redrives = [e for e in lab.events.of_kind("redrive") if e["link"] == "us-east>eu-west"]
    assert sum(e["delivered"] for e in redrives) == 6
    assert all(e["malformed"] == 0 for e in redrives) and redrives[-1]["stopped"] is None
    # Redriving again finds nothing and changes nothing.
    report = await rep.redrive()
    assert report.received == 0


async def test_a_poison_record_goes_to_the_dlq_while_the_others_flow(georep_lab):
    lab = georep_lab
    rep = lab.replicator("us-east", "eu-west")
    await lab.stop_replicator("us-east", "eu-west")  # so all three land in one batch
    # moto refuses items over 405,000 bytes (real DynamoDB: 400 KB). This one fits at the
    # source; with georep's metadata (~250 bytes) it does not fit anywhere.
    big = "x" * (405_000 - 100)
    await lab.put("us-east", "users", "before", {"n": 1})
    lab.client("us-east").put_item(TableName="users",
                                   Item={"id": {"S": "poison"}, "blob": {"S": big}})
    await lab.put("us-east", "users", "after", {"n": 2})
    rep = await lab.start_replicator("us-east", "eu-west")
    await lab.settle()
    assert await lab.get("eu-west", "users", "before") == {"id": "before", "n": 1}
    assert await lab.get("eu-west", "users", "after") == {"id": "after", "n": 2}
    assert await lab.get("eu-west", "users", "poison") is None
    [dead] = lab.events.of_kind("dlq")
    assert dead["key"] == {"id": "poison"} and dead["reason"] == "non-retriable"
    assert "size" in dead["error"].lower()
    [message] = await rep.dlq.all()
    body = message.decoded()
    assert body["reason"] == "non-retriable" and body["retriable"] is False
    assert body["record"]["dynamodb"]["Keys"] == {"id": {"S": "poison"}}
    assert rep.breaker_state.value == "closed"  # a poison record is not a link failure
    # A redrive keeps it, with its reason, and does not stop on it.
    report = await rep.redrive()
    assert len(report.poison) == 1 and report.delivered == 0
    assert await rep.dlq.depth() == 1


async def test_a_malformed_dlq_message_is_reported_and_skipped(georep_lab):
    lab = georep_lab
    rep = lab.replicator("us-east", "eu-west")
    url = await rep.dlq.url()
    sqs = lab.client("us-east", "sqs")
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody='{"v": 1, "link": "us-east>eu-west"}')
    # and one good message: a record of a write eu-west never saw
    lab.partition("us-east", "eu-west")
    await lab.put("us-east", "users", "k", {"n": 1})
    await wait_for(lambda: rep.stats.dead_lettered == 1, timeout=30, what="a dead letter")
    lab.heal()
    await lab.settle()
    assert await lab.get("eu-west", "users", "k") == {"id": "k", "n": 1}
    malformed = lab.events.of_kind("dlq-malformed")  # each redrive reports what it kept
    assert len({e["id"] for e in malformed}) == 2
    assert await rep.dlq.depth() == 2  # kept, never crashed the redriver
    again = await rep.redrive()
    assert len(again.malformed) == 2 and again.delivered == 0 and again.stopped is None


async def test_a_restarted_replicator_redrives_what_its_predecessor_dead_lettered(georep_lab):
    """Killed while its breaker was open, the old replicator never saw the breaker close (the
    moment a DLQ is redriven). Its successor starts with a closed breaker; it must still
    deliver those dead letters on its own, without a reconcile."""
    lab = georep_lab
    rep = lab.replicators[("us-east", "eu-west")]
    lab.partition("us-east", "eu-west")
    for i in range(5):
        await lab.put("us-east", "users", f"d{i}", {"n": i})
    await wait_for(lambda: rep.stats.dead_lettered == 5, timeout=20, what="5 dead letters")
    await lab.kill_replicator("us-east", "eu-west")
    lab.heal()
    fresh = await lab.start_replicator("us-east", "eu-west")
    assert fresh.breaker_state.value == "closed"
    await lab.settle()
    assert await fresh.dlq.depth() == 0
    assert {i["id"] for i in await lab.scan("eu-west", "users")} == {f"d{i}" for i in range(5)}
