"""Issue 9, observation 9: a deleted item is absent for plain GetItem, Query and Scan in every
region, while a delete still cannot be undone by a late replicated write. The tombstone lives in
the region's tombstone row (georep/aws/tombstones.py), not in the user's table."""

from __future__ import annotations

import pytest

from georep.aws.tombstones import TombstoneStore
from georep.core.crdt_policy import CRDTs
from georep.core.meta import Version, key_id, split, stamp

from ..support.helpers import raw_items, with_policy

pytestmark = pytest.mark.asyncio

A, B = "us-east", "eu-west"
KEY = {"id": {"S": "k"}}
CRDT_TYPES = {"visits": "pncounter", "tags": "orset"}


def plainly_absent(lab, key: str = "k") -> None:
    """A plain client finds no item, and a plain Scan does not count it, in every region."""
    for region in (A, B):
        ddb = lab.client(region)
        got = ddb.get_item(TableName="users", Key={"id": {"S": key}}, ConsistentRead=True)
        assert "Item" not in got, (region, got)
        scan = ddb.scan(TableName="users", ConsistentRead=True)
        assert key not in {i["id"]["S"] for i in scan["Items"]}, region
        query = ddb.query(TableName="users", KeyConditionExpression="id = :k",
                          ExpressionAttributeValues={":k": {"S": key}}, ConsistentRead=True)
        assert query["Count"] == 0, region


async def row(lab, region: str, key: str = "k") -> Version | None:
    store = TombstoneStore(lab.writers[region].client, "users")
    return (await store.get(key_id({"id": {"S": key}}))).version


async def test_a_georep_delete_leaves_no_item_for_plain_clients(georep_lab):
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.put(A, "users", "other", {"v": "y"})
    await lab.settle()
    await lab.delete(A, "users", "k")
    await lab.settle()
    plainly_absent(lab)
    for region in (A, B):
        assert await lab.get(region, "users", "k") is None
        assert [i["id"] for i in await lab.scan(region, "users")] == ["other"]
        assert (await row(lab, region)).meta.tombstone  # the delete is kept, out of the table
    assert lab.stats()[f"{A}>{B}"]["applied"] == 3  # the REMOVE of the burial is not shipped
    assert (await lab.reconcile())["verified"]


async def test_a_plain_delete_leaves_no_item_and_a_tombstone_row(georep_lab):
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    lab.client(A).delete_item(TableName="users", Key=KEY)
    await lab.settle()
    plainly_absent(lab)
    for region in (A, B):
        assert (await row(lab, region)).meta.tombstone
    assert await lab.diverged("users") == {}
    assert await lab.conflicts("users") == []
    assert (await lab.reconcile())["verified"]


