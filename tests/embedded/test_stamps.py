"""The store of plain-write stamps that did not reach their item (real moto, the checkpoint
table of a lab region): it keeps the latest few per key, and a replayed record finds the stamp
of the write before *it*."""

from __future__ import annotations

import pytest

from georep.aws.stamps import KEEP, StampStore, latest_before
from georep.core.hlc import Timestamp
from georep.core.meta import stamp

pytestmark = pytest.mark.asyncio


def version(n: int):
    return stamp({"id": {"S": "k"}, "v": {"N": str(n)}}, None, origin="us-east",
                 ts=Timestamp(1_000 + n, 0), tie=n)


async def test_saved_stamps_are_recalled_by_sequence_number(georep_lab):
    store = StampStore(georep_lab.writers["us-east"].client, "users")
    for seq in (10, 30, 20):  # two links may save out of order
        await store.save("kid", seq, version(seq))
    found = await store.recall(["kid", "other"])
    assert set(found) == {"kid"} and sorted(found["kid"]) == [10, 20, 30]
    assert found["kid"][20] == version(20)
    assert latest_before(found["kid"], 25) == version(20)  # a replay of the record at 25
    assert latest_before(found["kid"], 10) is None
    await store.save("kid", 30, version(30))  # a second link saving the same stamp: no change
    assert sorted((await store.recall(["kid"]))["kid"]) == [10, 20, 30]


async def test_only_the_latest_few_are_kept(georep_lab):
    store = StampStore(georep_lab.writers["us-east"].client, "users")
    for seq in range(1, KEEP + 4):
        await store.save("kid", seq, version(seq))
    kept = (await store.recall(["kid"]))["kid"]
    assert sorted(kept) == list(range(4, KEEP + 4))


async def test_a_forged_entry_is_ignored(georep_lab):
    client = georep_lab.writers["us-east"].client
    await client.put_item(TableName="georep_checkpoints", Item={
        "id": {"S": "stamp|users|kid"},
        "stamps": {"M": {"5": {"M": {"id": {"S": "k"}, "_georep": {"S": "not a map"}}}}}})
    store = StampStore(client, "users")
    assert await store.recall(["kid"]) == {"kid": {}}  # skipped: never a base for a stamp
    await store.save("kid", 7, version(7))
    assert sorted((await store.recall(["kid"]))["kid"]) == [7]
