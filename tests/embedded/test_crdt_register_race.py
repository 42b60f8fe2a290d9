"""Chaos seed 919173771 (3 regions): a plain client's `SET note` on a crdt item, acknowledged,
vanished with no feed entry. Reduced here to two regions on real moto servers; only the timing
is arranged (RaceAfterRead), nothing of georep is mocked.

The apply of a version that sets ``note`` read the destination's item before the plain write
added ``note``; its conditional UpdateItem checked the metadata and the attributes it had read,
not the absence of ``note``, so it overwrote the plain write. The next georep write of that
region read the overwritten item, so its version vector covered the plain write's dot: when the
region's replicator then stamped the plain write, every merge found it already seen.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from georep.core.crdt import ItemState
from georep.core.crdt_policy import CRDTs, apply_ops
from georep.core.hlc import Timestamp
from georep.core.meta import Version, split, stamp
from georep.core.policies import policy_named
from georep.engine.apply import Applier

from ..support.helpers import RaceAfterRead, raw_items, with_policy

pytestmark = pytest.mark.asyncio

TYPES = {"visits": "pncounter"}
A, B = "us-east", "eu-west"


@pytest.fixture
def georep_config(georep_config):
    return with_policy(georep_config, "crdt", TYPES)


async def test_a_plain_register_write_racing_an_apply_that_sets_it_survives(georep_lab):
    lab = georep_lab
    table = lab.config.table("users")
    await lab.crdt(A, "users", "c", [("visits", "+=", 2)])
    await lab.settle()
    lab.partition(A, B)
    # B assigns the register (shipped to A by hand below: the link is cut).
    await lab.crdt(B, "users", "c", [("note", "=", "from-eu")])
    attrs, meta = split(await lab.writers[B].read(table, "c"))
    incoming = Version(attrs, meta)
    # A's replicator is down: the plain write is not stamped before A's next georep write.
    await lab.stop_replicator(A, B)
    ddb = lab.client(A)

    async def plain_note():  # acknowledged, made after B's assignment: its stamp is later
        ddb.update_item(TableName="users", Key={"id": {"S": "c"}},
                        UpdateExpression="SET note = :n",
                        ConditionExpression="attribute_not_exists(note)",
                        ExpressionAttributeValues={":n": {"S": "plain-us"}})

    racing = RaceAfterRead(lab.writers[A].client, plain_note)
    policy = policy_named("crdt", **table.policy_options())
    await Applier(racing, table, policy, A).apply([incoming])
    assert racing.fired == 1
    # The apply must not have written over the plain write it never read.
    assert raw_items(lab, A)["c"]["note"] == {"S": "plain-us"}

    # A's next georep write (it waits for the stamp if the item is unstamped).
    w2 = asyncio.create_task(lab.crdt(A, "users", "c", [("visits", "-=", 5)]))
    await asyncio.wait({w2}, timeout=1.0)
    await lab.start_replicator(A, B)
    await w2
    lab.heal()
    await lab.settle(60)
    finals = {r: await lab.get(r, "users", "c") for r in (A, B)}
    feed = await lab.conflicts("users", "c")
    named = [lo["value"].get("note") for e in feed for lo in e["losers"]]
    assert all(f["note"] == "plain-us" for f in finals.values()) or "plain-us" in named, (
        finals, feed)
    assert all(f["visits"] == -3 for f in finals.values()), finals


def _register_version(origin: str, ts: int, note: str, vv=None) -> Version:
    """A georep write at ``origin`` assigning ``note`` at packed HLC ``ts`` (vector: its own
    dot, or ``vv``)."""
    state = apply_ops(ItemState.new(), [("note", "=", note)], actor=origin, ts=ts, types=TYPES)
    v = stamp({"id": {"S": "k"}, "note": {"S": note}}, None, origin=origin,
              ts=Timestamp.unpack(ts))
    meta = replace(v.meta, crdt=state.encode(), vv=v.meta.vv if vv is None else vv)
    return Version(v.attrs, meta)


async def test_a_register_value_lost_to_a_concurrent_assignment_is_named_as_a_loser():
    """Two regions assign ``note`` concurrently: the merge keeps the later stamp and names
    the other value, with the key and that attribute, as a loser (in either argument order)."""
    early = _register_version(A, 1 << 16, "early")
    late = _register_version(B, 2 << 16, "late")
    for current, incoming in ((early, late), (late, early)):
        m = CRDTs(TYPES).merge(current, incoming)
        assert m.write is not None and m.write.attrs["note"] == {"S": "late"}
        assert m.conflict is not None
        assert [lo.attrs for lo in m.conflict.losers] == [
            {"id": {"S": "k"}, "note": {"S": "early"}}]


async def test_a_register_value_the_winner_has_seen_is_no_loser():
    early = _register_version(A, 1 << 16, "early")
    late = _register_version(B, 2 << 16, "late", {A: (1 << 16, 0), B: (2 << 16, 0)})
    m = CRDTs(TYPES).merge(early, late)
    assert m.write.attrs["note"] == {"S": "late"}
    assert m.conflict is None or not m.conflict.losers
