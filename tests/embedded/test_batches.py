"""DynamoDB leaves part of a batch unprocessed when it throttles; georep asks for the rest
again after an exponential backoff with full jitter (georep/aws/batches.py), never in a tight
loop. moto never throttles, so the region's real client is wrapped to hold part of each batch
back for a few rounds, as a throttled table answers."""

from __future__ import annotations

import random

import pytest

from georep.aws.batches import BASE_MS, CAP_MS, reads
from georep.aws.conflicts import ConflictFeed, entry
from georep.aws.tombstones import read_states

pytestmark = pytest.mark.asyncio
A = "us-east"


class Throttled:
    """The real client, answering only the first key (or item) of each table's part of a
    batch for ``rounds`` requests, and returning the rest as unprocessed."""

    def __init__(self, real, rounds: int) -> None:
        self.real, self.rounds, self.requests = real, rounds, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def _split(self, request: dict, field: str | None):
        self.requests += 1
        if self.requests > self.rounds:
            return request, {}
        now, later = {}, {}
        for table, part in request.items():
            entries = part[field] if field else part
            if len(entries) > 1:
                later[table] = {**part, field: entries[1:]} if field else entries[1:]
            now[table] = {**part, field: entries[:1]} if field else entries[:1]
        return now, later

    async def batch_get_item(self, RequestItems):
        now, later = self._split(RequestItems, "Keys")
        resp = await self.real.batch_get_item(RequestItems=now)
        return {**resp, "UnprocessedKeys": later}

    async def batch_write_item(self, RequestItems):
        now, later = self._split(RequestItems, None)
        resp = await self.real.batch_write_item(RequestItems=now)
        return {**resp, "UnprocessedItems": later}


async def test_unprocessed_keys_are_asked_again_after_a_growing_jittered_wait(georep_lab):
    lab = georep_lab
    for i in range(5):
        await lab.put(A, "users", f"u{i}", {"n": i})
    keys = [{"id": {"S": f"u{i}"}} for i in range(5)]

    async def run(seed: int) -> tuple[set, list[float]]:
        waits: list[float] = []

        async def sleep(s: float) -> None:
            waits.append(s)

        client = Throttled(lab.writers[A].client, rounds=3)
        got = set()
        async for resp in reads(client, {"users": {"Keys": keys, "ConsistentRead": True}},
                                sleep=sleep, rng=random.Random(seed)):
            got.update(i["id"]["S"] for i in resp["Responses"]["users"])
        return got, waits

    got, waits = await run(7)
    assert got == {f"u{i}" for i in range(5)}
    assert len(waits) == 3  # one wait before each request that asks again, none after the last
    for attempt, s in enumerate(waits):
        assert 0 <= s * 1000 <= min(CAP_MS, BASE_MS * 2 ** attempt)
    assert await run(7) == (got, waits)  # the same seed waits the same


async def test_an_applys_read_gets_every_item_and_row_from_a_throttled_region(georep_lab):
    lab = georep_lab
    await lab.put(A, "users", "live", {"n": 1})
    await lab.put(A, "users", "gone", {"n": 2})
    await lab.delete(A, "users", "gone")
    keys = [{"id": {"S": k}} for k in ("live", "gone", "never")]
    client = Throttled(lab.writers[A].client, rounds=2)
    states = await read_states(client, "users", ["id"], keys)
    assert client.requests == 3
    (live, _), (gone_item, gone_row), (never, never_row) = states.values()
    assert live["n"] == {"N": "1"}
    assert gone_item is None and gone_row is not None and gone_row.meta.tombstone
    assert never is None and never_row is None


async def test_the_conflict_feed_writes_every_entry_through_throttling(georep_lab):
    lab = georep_lab
    client = Throttled(lab.writers[A].client, rounds=2)
    entries = [entry(region=A, table="users", key={"id": f"k{i}"}, policy="lww", time=1.0,
                     winner={"region": A, "hlc": i, "value": {"id": f"k{i}"}}, losers=[])
               for i in range(4)]
    await ConflictFeed(client).record(entries)
    assert client.requests == 3
    assert {e["id"] for e in await ConflictFeed(lab.writers[A].client).read()} == {
        e["id"] for e in entries}
