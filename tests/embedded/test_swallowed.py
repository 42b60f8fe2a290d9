"""A plain UpdateItem landing on a delete's tombstone item between burial steps (a) and (c)
(georep/engine/burial.py) is deleted with it by (c). It is put back when it can be; when it
cannot be (the key written again first, (c)'s answer lost, a crash), (c)'s REMOVE record names
it in the source region's conflict feed (georep/core/records.py ``swallowed``,
georep/engine/batch.py ``name_swallowed``). Found by chaos runs; each test arranges one
window's timing with the real clients, against real moto servers."""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ReadTimeoutError

from georep.core.meta import split
from georep.runtime.embedded import Lab
from georep.testing import wait_for

from ..support.helpers import raw_items, with_policy
from .test_deletes import CRDT_TYPES, KEY, A, B, plainly_absent
from .test_faults import C, three_regions

pytestmark = pytest.mark.asyncio
PLAIN = {"id": "k", "v": "plain"}


async def named(lab, regions=(A, B)) -> list:
    """The values the feeds of ``regions`` name as losers of k."""
    return [x["value"] for region in regions
            for e in await lab.conflicts("users", "k", region=region) for x in e["losers"]]


class _Racing:
    """The writer's client, with a plain UpdateItem landing right after a burial's step (a)
    and a georep write of the key right after its step (c): the window a 3-region chaos run
    found."""

    def __init__(self, lab, real) -> None:
        self.lab, self.real, self.step = lab, real, "a"

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def put_item(self, **kw):
        return self._step_a(kw, await self.real.put_item(**kw))

    async def update_item(self, **kw):
        return self._step_a(kw, await self.real.update_item(**kw))

    def _step_a(self, kw, resp):
        if self.step == "a" and kw["TableName"] == "users":
            self.step = "c"
            self.lab.client(A).update_item(
                TableName="users", Key=KEY, UpdateExpression="SET v = :v",
                ExpressionAttributeValues={":v": {"S": "plain"}})
        return resp

    async def delete_item(self, **kw):
        resp = await self.real.delete_item(**kw)
        if self.step == "c":
            self.step = "done"
            self.lab.writers[A].client = self.real
            await self.lab.put(A, "users", "k", {"v": "georep"})
        return resp


