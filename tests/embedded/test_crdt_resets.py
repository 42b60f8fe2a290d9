"""Regression tests for issue 9, observations 5 and 6, on an embedded lab with real moto:
plain AWS client writes to an item of a ``crdt`` table keep its CRDT state, and a crdt delete is
an observed reset (a concurrent, unobserved increment survives it; a re-create starts from it)."""

from __future__ import annotations

import pytest

from georep.core.crdt_policy import CRDTs
from georep.core.meta import Version, split
from georep.errors import LabError

from ..support.helpers import raw_items, with_policy

pytestmark = pytest.mark.asyncio

TYPES = {"balance": "bcounter", "visits": "pncounter", "tags": "orset"}
A, B = "us-east", "eu-west"


@pytest.fixture
def georep_config(georep_config):
    return with_policy(georep_config, "crdt", TYPES)


def state_at(lab, region: str, key: str):
    """The item's CRDT state in ``region``, as the policy reads it from the raw item."""
    attrs, meta = split(raw_items(lab, region)[key])
    state = CRDTs(TYPES).state(Version(attrs, meta))[0]
    return getattr(state, "attrs", state)  # the item's map of per-attribute CRDTs


async def stocked(lab, key: str) -> None:
    await lab.crdt(A, "users", key, [("balance", "+=", 10), ("visits", "+=", 2),
                                     ("tags", "+=", "vip"), ("name", "=", "Ann")])
    await lab.settle()


async def assert_agreed_and_verified(lab) -> None:
    assert await lab.diverged("users") == {}
    report = await lab.reconcile("users")
    assert report["verified"], report


# -- observation 5: a plain write keeps the region's CRDT state --------------------------------


PLAIN_WRITES = {
    "update-set": lambda ddb, item: ddb.update_item(
        TableName="users", Key={"id": item["id"]}, UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "hi"}}),
    "put-whole-item": lambda ddb, item: ddb.put_item(
        TableName="users", Item={**{k: v for k, v in item.items() if k != "_georep"},
                                 "note": {"S": "hi"}}),
    "put-whole-item-with-stale-metadata": lambda ddb, item: ddb.put_item(
        TableName="users", Item={**item, "note": {"S": "hi"}}),
}


@pytest.mark.parametrize("write", PLAIN_WRITES.values(), ids=PLAIN_WRITES.keys())
async def test_a_plain_write_keeps_the_regions_crdt_state(georep_lab, write):
    lab = georep_lab
    await stocked(lab, "p")
    ddb = lab.client(A)
    item = ddb.get_item(TableName="users", Key={"id": {"S": "p"}}, ConsistentRead=True)["Item"]
    write(ddb, item)
    await lab.settle()
    for region in (A, B):
        got = await lab.get(region, "users", "p")
        assert got == {"id": "p", "balance": 10, "visits": 2, "tags": ["vip"], "name": "Ann",
                       "note": "hi"}, region
    # Today the stamp written back carries no CRDT map: the region's rights read 0 ...
    assert state_at(lab, A, "p").get("balance").rights(A) == 10
    # ... and an increment restarts from 0.
    await lab.crdt(A, "users", "p", [("balance", "+=", 1)])
    await lab.settle()
    for region in (A, B):
        assert (await lab.get(region, "users", "p"))["balance"] == 11, region
    assert [lo for e in await lab.conflicts("users", "p") for lo in e["losers"]] == []
    await assert_agreed_and_verified(lab)


async def test_a_plain_remove_of_a_register_is_an_assignment_and_counters_are_kept(georep_lab):
    lab = georep_lab
    await stocked(lab, "r")
    lab.client(A).update_item(TableName="users", Key={"id": {"S": "r"}},
                              UpdateExpression="REMOVE #n, visits",
                              ExpressionAttributeNames={"#n": "name"})
    await lab.settle()
    got = await lab.get(B, "users", "r")
    assert "name" not in got and got["balance"] == 10 and got["visits"] == 2
    # us-east's item shows what the client left until a merge rewrites it; its state kept it
    assert state_at(lab, A, "r").get("visits").value() == 2
    assert "name" not in state_at(lab, A, "r").value()
    lost = [lo["value"] for e in await lab.conflicts("users", "r") for lo in e["losers"]]
    assert lost == [{"id": "r", "visits": None}]  # the removed counter: refused, on record
    report = await lab.reconcile("users")
    assert report["verified"], report
    for region in (A, B):
        got = await lab.get(region, "users", "r")
        assert "name" not in got and got["balance"] == 10 and got["visits"] == 2, region
    await lab.crdt(B, "users", "r", [("name", "=", "Bo")])  # a later assignment wins again
    await lab.settle()
    assert (await lab.get(A, "users", "r"))["name"] == "Bo"
    await assert_agreed_and_verified(lab)


