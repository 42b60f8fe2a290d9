"""Reconcile on an embedded lab: divergence made behind the replicators' backs is found by the
Merkle trees, repaired with the table's policy, and verified."""

from __future__ import annotations

import asyncio

import pytest

from georep.core.meta import stamp

pytestmark = pytest.mark.asyncio


async def behind_the_back(lab, region: str, values: dict[str, dict]):
    """Write versions to one region marked as replicated writes: every replicator skips them,
    as if their delivery had been lost (a purged DLQ, a trimmed stream)."""
    clock = lab.writers[region].clock
    items = []
    for key, attrs in values.items():
        body = {"id": {"S": key}, **{k: {"S": v} for k, v in attrs.items()}}
        v = stamp(body, None, origin=region, ts=clock.now(lab.physical_ms(region)))
        items.append(v.written_by("replicator").item())
    lab.client(region).batch_write_item(RequestItems={"users": [
        {"PutRequest": {"Item": it}} for it in items]})


async def three_diverged(lab, n: int) -> None:
    """n keys alike in both regions, then k05 newer at us-east, only-east and only-west, each
    written behind the replicators' backs."""
    for i in range(n):
        await lab.put("us-east", "users", f"k{i:02d}", {"v": "same"})
    await lab.settle()
    await behind_the_back(lab, "us-east", {"only-east": {"v": "e"}, "k05": {"v": "east"}})
    await behind_the_back(lab, "eu-west", {"only-west": {"v": "w"}})
    await lab.settle()


async def test_divergence_behind_the_replicators_back_is_repaired_and_verified(georep_lab):
    lab = georep_lab
    await three_diverged(lab, 30)
    assert set(await lab.diverged("users")) == {"[('id', 'k05')]", "[('id', 'only-east')]",
                                                  "[('id', 'only-west')]"}
    report = await lab.reconcile()
    assert report["verified"] is True
    [t] = report["tables"]
    assert t["scanned"] == {"us-east": 31, "eu-west": 31}
    assert t["keys_diverged"] == 3
    assert t["repaired"] == {"eu-west": 2, "us-east": 1}
    assert 1 <= t["ranges_differing"] <= 3 < t["ranges"]
    assert set(t["seconds"]) == {"scan", "compare", "repair", "verify"}
    assert await lab.diverged("users") == {}
    assert (await lab.get("eu-west", "users", "k05"))["v"] == "east"  # the later write won
    # A second reconcile finds nothing to repair.
    again = await lab.reconcile()
    assert again["verified"] and again["tables"][0]["keys_diverged"] == 0
    assert again["tables"][0]["ranges_differing"] == 0


async def test_a_range_that_differs_only_in_a_tombstone_is_repaired(georep_lab):
    """A delete and a concurrent update whose deliveries were both lost (each link's checkpoint
    moved past them, as a trimmed stream would): eu-west holds only a tombstone row."""
    lab = georep_lab
    await lab.put("us-east", "users", "gone", {"v": "base"})
    await lab.settle()
    for src, dst in (("us-east", "eu-west"), ("eu-west", "us-east")):
        await lab.stop_replicator(src, dst)
    await lab.put("us-east", "users", "gone", {"v": "alive"})
    await lab.delete("eu-west", "users", "gone")
    for src, dst in (("us-east", "eu-west"), ("eu-west", "us-east")):
        await lab.reset_checkpoint(src, dst, to="latest")
        await lab.start_replicator(src, dst)
    await lab.settle()
    assert await lab.get("eu-west", "users", "gone") is None
    assert await lab.get("us-east", "users", "gone") == {"id": "gone", "v": "alive"}
    report = await lab.reconcile()
    assert report["verified"]
    # The two versions are concurrent: both regions take the merge (the joined vector), and
    # the overwritten value is named in the feed.
    assert report["tables"][0]["repaired"] == {"us-east": 1, "eu-west": 1}
    assert await lab.get("us-east", "users", "gone") is None  # the later delete won (LWW)
    feed = await lab.conflicts("users", "gone")
    assert {lost["value"]["v"] for e in feed for lost in e["losers"]} == {"alive"}


async def test_reconcile_while_clients_write_loses_none_of_their_writes(georep_lab):
    lab = georep_lab
    await behind_the_back(lab, "us-east", {f"d{i}": {"v": "x"} for i in range(20)})
    written = {}

    async def client():
        for i in range(40):
            key = f"live{i:02d}"
            await lab.put("eu-west" if i % 2 else "us-east", "users", key, {"n": i})
            written[key] = i

    writer = asyncio.create_task(client())
    await lab.reconcile()
    await writer
    await lab.settle()
    final = await lab.reconcile()
    assert final["verified"]
    for region in ("us-east", "eu-west"):
        items = {i["id"]: i for i in await lab.scan(region, "users")}
        assert {k: items[k]["n"] for k in written} == written
        assert all(f"d{i}" in items for i in range(20))


async def test_reconcile_refuses_while_a_link_is_cut(georep_lab):
    from georep.errors import LabError

    lab = georep_lab
    lab.partition("us-east", "eu-west")
    await lab.put("us-east", "users", "k", {"v": 1})
    with pytest.raises(LabError, match="links not open"):
        await lab.reconcile(timeout=3)
    lab.heal()


async def test_a_dry_run_names_every_repair_and_writes_nothing(georep_lab):
    lab = georep_lab
    await three_diverged(lab, 10)

    def raw(region):
        return sorted(map(repr, lab.client(region).scan(TableName="users")["Items"]))

    before = {r: raw(r) for r in ("us-east", "eu-west")}
    feed = len(await lab.conflicts())
    report = await lab.reconcile(dry_run=True)
    [t] = report["tables"]
    assert report["dry_run"] is True and report["redrive"] == {}
    assert report["verified"] is False and t["why"].startswith("dry run, nothing was written")
    assert t["planned"] == {"eu-west": 2, "us-east": 1} and t["repaired"] == {}
    assert {(p["key"]["id"], p["region"]) for p in t["planned_keys"]} == {
        ("k05", "eu-west"), ("only-east", "eu-west"), ("only-west", "us-east")}
    assert {r: raw(r) for r in before} == before  # not one item written
    assert len(await lab.conflicts()) == feed
    assert len(await lab.diverged("users")) == 3
    assert lab.events.of_kind("reconcile-repair") == []
    # the real one then writes exactly what the dry run named
    report = await lab.reconcile()
    assert report["verified"] and report["tables"][0]["repaired"] == {"eu-west": 2, "us-east": 1}
    # and a dry run over equal regions proves them equal
    again = await lab.reconcile(dry_run=True)
    assert again["verified"] is True and again["tables"][0]["planned_keys"] == []
