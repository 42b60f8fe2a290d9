"""Issue 9's observations as regression tests: no acknowledged write is lost silently where
local writes meet replicated ones (last-writer-wins table).

Each test arranges one race on real moto servers; nothing of the system under test is mocked.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from georep.core.meta import Version, split, stamp
from georep.core.policies import policy_named
from georep.core.records import stamp_plain
from georep.engine.apply import Applier
from georep.errors import LabError
from georep.testing import wait_for

from ..support.helpers import RaceAfterRead, raw_items

pytestmark = pytest.mark.asyncio


def losers(entries: list[dict]) -> list:
    return [lost["value"].get("v") for e in entries for lost in e["losers"]]


async def race_an_apply(lab, meanwhile):
    """eu-west holds ``v = base``; apply a concurrent us-east version to eu-west while
    ``meanwhile`` (a local write) lands between the apply's read and its write."""
    table = lab.config.table("users")
    await lab.put("eu-west", "users", "k", {"v": "base"})
    await lab.settle()
    _, meta = split(await lab.writers["eu-west"].read(table, "k"))
    incoming = stamp({"id": {"S": "k"}, "v": {"S": "from-us-east"}}, meta, origin="us-east",
                     ts=meta.timestamp.successor())
    racing = RaceAfterRead(lab.writers["eu-west"].client, meanwhile)
    result = await Applier(racing, table, policy_named("lww"), "eu-west").apply([incoming])
    assert racing.fired == 1
    return incoming, result


def plain_update(lab, region: str, attr: str, value: str):
    async def write():
        lab.client(region).update_item(
            TableName="users", Key={"id": {"S": "k"}}, UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": attr}, ExpressionAttributeValues={
                ":v": {"S": value}})
    return write


async def test_a_local_write_racing_an_apply_is_merged_never_overwritten(georep_lab):
    """Observation 1 (lww): a local write W lands between the apply's read and its write, and
    the region writes the key again (W2) at once. The apply must not write over W: its
    conditional write loses the race, re-reads and merges; W2 then has really read W."""
    lab = georep_lab

    async def local_write():  # W, acknowledged
        await lab.update("eu-west", "users", "k", {"v": "W"})

    _, result = await race_an_apply(lab, local_write)
    assert result.races == 1  # its first write lost the race: re-read
    [outcome] = result.outcomes
    assert outcome.conflict is not None  # W and the incoming version were concurrent
    # The merge kept W (the greater HLC) and names the incoming version as its loser.
    assert await lab.get("eu-west", "users", "k") == {"id": "k", "v": "W"}
    assert [v.attrs["v"]["S"] for v in outcome.conflict.losers] == ["from-us-east"]
    await lab.update("eu-west", "users", "k", {"v": "W2"})  # has read W
    await lab.settle()
    for region in ("us-east", "eu-west"):
        assert await lab.get(region, "users", "k") == {"id": "k", "v": "W2"}


async def test_a_plain_write_racing_an_apply_survives_or_is_named(georep_lab):
    """The same race with a plain boto3 UpdateItem that leaves georep's metadata as it was
    (a condition on the metadata alone would not notice it), then a georep write W2."""
    lab = georep_lab
    incoming, result = await race_an_apply(lab, plain_update(lab, "eu-west", "v", "plain"))
    assert result.races == 1
    assert result.blocked == [incoming]  # re-read: an unstamped plain write, never merged over
    assert raw_items(lab, "eu-west")["k"]["v"] == {"S": "plain"}
    await lab.settle()
    await lab.update("eu-west", "users", "k", {"v": "W2"})
    await lab.settle()
    for region in ("us-east", "eu-west"):
        assert await lab.get(region, "users", "k") == {"id": "k", "v": "W2"}
    assert await lab.diverged("users") == {}


async def test_an_attribute_added_by_a_plain_client_during_an_apply_survives(georep_lab):
    """No condition can name an attribute it has not seen: a plain UpdateItem that adds one
    between the apply's read and write is kept by the apply's UpdateItem, and the item is then
    stamped and replicated as the plain write that followed the apply."""
    lab = georep_lab
    _, result = await race_an_apply(lab, plain_update(lab, "eu-west", "extra", "added"))
    assert result.applied == 1 and result.races == 0
    await lab.settle()
    want = {"id": "k", "v": "from-us-east", "extra": "added"}
    for region in ("us-east", "eu-west"):
        assert await lab.get(region, "users", "k") == want
    assert await lab.diverged("users") == {}


async def test_conflicts_found_while_redriving_a_dlq_reach_the_feed(georep_lab):
    """Observation 4: a partition long enough to open the breakers (records go to the DLQs),
    conflicting writes on both sides, heal: the redrive's merge names the loser in the feed."""
    lab = georep_lab
    await lab.put("us-east", "users", "k", {"v": "base"})
    await lab.settle()
    lab.partition("us-east", "eu-west")
    await lab.put("us-east", "users", "k", {"v": "east"})
    await lab.put("eu-west", "users", "k", {"v": "west"})
    await wait_for(lambda: len({e["link"] for e in lab.events.of_kind("dlq")}) == 2,
                   timeout=30, what="both links to dead-letter the writes")
    assert lab.events.of_kind("conflict") == []
    lab.heal()
    await lab.settle(60)
    feed = await lab.conflicts("users", "k")
    assert sorted(losers(feed)) == ["east", "east"]  # in the feed of both regions, once each
    assert {e["region"] for e in feed} == {"us-east", "eu-west"}
    assert await lab.get("us-east", "users", "k") == {"id": "k", "v": "west"}
    assert await lab.diverged("users") == {}