# -- observation 6: delete, re-create and a concurrent increment -------------------------------


async def delete_beside_an_increment(lab) -> None:
    """10 visits everywhere; then, cut off, us-east deletes and eu-west adds 5."""
    await lab.crdt(A, "users", "d", [("visits", "+=", 10)])
    await lab.settle()
    lab.partition(A, B)
    await lab.delete(A, "users", "d")
    await lab.crdt(B, "users", "d", [("visits", "+=", 5)])


async def test_a_delete_resets_what_it_observed_and_a_concurrent_increment_survives(georep_lab):
    lab = georep_lab
    await delete_beside_an_increment(lab)
    await lab.crdt(A, "users", "d", [("visits", "+=", 3)])
    assert (await lab.get(A, "users", "d"))["visits"] == 3  # the re-create starts from the reset
    lab.heal()
    await lab.settle()
    for region in (A, B):
        assert (await lab.get(region, "users", "d"))["visits"] == 8, region  # 13 + 5 - 10
    # The delete and the re-create that saw it may cross in one batch, collapsed to the
    # re-create: the delete's reset is then in its state (the 8 above), and the feed names the
    # concurrent increment merged beside it, never as a loser.
    feed = await lab.conflicts("users", "d")
    assert feed and all(e["policy"] == "crdt" and e["losers"] == [] for e in feed)
    assert any(s["region"] == B for e in feed for s in [e["winner"], *e["siblings"]])
    await assert_agreed_and_verified(lab)


async def test_a_delete_crossing_alone_is_named_beside_the_concurrent_increment(georep_lab):
    """The same delete reaching the other region on its own (nothing written after it): the
    feed names it, merged beside the concurrent increment, not lost."""
    lab = georep_lab
    await delete_beside_an_increment(lab)
    lab.heal()
    await lab.settle()
    for region in (A, B):
        assert (await lab.get(region, "users", "d"))["visits"] == 5, region  # 15 - 10
    feed = await lab.conflicts("users", "d")
    assert feed and all(e["policy"] == "crdt" and e["losers"] == [] for e in feed)
    merged = [s for e in feed for s in [e["winner"], *e["siblings"]]]
    assert any(s["tombstone"] for s in merged)  # the delete is on record, merged, not lost
    await lab.crdt(A, "users", "d", [("visits", "+=", 3)])
    await lab.settle()
    for region in (A, B):
        assert (await lab.get(region, "users", "d"))["visits"] == 8, region
    await assert_agreed_and_verified(lab)


async def test_a_sequential_delete_resets_and_a_re_create_starts_from_zero(georep_lab):
    lab = georep_lab
    await stocked(lab, "s")
    await lab.delete(A, "users", "s")
    await lab.settle()
    assert await lab.get(B, "users", "s") is None
    await lab.crdt(B, "users", "s", [("visits", "+=", 3), ("tags", "+=", "new")])
    await lab.settle()
    for region in (A, B):
        assert await lab.get(region, "users", "s") == {"id": "s", "visits": 3,
                                                        "tags": ["new"]}, region
    # Every region's own entry only grew: us-east's 2 visits are still in the state.
    assert state_at(lab, B, "s").get("visits").p.counts == {A: 2, B: 3}
    await assert_agreed_and_verified(lab)


async def test_a_bounded_counter_after_a_concurrent_delete_is_never_negative(georep_lab):
    lab = georep_lab
    await lab.crdt(A, "users", "b", [("balance", "+=", 10)])
    await lab.transfer_rights(A, "users", "b", "balance", B, 5)
    await lab.settle()
    lab.partition(A, B)
    await lab.crdt(B, "users", "b", [("balance", "-=", 3)])  # spends rights the delete saw
    await lab.delete(A, "users", "b")
    lab.heal()
    await lab.settle()
    for region in (A, B):
        assert await lab.get(region, "users", "b") in (None, {"id": "b", "balance": 0})
    with pytest.raises(LabError, match="rights"):
        await lab.crdt(B, "users", "b", [("balance", "-=", 1)])
    await lab.crdt(B, "users", "b", [("balance", "+=", 2)])  # not swallowed by the overlap
    await lab.crdt(B, "users", "b", [("balance", "-=", 2)])
    with pytest.raises(LabError, match="rights"):
        await lab.crdt(B, "users", "b", [("balance", "-=", 1)])
    await lab.settle()
    for region in (A, B):
        assert (await lab.get(region, "users", "b"))["balance"] == 0, region
    await assert_agreed_and_verified(lab)
