"""Reconcile with binary keys: the keys of a differing range are fetched as the keys they are
(key ids hold binary values as hex), so a divergent item is found, repaired and verified, in a
full and an incremental reconcile alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from georep.config import KeyAttr, Table
from georep.core.meta import stamp

pytestmark = pytest.mark.asyncio

A, B = "us-east", "eu-west"
ORDERS = Table("orders", KeyAttr("id", "S"), KeyAttr("sk", "B"))


@pytest.fixture
def georep_config(georep_config):
    return replace(georep_config, tables=(*georep_config.tables, ORDERS))


def behind_the_back(lab, region: str, key: str, sk: bytes) -> None:
    """A version marked as replicated, in one region only: nothing ships it."""
    body = {"id": {"S": key}, "sk": {"B": sk}, "v": {"S": "only here"}}
    v = stamp(body, None, origin=region, ts=lab.writers[region].clock.now(lab.physical_ms(region)))
    lab.client(region).put_item(TableName="orders", Item=v.written_by("replicator").item())


def keys(lab, region: str) -> set:
    return {(i["id"]["S"], bytes(i["sk"]["B"])) for i in
            lab.client(region).scan(TableName="orders", ConsistentRead=True)["Items"]}


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
async def test_a_divergent_item_with_a_binary_key_is_repaired(georep_lab, full):
    lab = georep_lab
    for i in range(5):
        await lab.put(A, "orders", {"id": f"k{i}", "sk": bytes([i, 0xff])}, {"v": "same"})
    await lab.settle()
    assert (await lab.reconcile("orders"))["verified"]
    behind_the_back(lab, A, "lost", b"\x01\x02")
    [t] = (await lab.reconcile("orders", full=full))["tables"]
    assert t["mode"] == ("full" if full else "incremental")
    assert t["keys_diverged"] == 1 and t["repaired"] == {B: 1} and t["verified"]
    assert keys(lab, A) == keys(lab, B) and ("lost", b"\x01\x02") in keys(lab, B)
    again = (await lab.reconcile("orders"))["tables"][0]
    assert again["items"] == {A: 6, B: 6} and again["ranges_differing"] == 0
