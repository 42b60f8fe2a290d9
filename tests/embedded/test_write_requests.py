"""georep's write path reads a key's item and its tombstone row in one BatchGetItem (issue 16):
a write of a new key is two requests, not three, and a write after a delete still follows the
tombstone it read in that one request. Real moto; the writer's real client is only counted."""

from __future__ import annotations

import pytest

from georep.aws.tombstones import TombstoneStore
from georep.core.causality import Order, compare
from georep.core.meta import key_id

pytestmark = pytest.mark.asyncio


class Counted:
    """The writer's real client; names each call it makes."""

    def __init__(self, client) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        async def call(*args, **kw):
            self.calls.append(name)
            return await attr(*args, **kw)

        return call


def counted(lab, region: str) -> Counted:
    writer = lab.writers[region]
    writer.client = Counted(writer.client)
    return writer.client


async def test_a_write_of_a_new_key_is_one_read_and_one_write(georep_lab):
    calls = counted(georep_lab, "us-east")
    await georep_lab.put("us-east", "users", "fresh", {"n": 1})
    assert calls.calls == ["batch_get_item", "put_item"]
    assert await georep_lab.get("us-east", "users", "fresh") == {"id": "fresh", "n": 1}


async def test_a_write_after_a_delete_follows_the_tombstone_read_with_the_item(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "k", {"n": 1})
    await lab.delete("us-east", "users", "k")
    row = await TombstoneStore(lab.writers["us-east"].client, "users").get(
        key_id({"id": {"S": "k"}}))
    assert row.version is not None and row.version.meta.tombstone
    calls = counted(lab, "us-east")
    again = await lab.put("us-east", "users", "k", {"n": 2})
    assert calls.calls == ["batch_get_item", "put_item"]
    # the new version descends from the delete: its vector covers the tombstone's
    assert compare(again.meta.vv, row.version.meta.vv) is Order.AFTER
    await lab.settle()
    assert await lab.get("eu-west", "users", "k") == {"id": "k", "n": 2}
    assert await lab.diverged("users") == {}
