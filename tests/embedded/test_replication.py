"""The replicator end to end on an embedded lab: real moto servers, real proxies, real streams."""

from __future__ import annotations

from dataclasses import replace

import pytest

from georep.core.meta import META, split
from georep.testing import wait_for

from ..support.helpers import RaceAfterRead, raw_items, stream_records

pytestmark = pytest.mark.asyncio

PAIRS = [("us-east", "eu-west"), ("eu-west", "us-east")]


@pytest.mark.parametrize(("a", "b"), PAIRS)
async def test_put_update_delete_replicate(georep_lab, a, b):
    lab = georep_lab
    await lab.put(a, "users", "u1", {"name": "Alice", "n": 1})
    await lab.settle()
    assert await lab.get(b, "users", "u1") == {"id": "u1", "name": "Alice", "n": 1}

    await lab.update(a, "users", "u1", {"n": 2, "tags": ["x", "y"]})
    await lab.settle()
    assert await lab.get(b, "users", "u1") == {"id": "u1", "name": "Alice", "n": 2,
                                                "tags": ["x", "y"]}

    await lab.delete(a, "users", "u1")
    await lab.settle()
    assert await lab.get(b, "users", "u1") is None
    assert await lab.diverged("users") == {}


async def test_replicated_writes_do_not_ping_pong(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "u1", {"v": 1})
    await lab.put("eu-west", "users", "u2", {"v": 2})
    await lab.settle()
    await lab.settle()  # more rounds change nothing: every write crossed exactly once
    stats = lab.stats()
    assert stats["us-east>eu-west"]["applied"] == 1
    assert stats["eu-west>us-east"]["applied"] == 1
    # Each region's stream: its own write, and the one apply it received; nothing echoed back.
    assert len(stream_records(lab, "us-east")) == 2
    assert len(stream_records(lab, "eu-west")) == 2
    assert stats["us-east>eu-west"]["skipped"] == 1
    assert stats["eu-west>us-east"]["skipped"] == 1


async def test_partition_then_heal_converges_and_records_conflicts(georep_lab):
    lab = georep_lab
    for i in range(5):
        await lab.put("us-east", "users", f"shared{i}", {"v": "before"})
    await lab.settle()
    lab.partition("us-east", "eu-west")
    mark = len(lab.events.events)
    written = {}
    for i in range(5):
        await lab.update("us-east", "users", f"shared{i}", {"v": "east"})
        v = await lab.update("eu-west", "users", f"shared{i}", {"v": "west"})
        written[f"shared{i}"] = v
        await lab.put("us-east", "users", f"east{i}", {"v": i})
        await lab.put("eu-west", "users", f"west{i}", {"v": i})

    def failed_both_ways():
        links = {e["link"] for e in lab.events.events[mark:] if e["kind"] == "retry"}
        return links == {"us-east>eu-west", "eu-west>us-east"}

    await wait_for(failed_both_ways, timeout=10, what="deliveries to fail during the partition")
    assert lab.stats()["us-east>eu-west"]["applied"] == 5  # only the pre-partition writes
    lab.heal()
    await lab.settle()
    assert await lab.diverged("users") == {}
    for i in range(5):
        # eu-west wrote last in HLC order (same physical ms at worst; then origin decides)
        assert (await lab.get("us-east", "users", f"shared{i}"))["v"] == "west"
        assert await lab.get("eu-west", "users", f"east{i}") == {"id": f"east{i}", "v": i}
        assert await lab.get("us-east", "users", f"west{i}") == {"id": f"west{i}", "v": i}
    conflicts = lab.events.of_kind("conflict")
    # One conflict per shared key in each region, each naming the overwritten us-east write.
    assert sorted((c["region"], c["key"]["id"]) for c in conflicts) == sorted(
        (r, f"shared{i}") for r in ("us-east", "eu-west") for i in range(5))
    for c in conflicts:
        assert [lost["value"]["v"] for lost in c["losers"]] == ["east"]
        assert c["winner"]["value"]["v"] == "west"
    # The same entries are in each region's conflict feed, one per key and region.
    feed = await lab.conflicts("users")
    assert sorted((e["region"], e["key"]["id"]) for e in feed) == sorted(
        (c["region"], c["key"]["id"]) for c in conflicts)
    assert all(e["policy"] == "lww" and e["regions"] == ["eu-west", "us-east"] for e in feed)
    assert await lab.conflicts("users", "shared0", region="us-east") == [
        e for e in feed if e["key"] == {"id": "shared0"} and e["region"] == "us-east"]


async def test_restart_resumes_from_checkpoint_without_reapplying(georep_lab):
    lab = georep_lab
    for i in range(20):
        await lab.put("us-east", "users", f"k{i}", {"v": i})
    await lab.settle()
    before = raw_items(lab, "eu-west")
    await lab.stop_replicator("us-east", "eu-west")
    for i in range(20, 30):
        await lab.put("us-east", "users", f"k{i}", {"v": i})
    await lab.start_replicator("us-east", "eu-west")
    await lab.settle()
    stats = lab.stats()["us-east>eu-west"]
    assert stats["applied"] == 10
    assert stats["suppressed"] == 0
    after = raw_items(lab, "eu-west")
    assert len(after) == 30
    assert {k: after[k] for k in before} == before  # earlier items untouched, metadata included