@pytest.mark.parametrize("delete_last", [True, False])
async def test_a_late_replicated_write_never_undoes_a_delete_silently(georep_lab, delete_last):
    """A write at eu-west concurrent with a delete at us-east reaches us-east after the item
    is gone from its table. Either the delete wins everywhere, or the write wins and the delete
    is named in the feed."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "base"})
    await lab.settle()
    lab.partition(A, B)
    if delete_last:
        await lab.put(B, "users", "k", {"v": "late"})
        await lab.delete(A, "users", "k")
    else:
        await lab.delete(A, "users", "k")
        await lab.put(B, "users", "k", {"v": "late"})
    lab.heal()
    await lab.settle()
    assert await lab.diverged("users") == {}
    entries = await lab.conflicts("users", "k")  # one where each region merged them
    assert entries
    if delete_last:
        plainly_absent(lab)
        assert {x["value"].get("v") for e in entries for x in e["losers"]} == {"late"}
    else:
        for region in (A, B):
            assert await lab.get(region, "users", "k") == {"id": "k", "v": "late"}
        assert {x["tombstone"] for e in entries for x in e["losers"]} == {True}
    assert (await lab.reconcile())["verified"]


@pytest.mark.parametrize("how", ["georep", "plain"])
async def test_a_plain_re_create_after_a_delete_wins_everywhere(georep_lab, how):
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    if how == "georep":
        await lab.delete(A, "users", "k")
    else:
        lab.client(A).delete_item(TableName="users", Key=KEY)
    await lab.settle()
    lab.client(B).put_item(TableName="users", Item={**KEY, "v": {"S": "again"}})
    await lab.settle()
    for region in (A, B):
        assert await lab.get(region, "users", "k") == {"id": "k", "v": "again"}
    assert await lab.conflicts("users", "k") == []  # the re-create saw the delete
    assert (await lab.reconcile())["verified"]


async def test_a_delete_that_did_not_finish_is_finished_by_reconcile(georep_lab):
    """A crash between writing the tombstone item and burying it: simulated by a plain client
    writing a stamped tombstone item (as georep's delete does first). The other region buries
    what it receives; reconcile finishes the source."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    _, meta = split(raw_items(lab, A)["k"])
    clock = lab.writers[A].clock
    tomb = stamp(dict(KEY), meta, origin=A, ts=clock.observe(meta.timestamp,
                                                             lab.physical_ms(A)), tombstone=True)
    lab.client(A).put_item(TableName="users", Item=tomb.item())
    await lab.settle()
    assert "k" in raw_items(lab, A) and "k" not in raw_items(lab, B)
    assert await lab.get(A, "users", "k") is None  # georep's readers already hide it
    report = await lab.reconcile()
    assert report["verified"], report
    plainly_absent(lab)
    assert (await row(lab, A)) is not None


async def test_a_malformed_tombstone_row_is_ignored(georep_lab):
    lab = georep_lab
    kid = key_id(KEY)
    lab.client(A).put_item(TableName="georep_checkpoints", Item={
        "id": {"S": f"tomb|users|{kid}"}, "item": {"M": {**KEY, "_georep": {"S": "junk"}}}})
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.delete(A, "users", "k")
    await lab.settle()
    plainly_absent(lab)
    assert (await row(lab, A)).meta.tombstone  # replaced by the delete's tombstone


class TestCrdt:
    @pytest.fixture
    def georep_config(self, georep_config):
        return with_policy(georep_config, "crdt", CRDT_TYPES)

    async def test_a_delete_then_re_create_keeps_the_entries(self, georep_lab):
        lab = georep_lab
        await lab.crdt(A, "users", "k", [("visits", "+=", 2), ("tags", "+=", "vip")])
        await lab.settle()
        await lab.delete(A, "users", "k")
        await lab.settle()
        plainly_absent(lab)
        await lab.crdt(B, "users", "k", [("visits", "+=", 3)])
        await lab.settle()
        for region in (A, B):
            assert await lab.get(region, "users", "k") == {"id": "k", "visits": 3}, region
            attrs, meta = split(raw_items(lab, region)["k"])
            state = CRDTs(CRDT_TYPES).state(Version(attrs, meta))[0]
            assert state.attrs.get("visits").p.counts == {A: 2, B: 3}  # no entry shrank
        assert (await lab.reconcile())["verified"]


async def test_two_concurrent_deletes_are_named_in_the_feed_of_the_region_that_merged_them(
        georep_lab):
    """A plain delete at us-east whose stamp reaches the tombstone row after eu-west's
    concurrent georep delete was buried there: the policy chose between the two deletes in that
    row, so us-east's feed names the loser (before, a row merge dropped it: in a 3-region chaos
    run, a delete that lost this way was vouched for by nothing)."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "base"})
    await lab.settle()
    await lab.stop_replicator(A, B)  # us-east's plain writes wait unstamped
    lab.client(A).delete_item(TableName="users", Key=KEY)
    await lab.delete(B, "users", "k")
    await lab.settle()  # eu-west's delete is buried at us-east, in the row
    assert (await row(lab, A)).meta.origin == B
    assert await lab.conflicts("users", "k", region=A) == []
    await lab.start_replicator(A, B)
    await lab.settle()
    plainly_absent(lab)
    here = await lab.conflicts("users", "k", region=A)
    assert len(here) == 1, here
    (entry,) = here
    assert entry["winner"]["tombstone"] and [x["tombstone"] for x in entry["losers"]] == [True]
    assert {entry["winner"]["region"], entry["losers"][0]["region"]} == {A, B}
    there = await lab.conflicts("users", "k", region=B)  # eu-west merged the same two
    assert [(e["winner"], e["losers"]) for e in there] == [(entry["winner"], entry["losers"])]
    assert (await lab.reconcile())["verified"]


async def test_a_plain_update_landing_between_a_burials_steps_is_not_deleted(georep_lab):
    """The 10-minute 3-region chaos run lost a plain UpdateItem: it landed on the tombstone item
    of a burial between steps (a) and (c), kept the tombstone's metadata, and (c) deleted it.
    Now (c) puts the plain client's attributes back, and the update wins everywhere."""
    from georep.core.policies import policy_named
    from georep.engine.burial import finish

    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    await lab.stop_replicator(A, B)  # the plain update stays unstamped meanwhile
    _, meta = split(raw_items(lab, A)["k"])
    clock = lab.writers[A].clock
    tomb = stamp(dict(KEY), meta, origin=A, ts=clock.observe(meta.timestamp,
                                                             lab.physical_ms(A)), tombstone=True)
    client = lab.writers[A].client
    table = lab.config.table("users")
    await client.put_item(TableName="users", Item=tomb.item())  # step (a)
    lab.client(A).update_item(TableName="users", Key=KEY, UpdateExpression="SET v = :v",
                              ExpressionAttributeValues={":v": {"S": "plain"}})
    await finish(client, table, TombstoneStore(client, "users"), policy_named("lww"), tomb)
    assert raw_items(lab, A)["k"] == {**KEY, "v": {"S": "plain"}}  # put back, unstamped
    await lab.start_replicator(A, B)
    await lab.settle()
    assert await lab.conflicts("users", "k", region=A) == []  # it survived: nothing to name
    for region in (A, B):
        assert await lab.get(region, "users", "k") == {"id": "k", "v": "plain"}, region
    assert (await lab.reconcile())["verified"]