async def test_a_plain_write_is_never_merged_against_a_made_up_stamp(georep_lab):
    """Observation 2: eu-west's replicator is down when a plain PutItem lands there, and a
    concurrent us-east write arrives. The apply must not overwrite the plain write (it has no
    stamp yet): it waits, then dead-letters; a georep write at eu-west refuses to build on it.
    Once the replicator is back, the plain write is stamped as having seen exactly the
    version it replaced, the conflict is named in the feed, and the regions converge."""
    lab = georep_lab
    await lab.put("us-east", "users", "k", {"v": "base"})
    await lab.settle()
    await lab.stop_replicator("eu-west", "us-east")
    lab.client("eu-west").put_item(TableName="users", Item={"id": {"S": "k"},
                                                            "v": {"S": "plain"}})
    await lab.put("us-east", "users", "k", {"v": "east"})
    await wait_for(lambda: any(e["reason"] == "unstamped destination"
                               for e in lab.events.of_kind("dlq")),
                   timeout=30, what="the apply to give up on the unstamped item")
    assert raw_items(lab, "eu-west")["k"]["v"] == {"S": "plain"}  # never overwritten
    lab.writers["eu-west"].stamp_wait_s = 0.2
    with pytest.raises(LabError, match="no replicator has stamped"):
        await lab.put("eu-west", "users", "k", {"v": "W3"})
    await lab.start_replicator("eu-west", "us-east")
    report = await lab.reconcile()
    assert report["verified"]
    feed = await lab.conflicts("users", "k")
    final = await lab.get("eu-west", "users", "k")
    assert final == await lab.get("us-east", "users", "k")
    lost = set(losers(feed))
    # Concurrent writes: one survives, the other is named in the feed.
    assert {final["v"]} | lost == {"plain", "east"} and final["v"] not in lost


async def test_a_stamp_write_back_never_lands_on_a_version_georep_wrote(georep_lab):
    """Observation 3: the write-back of a plain write's stamp must not match an item written
    by an apply whose winner is an older plain write of the same region."""
    from georep.core.records import LocalWrite
    from georep.engine.stamping import write_back

    lab = georep_lab
    table = lab.config.table("users")
    ddb = lab.client("eu-west")
    ddb.put_item(TableName="users", Item={"id": {"S": "k"}, "v": {"S": "older-plain"}})
    await lab.settle()
    older = split(raw_items(lab, "eu-west")["k"])[1]
    assert older.tie > 0  # a plain write, stamped by its region
    # The item as an apply writes it: the older plain write won the merge.
    merged = Version({"id": {"S": "k"}, "v": {"S": "older-plain"}},
                     replace(older, writer="replicator"))
    ddb.put_item(TableName="users", Item=merged.item())
    later = stamp_plain({"id": {"S": "k"}, "v": {"S": "later-plain"}}, older,
                        origin="eu-west", record_ms=older.timestamp.physical + 5,
                        seq=older.tie + 10)
    lw = LocalWrite(later, older.tie + 10, plain=True, seen=None)
    assert await write_back(lab.writers["eu-west"].client, table, lw, "eu-west") is False
    assert raw_items(lab, "eu-west")["k"]["_georep"] == merged.item()["_georep"]


async def test_a_plain_delete_then_re_create_survives_a_clock_running_ahead(georep_lab):
    """Observation 7: eu-west's clock runs 1 s ahead; at us-east a plain client deletes a key
    that eu-west wrote and at once creates it again, both before us-east's replicators read
    them. The re-create replaced the delete, so it must win everywhere; reconcile must not
    revert it."""
    lab = georep_lab
    lab.skew("eu-west", 1000)
    await lab.put("eu-west", "users", "k", {"v": "from-eu-west"})
    await lab.settle()
    for dst in ("eu-west",):
        await lab.stop_replicator("us-east", dst)
    ddb = lab.client("us-east")
    ddb.delete_item(TableName="users", Key={"id": {"S": "k"}})
    ddb.put_item(TableName="users", Item={"id": {"S": "k"}, "v": {"S": "re-created"}})
    await lab.start_replicator("us-east", "eu-west")
    await lab.settle()
    report = await lab.reconcile()
    assert report["verified"]
    for region in ("us-east", "eu-west"):
        assert await lab.get(region, "users", "k") == {"id": "k", "v": "re-created"}
    assert await lab.conflicts("users", "k") == []  # each write saw the one before: no conflict


async def test_a_plain_write_too_large_for_the_metadata_is_never_replaced(georep_lab):
    """Observation 8: a plain write that fits for a plain client but not with georep's
    metadata cannot be stamped or replicated. It is named in the feed as unreplicable, counted
    in the link's stats, and reconcile leaves it alone (listed, not verified) instead of
    writing the earlier small version over it."""
    lab = georep_lab
    await lab.put("us-east", "users", "big", {"v": "small"})
    await lab.settle()
    big = "x" * (405_000 - 100)  # moto's item limit is 405,000 bytes (real DynamoDB: 400 KB)
    lab.client("us-east").put_item(TableName="users",
                                   Item={"id": {"S": "big"}, "blob": {"S": big}})
    await wait_for(lambda: any(e["kind"] == "stamp-failed" for e in lab.events.events),
                   what="the stamp to fail")
    await lab.settle()
    report = await lab.reconcile()
    [t] = report["tables"]
    assert not report["verified"] and t["unstamped"] == [{"id": "big"}]
    assert "too large" in t["why"]
    assert raw_items(lab, "us-east")["big"]["blob"] == {"S": big}  # never replaced
    assert await lab.get("eu-west", "users", "big") == {"id": "big", "v": "small"}
    [entry] = [e for e in await lab.conflicts("users", "big") if e["region"] == "us-east"]
    assert entry["reason"].startswith("unreplicable")
    assert lab.stats()["us-east>eu-west"]["unreplicable"] == 1
