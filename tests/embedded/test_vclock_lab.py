"""The vclock policy end to end on an embedded lab: siblings across a partition, resolve."""

from __future__ import annotations

import pytest

from ..support.helpers import raw_items, stream_records, with_policy

pytestmark = pytest.mark.asyncio


@pytest.fixture
def georep_config(georep_config):
    return with_policy(georep_config, "vclock")


async def test_concurrent_writes_become_siblings_everywhere_until_resolved(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "k", {"v": "base"})
    await lab.settle()
    lab.partition("us-east", "eu-west")
    await lab.update("us-east", "users", "k", {"v": "east"})
    await lab.update("eu-west", "users", "k", {"v": "west"})
    lab.heal()
    await lab.settle()
    assert await lab.diverged("users") == {}
    for region in ("us-east", "eu-west"):
        values = await lab.siblings(region, "users", "k")
        assert sorted(v["v"] for v in values) == ["east", "west"]
    feed = await lab.conflicts("users", "k")
    assert sorted(e["region"] for e in feed) == ["eu-west", "us-east"]
    assert all(e["policy"] == "vclock" and e["losers"] == [] and len(e["siblings"]) == 1
               for e in feed)
    # A write that has read both siblings resolves them, everywhere.
    await lab.put("eu-west", "users", "k", {"v": "both"})
    await lab.settle()
    for region in ("us-east", "eu-west"):
        assert await lab.siblings(region, "users", "k") == [{"id": "k", "v": "both"}]
    assert await lab.diverged("users") == {}


async def test_replayed_siblings_change_nothing(georep_lab):
    lab = georep_lab
    lab.partition("us-east", "eu-west")
    await lab.put("us-east", "users", "k", {"v": "east"})
    await lab.put("eu-west", "users", "k", {"v": "west"})
    lab.heal()
    await lab.settle()
    before = raw_items(lab, "eu-west")
    records = len(stream_records(lab, "eu-west"))
    await lab.stop_replicator("us-east", "eu-west")
    lab.client("us-east").delete_item(TableName="georep_checkpoints",
                                      Key={"id": {"S": "us-east>eu-west|users"}})
    await lab.start_replicator("us-east", "eu-west")
    await lab.settle()
    assert raw_items(lab, "eu-west") == before
    assert len(stream_records(lab, "eu-west")) == records


async def test_siblings_too_large_for_one_item_converge_with_the_older_named(georep_lab):
    """Issue 10: two concurrent ~150 KB values cannot be stored together. Before, every region
    refused the merge (dead letters) and the regions diverged for good; now both keep the
    newest and the feed names the other as lost."""
    lab = georep_lab
    lab.partition("us-east", "eu-west")
    await lab.put("eu-west", "users", "k", {"v": "west" + "x" * 150_000})
    newest = await lab.put("us-east", "users", "k", {"v": "east" + "x" * 150_000})
    lab.heal()
    await lab.settle()
    assert await lab.diverged("users") == {}
    for region in ("us-east", "eu-west"):
        got = await lab.get(region, "users", "k")
        assert got["v"].startswith("east") and len(await lab.siblings(region, "users", "k")) == 1
    feed = await lab.conflicts("users", "k")  # values this large are summarised, not quoted
    assert {x["region"] for e in feed for x in e["losers"]} == {"eu-west"}
    assert all("$truncated" in x["value"] for e in feed for x in e["losers"])
    assert all(r["dead_lettered"] == 0 for r in lab.stats().values())
    assert newest.meta.origin == "us-east"
    assert (await lab.reconcile())["verified"]
