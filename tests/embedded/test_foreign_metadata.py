"""Issue 10: metadata written by someone else. A plain client may write ``_georep`` itself —
malformed, forged, from the future, or restored from a backup with the item. None of it may hide
a write from replication, overwrite another region's acknowledged write without a feed entry,
or drag a region's clock into the future; every georep reader keeps working."""

from __future__ import annotations

import copy
import json

import pytest

from georep.core.hlc import Timestamp
from georep.core.meta import META, digest, split, stamp
from georep.runtime.control import count_live

from ..support.helpers import raw_items

pytestmark = pytest.mark.asyncio

A, B = "us-east", "eu-west"
YEAR_2100_MS = 4_102_444_800_000


def forged(attrs: dict, **fields) -> dict:
    """Metadata as a plain client who read georep's source would write it: every field right,
    the digest of the attributes included, but no lab secret to authenticate it."""
    body = {"h": 1, "q": 0, "o": B, "d": digest(attrs), "v": {}}
    body.update(fields)
    return {**attrs, META: {"S": "3+r" + json.dumps(body) + "A" * 22}}


async def settled_everywhere(lab, key: str, want: dict) -> None:
    for region in (A, B):
        assert await lab.get(region, "users", key) == want, region
    assert await lab.diverged("users") == {}


@pytest.mark.parametrize("meta", [
    {"S": "not a map"},
    {"M": {"v": {"N": "1"}}},
], ids=["string", "old-format"])
async def test_malformed_metadata_is_a_plain_write_replicated_and_readable(georep_lab, meta):
    lab = georep_lab
    lab.client(B).put_item(TableName="users", Item={"id": {"S": "k"}, "v": {"S": "x"},
                                                     META: meta})
    await lab.settle()
    await settled_everywhere(lab, "k", {"id": "k", "v": "x"})
    assert [i["id"] for i in await lab.scan(A, "users")] == ["k"]  # get and scan never abort
    assert split(raw_items(lab, B)["k"])[1] is not None  # stamped: georep's own metadata now
    assert lab.stats()[f"{B}>{A}"]["foreign"] >= 1
    assert (await lab.reconcile())["verified"]


async def test_forged_replicator_metadata_does_not_hide_a_write(georep_lab):
    lab = georep_lab
    attrs = {"id": {"S": "k"}, "v": {"S": "forged"}}
    lab.client(B).put_item(TableName="users", Item=forged(attrs))
    await lab.settle()
    await settled_everywhere(lab, "k", {"id": "k", "v": "forged"})


async def test_a_forged_vector_from_the_future_does_not_overwrite_silently(georep_lab):
    """us-east's acknowledged write and eu-west's plain write claiming to have seen everything
    (a version vector from the future) meet after a partition: a conflict, named in the feed."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "base"})
    await lab.settle()
    lab.partition(A, B)
    await lab.put(A, "users", "k", {"v": "acked"})
    future = [YEAR_2100_MS << 16, 0]
    attrs = {"id": {"S": "k"}, "v": {"S": "future"}}
    lab.client(B).put_item(TableName="users", Item=forged(
        attrs, v={A: future, B: future}, h=YEAR_2100_MS << 16))
    lab.heal()
    await lab.settle()
    final = await lab.get(A, "users", "k")
    await settled_everywhere(lab, "k", final)
    named = {x["value"].get("v") for e in await lab.conflicts("users", "k")
             for x in e["losers"]}
    assert named == ({"acked", "future"} - {final["v"]}), (final, named)
    # the forged HLC was never adopted: a later write is stamped on the lab's clock
    v = await lab.put(A, "users", "k", {"v": "later"})
    assert v.meta.timestamp.physical < lab.physical_ms(A) + 60_000


async def test_an_item_restored_from_a_backup_is_a_new_write_not_reverted(georep_lab):
    """A plain client puts back an item read earlier, ``_georep`` included (a restore). It is the
    user's latest write: it wins in every region, where before it was shipped as the old version
    it claims to be, suppressed, and reverted by reconcile without a feed entry."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "v1"})
    await lab.settle()
    backup = copy.deepcopy(raw_items(lab, A)["k"])
    await lab.put(A, "users", "k", {"v": "v2"})
    await lab.settle()
    lab.client(A).put_item(TableName="users", Item=backup)
    await lab.settle()
    await settled_everywhere(lab, "k", {"id": "k", "v": "v1"})
    assert await lab.conflicts("users", "k") == []  # it saw v2: no conflict, no loss
    report = await lab.reconcile()
    assert report["verified"], report
    await settled_everywhere(lab, "k", {"id": "k", "v": "v1"})


async def test_a_replicated_hlc_far_ahead_is_not_followed_by_the_local_clock(georep_lab):
    """eu-west's clock runs a day ahead (a real, authenticated version, not a forgery): its
    write replicates and wins as the later write, but us-east's next write is stamped on
    us-east's own clock, still causally after it."""
    lab = georep_lab
    lab.skew(B, 86_400_000)
    await lab.put(B, "users", "k", {"v": "tomorrow"})
    await lab.settle()
    v = await lab.put(A, "users", "k", {"v": "today"})
    assert v.meta.timestamp.physical < lab.physical_ms(A) + 60_000
    assert lab.writers[A].ahead == 1
    await lab.settle()
    await settled_everywhere(lab, "k", {"id": "k", "v": "today"})  # it had seen tomorrow
    assert await lab.conflicts("users", "k") == []
    assert Timestamp.unpack(v.meta.hlc) < Timestamp(lab.physical_ms(B), 0)


async def test_status_counts_plain_writes_whatever_metadata_they_carry(georep_lab):
    """``georep status``'s item count: a plain write whose ``_georep`` is a number, a list, a
    map without ``t`` or any other string is live; georep's tombstone items are not."""
    lab = georep_lab
    await lab.stop_replicator(B, A)  # no stamp write-back replaces the metadata meanwhile
    shapes = {"n": {"N": "1"}, "bool": {"BOOL": True}, "map": {"M": {"v": {"N": "1"}}},
              "list": {"L": []}, "str": {"S": "hello"}, "none": None}
    for k, meta in shapes.items():
        item = {"id": {"S": k}, "v": {"S": "x"}, **({META: meta} if meta else {})}
        lab.client(B).put_item(TableName="users", Item=item)
    await lab.put(B, "users", "stamped", {"v": "y"})
    tomb = {"id": {"S": "tomb"}, META: stamp(
        {"id": {"S": "tomb"}}, None, origin=B, ts=Timestamp(1, 0), tombstone=True).item()[META]}
    lab.client(B).put_item(TableName="users", Item=tomb)  # a delete that did not finish
    assert await count_live(lab.async_client(B), "users") == len(shapes) + 1
