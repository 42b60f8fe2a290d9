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
