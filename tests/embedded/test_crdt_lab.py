"""The crdt policy end to end on an embedded lab: counters, sets and registers across a
partition, the bounded counter's rights, and replays that change nothing."""

from __future__ import annotations

import pytest

from georep.errors import LabError

from ..support.helpers import raw_items, stream_records, with_policy

pytestmark = pytest.mark.asyncio

TYPES = {"balance": "bcounter", "visits": "pncounter", "tags": "orset",
         "status": "mvregister"}


@pytest.fixture
def georep_config(georep_config):
    return with_policy(georep_config, "crdt", TYPES)


async def test_a_partition_loses_no_increment_and_keeps_both_values(georep_lab):
    lab = georep_lab
    await lab.crdt("us-east", "users", "acct", [("balance", "+=", 1000), ("name", "=", "Ann")])
    await lab.transfer_rights("us-east", "users", "acct", "balance", "eu-west", 400)
    await lab.settle()
    assert (await lab.get("eu-west", "users", "acct"))["balance"] == 1000
    lab.partition("us-east", "eu-west")
    await lab.crdt("us-east", "users", "acct", [("balance", "-=", 300), ("visits", "+=", 1),
                                                ("tags", "+=", "vip"), ("status", "=", "gold")])
    await lab.crdt("eu-west", "users", "acct", [("balance", "-=", 100), ("visits", "+=", 2),
                                                ("tags", "+=", "new"), ("status", "=", "blue")])
    # eu-west holds 400 rights and has used 100: a further 350 would risk going below zero.
    with pytest.raises(LabError, match=r"balance.*rights"):
        await lab.crdt("eu-west", "users", "acct", [("balance", "-=", 350)])
    lab.heal()
    await lab.settle()
    assert await lab.diverged("users") == {}
    item = await lab.get("us-east", "users", "acct")
    assert item["balance"] == 600 and item["visits"] == 3
    assert item["tags"] == ["new", "vip"]
    assert item["status"] == ["blue", "gold"]  # an MV-register keeps both
    assert item["name"] == "Ann"
    feed = await lab.conflicts("users", "acct")
    assert sorted(e["region"] for e in feed) == ["eu-west", "us-east"]
    assert all(e["policy"] == "crdt" and e["losers"] == [] and len(e["siblings"]) == 2
               for e in feed)


async def test_replayed_increments_are_not_counted_twice(georep_lab):
    lab = georep_lab
    for _ in range(5):
        await lab.crdt("us-east", "users", "c", [("visits", "+=", 1)])
    await lab.settle()
    before = raw_items(lab, "eu-west")
    records = len(stream_records(lab, "eu-west"))
    await lab.stop_replicator("us-east", "eu-west")
    ddb = lab.client("us-east")
    ddb.delete_item(TableName="georep_checkpoints", Key={"id": {"S": "us-east>eu-west|users"}})
    await lab.start_replicator("us-east", "eu-west")  # replays the whole stream
    await lab.settle()
    assert (await lab.get("eu-west", "users", "c"))["visits"] == 5
    assert raw_items(lab, "eu-west") == before
    assert len(stream_records(lab, "eu-west")) == records


async def test_plain_writes_are_register_assignments_and_counters_refuse_them(georep_lab):
    lab = georep_lab
    await lab.crdt("us-east", "users", "p", [("visits", "+=", 2)])
    await lab.settle()
    ddb = lab.client("us-east")
    ddb.update_item(TableName="users", Key={"id": {"S": "p"}},
                    UpdateExpression="SET nickname = :n, visits = :v",
                    ExpressionAttributeValues={":n": {"S": "pat"}, ":v": {"N": "99"}})
    await lab.settle()
    item = await lab.get("eu-west", "users", "p")
    assert item["nickname"] == "pat"  # an LWW-register assignment
    assert item["visits"] == 2  # a counter is not assigned by a plain write ...
    lost = [lo for e in await lab.conflicts("users", "p") for lo in e["losers"]]
    assert any(lo["value"].get("visits") == 99 for lo in lost)  # ... and that is on record


async def test_bad_operations_are_clear_errors(georep_lab):
    lab = georep_lab
    cases = [([("visits", "=", 3)], "cannot be assigned"),
             ([("status", "+=", "x")], "assigned with ="),
             ([("visits", "+=", -1)], "positive whole number"),
             ([("name", "rights", ("eu-west", 1))], "bounded counter")]
    for ops, needle in cases:
        with pytest.raises(LabError, match=needle):
            await lab.crdt("us-east", "users", "x", ops)
    assert await lab.get("us-east", "users", "x") is None  # nothing written


async def test_a_counter_growing_past_38_digits_is_a_lab_error(georep_lab):
    """Issue 10: DynamoDB numbers have 38 digits; the sum that would overflow is refused with
    one line (before, a decimal.Inexact traceback), and the counter keeps its value."""
    lab = georep_lab
    await lab.crdt("us-east", "users", "c", [("visits", "+=", 9 * 10**37)])
    with pytest.raises(LabError, match="us-east/users"):
        await lab.crdt("us-east", "users", "c", [("visits", "+=", 9 * 10**37)])
    assert (await lab.get("us-east", "users", "c"))["visits"] == 9 * 10**37