async def test_replay_from_the_start_changes_nothing(georep_lab):
    lab = georep_lab
    for i in range(20):
        await lab.put("us-east", "users", f"k{i}", {"v": i})
    await lab.update("us-east", "users", "k3", {"v": "again"})
    await lab.delete("us-east", "users", "k4")
    await lab.settle()
    before = raw_items(lab, "eu-west")
    records_before = len(stream_records(lab, "eu-west"))
    await lab.stop_replicator("us-east", "eu-west")
    ddb = lab.client("us-east")
    for item in ddb.scan(TableName="georep_checkpoints")["Items"]:
        if item["id"]["S"].startswith("us-east>eu-west|"):
            ddb.delete_item(TableName="georep_checkpoints", Key={"id": item["id"]})
    await lab.start_replicator("us-east", "eu-west")  # re-reads the stream from TRIM_HORIZON
    await lab.settle()
    stats = lab.stats()["us-east>eu-west"]
    assert stats["applied"] == 0
    assert stats["suppressed"] == 22  # every local write of us-east, seen again
    assert raw_items(lab, "eu-west") == before
    assert len(stream_records(lab, "eu-west")) == records_before  # not one write at eu-west


@pytest.mark.parametrize(("a", "b"), PAIRS)
async def test_plain_client_writes_replicate(georep_lab, a, b):
    lab = georep_lab
    ddb = lab.client(a)  # a plain boto3 client, straight to the region: no georep metadata
    ddb.put_item(TableName="users", Item={"id": {"S": "p1"}, "n": {"N": "5"}})
    await lab.settle()
    assert await lab.get(b, "users", "p1") == {"id": "p1", "n": 5}
    # The stamp the replicator gave the write is stored back at the source (by a write-back,
    # writer "stamp"; the destination's copy was written by the replicator).
    raw = [raw_items(lab, r)["p1"][META] for r in (a, b)]
    stamped, applied = (split(raw_items(lab, r)["p1"])[1] for r in (a, b))
    assert stamped.writer == "stamp" and applied.writer == "replicator"
    assert raw[0] != raw[1]  # each authenticates its own writer
    assert replace(stamped, writer="replicator") == applied

    ddb.update_item(TableName="users", Key={"id": {"S": "p1"}}, UpdateExpression="SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "6"}})
    await lab.settle()
    assert await lab.get(b, "users", "p1") == {"id": "p1", "n": 6}

    ddb.delete_item(TableName="users", Key={"id": {"S": "p1"}})
    await lab.settle()
    assert await lab.get(b, "users", "p1") is None
    assert await lab.get(a, "users", "p1") is None
    assert await lab.diverged("users") == {}


async def test_plain_write_after_remote_write_wins_everywhere(georep_lab):
    """A plain update that follows a replicated version orders after it in every region."""
    lab = georep_lab
    await lab.put("eu-west", "users", "k", {"v": "remote"})
    await lab.settle()
    lab.client("us-east").update_item(
        TableName="users", Key={"id": {"S": "k"}}, UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "plain"}})
    await lab.settle()
    assert await lab.get("eu-west", "users", "k") == {"id": "k", "v": "plain"}
    assert await lab.diverged("users") == {}
    assert lab.events.of_kind("conflict") == []


async def test_one_way_cut_applies_writes_whose_success_the_caller_never_sees(georep_lab):
    lab = georep_lab
    # Cut us-east→eu-west one way right after eu-west's replicator has read us-east's item:
    # its write then reaches us-east (eu-west's bytes still flow) but the answer does not.
    applier = lab.replicator("eu-west", "us-east").table("users").applier

    async def cut():
        lab.partition("us-east", "eu-west", one_way=True)

    applier.client = RaceAfterRead(applier.client, cut)
    mark = len(lab.events.events)
    await lab.put("eu-west", "users", "from-west", {"v": 2})
    await wait_for(lambda: applier.client.fired, what="the apply's read")
    assert lab.link_state() == {"us-east>eu-west": "cut", "eu-west>us-east": "responses dropped"}
    await lab.put("us-east", "users", "from-east", {"v": 1})

    def retried(link):
        return any(e["kind"] == "retry" and e["link"] == link for e in lab.events.events[mark:])

    # eu-west's write was applied at us-east, yet its replicator saw only a timeout ...
    await wait_for(lambda: lab.get("us-east", "users", "from-west"), what="eu-west's write")
    await wait_for(lambda: retried("eu-west>us-east") and retried("us-east>eu-west"),
                   what="both replicators to time out")
    assert lab.stats()["eu-west>us-east"]["applied"] == 0
    # ... and us-east's write never left.
    assert await lab.get("eu-west", "users", "from-east") is None
    lab.heal()
    await lab.settle()
    assert await lab.diverged("users") == {}
    stats = lab.stats()
    # The redelivery found the write already there: a suppressed duplicate, not a second write.
    assert stats["eu-west>us-east"]["suppressed"] == 1
    assert stats["eu-west>us-east"]["applied"] == 0
    assert stats["us-east>eu-west"]["applied"] == 1