async def test_a_plain_update_deleted_by_a_burial_and_overwritten_before_its_put_back_is_named(
        georep_lab):
    """The plain update lands between (a) and (c); (c) deletes it with the tombstone; a georep
    write of the key (which reads it as absent) lands before the put-back. The put-back cannot
    happen without overwriting that write; the REMOVE record of (c) ships as a delete of the
    update, so us-east's replicator names the update in us-east's feed as the loser to that
    delete, and every region converges on the georep write. Before: it vanished without a
    feed entry."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    await lab.stop_replicator(A, B)
    racing = _Racing(lab, lab.writers[A].client)
    lab.writers[A].client = racing
    try:
        await lab.delete(A, "users", "k")
    finally:
        lab.writers[A].client = racing.real
    assert racing.step == "done"
    assert split(raw_items(lab, A)["k"])[0] == {**KEY, "v": {"S": "georep"}}
    await lab.start_replicator(A, B)
    await lab.settle()
    (entry,) = await lab.conflicts("users", "k", region=A)
    assert [x["value"] for x in entry["losers"]] == [{"id": "k", "v": "plain"}]
    assert entry["losers"][0]["region"] == A and not entry["losers"][0]["tombstone"]
    assert entry["winner"]["tombstone"] and entry["reason"] == "swallowed"
    assert await lab.conflicts("users", "k", region=B) == []
    for region in (A, B):
        assert await lab.get(region, "users", "k") == {"id": "k", "v": "georep"}, region
    assert (await lab.reconcile())["verified"]


class _CutDuringStepC(_Racing):
    """The applier's client at us-east: a plain UpdateItem lands right after a burial's step
    (a), and a one-way cut (us-east's answers dropped) begins as step (c) is sent, so (c)
    deletes the item, the update with it, and its answer never arrives: the window the
    10-minute 2-region chaos run found (seed 1971621636)."""

    async def delete_item(self, **kw):
        if self.step == "c" and kw["TableName"] == "users":
            self.step = "cut"
            self.lab.partition(A, B, one_way=True)
        return await self.real.delete_item(**kw)


class TestAnswerLost:
    @pytest.fixture(params=["lww", "vclock", "crdt"])
    def georep_config(self, georep_config, request):
        return with_policy(georep_config, request.param,
                           CRDT_TYPES if request.param == "crdt" else None)

    async def test_a_plain_update_deleted_by_a_burial_whose_answer_is_lost_is_named(
            self, georep_lab):
        """eu-west deletes k; burying it in us-east, step (c) deletes a plain update that landed
        after step (a), and a one-way cut drops (c)'s answer: nothing is put back, and the retry
        finds the key absent. The REMOVE record of (c) ships as a delete of the update (its old
        image is the tombstone's metadata over the update's attributes, as a plain client's
        delete of such an item would be), so the update must be named in us-east's feed. Before:
        it vanished from every region without a feed entry."""
        lab = georep_lab
        await lab.put(A, "users", "k", {"v": "x"})
        await lab.settle()
        await lab.stop_replicator(A, B)  # the plain update stays unstamped meanwhile
        applier = lab.replicator(B, A).table("users").applier
        racing = applier.client = _CutDuringStepC(lab, applier.client)
        mark = len(lab.events.events)
        await lab.delete(B, "users", "k")
        await wait_for(lambda: racing.step == "cut", what="step (c) sent into the cut")
        await wait_for(lambda: "k" not in raw_items(lab, A), what="step (c) to delete the item")
        await wait_for(lambda: any(e["kind"] == "retry" and e["link"] == f"{B}>{A}"
                                   for e in lab.events.events[mark:]), what="the apply's retry")
        lab.heal()
        await lab.start_replicator(A, B)
        await lab.settle()
        plainly_absent(lab)
        assert await named(lab) == [PLAIN]
        (entry,) = await lab.conflicts("users", "k", region=A)
        assert entry["winner"]["tombstone"] and entry["reason"] == "swallowed"
        assert (await lab.reconcile())["verified"]


class _StepCHeld(_Racing):
    """eu-west>us-east's applier client at us-east: a plain UpdateItem lands right after the
    burial's step (a) (inherited); step (c) waits for ``go``, deletes the item (the update with
    it), and its answer is lost (a read timeout: what a one-way cut does)."""

    def __init__(self, lab, real) -> None:
        super().__init__(lab, real)
        self.go, self.deleted = asyncio.Event(), asyncio.Event()

    async def delete_item(self, **kw):
        if self.step == "c" and kw["TableName"] == "users":
            self.step = "cut"
            await self.go.wait()
            await self.real.delete_item(**kw)
            self.deleted.set()
            raise ReadTimeoutError(endpoint_url="http://us-east/")
        return await self.real.delete_item(**kw)


class _WriteBackAfterC:
    """us-east>eu-west's source client: its first stamp write-back on users lets step (c) run
    first, then pauses the replicator, so (c)'s REMOVE, on the next page, is not read."""

    def __init__(self, rep, real, racing) -> None:
        self.rep, self.real, self.racing, self.fired = rep, real, racing, False

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def update_item(self, **kw):
        if not self.fired and kw["TableName"] == "users" and (
                kw.get("UpdateExpression") == "SET #m = :meta"):
            self.fired = True
            self.racing.go.set()
            await self.racing.deleted.wait()
            self.rep.pause()
        return await self.real.update_item(**kw)


async def swallow_with_the_links_out_stopped(lab, others) -> None:
    """k written and settled; us-east's links to ``others`` stopped; eu-west deletes k, and
    burying it in us-east, step (c) deletes a plain update with the tombstone and loses its
    answer."""
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    for other in others:
        await lab.stop_replicator(A, other)
    applier = lab.replicator(B, A).table("users").applier
    racing = applier.client = _StepCHeld(lab, applier.client)
    racing.go.set()
    await lab.delete(B, "users", "k")
    await wait_for(lambda: racing.deleted.is_set(), what="step (c)")
    applier.client = racing.real


