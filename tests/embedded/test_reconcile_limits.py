"""Issue 10: a repair that a region refuses (DynamoDB's limits) never aborts reconcile.

Two concurrent 150 KB values of a crdt MV-register each fit, but their merge, which keeps both
(in the item and in its CRDT state), does not: the replicators dead-letter it, and reconcile,
which folds the same merge, is refused by every region. It reports the key with the region and
the error, is not verified, and goes on with every other key and table."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytestmark = pytest.mark.asyncio

A, B = "us-east", "eu-west"


@pytest.fixture
def georep_config(georep_config):
    users = replace(georep_config.tables[0], policy="crdt", crdt={"status": "mvregister"})
    others = replace(georep_config.tables[0], name="others", policy="lww", crdt={})
    return replace(georep_config, tables=(users, others))


async def test_a_refused_repair_is_reported_and_reconcile_goes_on(georep_lab):
    lab = georep_lab
    lab.partition(A, B)
    await lab.crdt(A, "users", "big", [("status", "=", "a" * 150_000)])
    await lab.crdt(B, "users", "big", [("status", "=", "b" * 150_000)])
    await lab.crdt(A, "users", "small", [("status", "=", "fine")])
    await lab.put(A, "others", "k", {"v": "x"})
    lab.heal()
    await lab.settle()
    report = await lab.reconcile()
    assert not report["verified"]
    users, others = report["tables"]
    assert {(f["region"], f["key"]["id"]) for f in users["failed"]} == {(A, "big"), (B, "big")}
    assert all("size" in f["error"].lower() for f in users["failed"])
    assert "refused by a region" in users["why"]
    assert others["verified"] and others["failed"] == []
    for region in (A, B):  # every other key made it
        assert (await lab.get(region, "users", "small"))["status"] == ["fine"]
        assert await lab.get(region, "others", "k") == {"id": "k", "v": "x"}


async def test_keys_batched_with_a_refused_one_are_repaired_counted_and_named(georep_lab):
    """Repairs go 50 keys a call: the region refusing one of them stops none of the others,
    and every key written is counted and has its reconcile-repair event."""
    lab = georep_lab
    lab.partition(A, B)
    await lab.crdt(A, "users", "big", [("status", "=", "a" * 150_000)])
    await lab.crdt(B, "users", "big", [("status", "=", "b" * 150_000)])
    lab.heal()
    await lab.settle()
    await lab.stop_replicator(A, B)  # these reach eu-west only through the repair
    for i in range(5):
        await lab.crdt(A, "users", f"s{i}", [("status", "=", "fine")])
    mark = len(lab.run_events())
    report = await lab.reconcile()
    users = report["tables"][0]
    assert {(f["region"], f["key"]["id"]) for f in users["failed"]} == {(A, "big"), (B, "big")}
    assert users["repaired"] == {B: 5}
    events = [e for e in lab.run_events()[mark:] if e["kind"] == "reconcile-repair"]
    assert sorted(e["key"]["id"] for e in events) == [f"s{i}" for i in range(5)]
    for i in range(5):
        assert (await lab.get(B, "users", f"s{i}"))["status"] == ["fine"]