@pytest.mark.parametrize("repair_first", [False, True], ids=["replicator", "reconcile-first"])
async def test_an_update_a_repair_brought_back_before_the_remove_was_read_is_named(
        georep_lab, repair_first):
    """(c) deletes a plain update and its answer is lost. us-east>eu-west ships the update
    (its own MODIFY record) but is stopped before it reads (c)'s REMOVE; a reconcile meanwhile
    repairs us-east with the update from eu-west, under the update's own stamp. The REMOVE
    still ships as a delete that follows the update (and its write-back deletes the repaired
    item), so finding the update's values at the source must not stop its naming: only a
    write after the delete counts as the update surviving. Found by review: before, the
    update was gone from every region with no feed entry, and reconcile verified."""
    lab = georep_lab
    await lab.put(A, "users", "k", {"v": "x"})
    await lab.settle()
    applier = lab.replicator(B, A).table("users").applier
    racing = applier.client = _StepCHeld(lab, applier.client)
    rep = lab.replicator(A, B)
    rep.source = _WriteBackAfterC(rep, rep.source, racing)
    await lab.delete(B, "users", "k")
    await wait_for(lambda: racing.deleted.is_set(), what="step (c) to delete the item")
    await wait_for(lambda: lab.get(B, "users", "k"), what="the update at eu-west")
    assert await lab.get(B, "users", "k") == PLAIN
    assert "k" not in raw_items(lab, A)
    await lab.stop_replicator(A, B)  # stopped holding (c)'s REMOVE
    applier.client = racing.real
    if repair_first:
        await lab.reconcile()  # us-east>eu-west is down: us-east is repaired from eu-west
        assert split(raw_items(lab, A)["k"])[0] == {**KEY, "v": {"S": "plain"}}
    await lab.start_replicator(A, B)
    await lab.settle()
    assert (await lab.reconcile())["verified"]
    plainly_absent(lab)
    assert await named(lab) == [PLAIN]


async def test_three_regions_name_the_update_once(tmp_path):
    """Both links out of us-east read (c)'s REMOVE and name the update: one entry, since its
    id comes from the versions and a plain write's stamp from its record alone."""
    async with Lab.embedded(three_regions(tmp_path), run_dir=tmp_path / "runs", seed=1) as lab:
        await swallow_with_the_links_out_stopped(lab, (B, C))
        await lab.start_replicator(A, B)
        await lab.start_replicator(A, C)
        await lab.settle()
        assert (await lab.reconcile())["verified"]
        for region in (A, B, C):
            assert await lab.get(region, "users", "k") is None, region
        (entry,) = await lab.conflicts("users", "k", region=A)
        assert entry["reason"] == "swallowed"
        assert [x["value"] for x in entry["losers"]] == [PLAIN]


class _Held:
    """us-east>eu-west's applier client at eu-west: its first write of users never returns
    (the replicator is then stopped: a crash between naming and delivery)."""

    def __init__(self, real) -> None:
        self.real, self.hit = real, asyncio.Event()

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def _hold(self, kw):
        if kw.get("TableName") == "users":
            self.hit.set()
            await asyncio.Event().wait()

    async def put_item(self, **kw):
        await self._hold(kw)
        return await self.real.put_item(**kw)

    async def update_item(self, **kw):
        await self._hold(kw)
        return await self.real.update_item(**kw)


async def test_a_replay_after_a_crash_between_naming_and_delivery_keeps_one_entry(georep_lab):
    lab = georep_lab
    await swallow_with_the_links_out_stopped(lab, (B,))
    rep = await lab.start_replicator(A, B)
    held = rep.table("users").applier.client = _Held(rep.table("users").applier.client)
    await wait_for(lambda: held.hit.is_set(), what="the delivery")
    first = await lab.conflicts("users", "k", region=A)
    assert [x["value"] for e in first for x in e["losers"]] == [PLAIN]
    await lab.stop_replicator(A, B)
    await lab.start_replicator(A, B)
    await lab.settle()
    assert [e["id"] for e in await lab.conflicts("users", "k", region=A)] == [first[0]["id"]]
    plainly_absent(lab)
    assert (await lab.reconcile())["verified"]
