"""Stream records: which are local writes, and which version each one carries."""

from __future__ import annotations

import pytest

from georep.core.causality import Order, compare
from georep.core.hlc import Timestamp
from georep.core.meta import META, decode, encode, stamp
from georep.core.records import local_write

KEY = {"id": {"S": "k1"}}
KEY_NAMES = ("id",)
V1 = {**KEY, "v": {"N": "1"}, "note": {"S": "first"}}
V2 = {**KEY, "v": {"N": "2"}, "note": {"S": "second"}}
T4000 = Timestamp(4_000, 0)


def record(event, old, new, *, origin="us-east", record_ms=5_000, seq=100):
    return local_write(
        event=event, keys=KEY, old_image=old, new_image=new, origin=origin,
        record_ms=record_ms, seq=seq, key_names=KEY_NAMES,
    )


def georep_item(attrs, *, origin="eu-west", ts=T4000, base=None, writer="client"):
    return stamp(attrs, base, origin=origin, ts=ts, writer=writer).item()


@pytest.mark.parametrize("writer", ["replicator", "reconcile"])
def test_replicated_write_is_skipped_to_stop_ping_pong(writer: str) -> None:
    old = georep_item(V1, origin="us-east", ts=Timestamp(3_000, 0))
    new = georep_item(V2, base=decode(old[META]), writer=writer)
    assert record("MODIFY", old, new) is None


@pytest.mark.parametrize("writer", ["replicator", "reconcile"])
def test_replicated_insert_is_skipped(writer: str) -> None:
    assert record("INSERT", None, georep_item(V1, writer=writer)) is None


def test_georep_client_write_ships_as_is() -> None:
    old = georep_item(V1, origin="us-east", ts=Timestamp(3_000, 0))
    new = georep_item(V2, origin="us-east", ts=Timestamp(4_500, 0), base=decode(old[META]))
    out = record("MODIFY", old, new, seq=7)
    assert out is not None
    assert out.plain is False
    assert out.seq == 7
    assert out.version.item() == new
    assert out.version.meta == decode(new[META])
    assert META not in out.version.attrs


def test_georep_client_insert_ships_as_is() -> None:
    new = georep_item(V1, origin="us-east")
    out = record("INSERT", None, new)
    assert out is not None
    assert out.plain is False
    assert out.version.item() == new


def test_plain_insert_without_metadata_is_stamped_from_the_record() -> None:
    out = record("INSERT", None, dict(V1), origin="us-east", record_ms=6_000, seq=123)
    assert out is not None
    assert out.plain is True
    assert out.seq == 123
    meta = out.version.meta
    assert meta.timestamp == Timestamp(6_000, 0)
    assert meta.tie == 123
    assert meta.origin == "us-east"
    assert meta.vv == {"us-east": (Timestamp(6_000, 0).pack(), 123)}
    assert not meta.tombstone
    assert out.version.attrs == V1
    assert out.seen is None


def test_plain_modify_keeping_old_metadata_is_stamped_after_the_old_stamp() -> None:
    # eu-west's clock runs ahead: the old stamp is later than this record's creation time
    old = georep_item(V1, origin="eu-west", ts=Timestamp(9_000, 4))
    new = {**V2, META: old[META]}
    out = record("MODIFY", old, new, origin="us-east", record_ms=5_000, seq=8)
    assert out is not None
    assert out.plain is True
    old_meta = decode(old[META])
    assert out.version.meta.hlc > old_meta.hlc
    assert compare(out.version.meta.vv, old_meta.vv) is Order.AFTER
    assert out.version.meta.origin == "us-east"
    assert out.version.attrs == V2


def test_plain_modify_that_drops_metadata_still_follows_the_old_stamp() -> None:
    old = georep_item(V1, origin="eu-west", ts=Timestamp(9_000, 0))
    out = record("MODIFY", old, dict(V2), record_ms=5_000)
    assert out is not None
    assert out.plain is True
    assert compare(out.version.meta.vv, decode(old[META]).vv) is Order.AFTER


def test_client_metadata_that_does_not_match_the_attributes_is_restamped() -> None:
    old = georep_item(V1, origin="us-east", ts=Timestamp(3_000, 0))
    stale = georep_item(V1, origin="us-east", ts=Timestamp(4_000, 0), base=decode(old[META]))
    new = {**V2, META: stale[META]}  # metadata changed, but it stamps V1, not V2
    out = record("MODIFY", old, new, record_ms=4_000)
    assert out is not None
    assert out.plain is True
    assert out.version.attrs == V2
    assert compare(out.version.meta.vv, decode(stale[META]).vv) is Order.AFTER


def test_remove_becomes_a_tombstone_carrying_only_the_key() -> None:
    old = georep_item(V1, origin="eu-west", ts=Timestamp(9_000, 0))
    out = record("REMOVE", old, None, origin="us-east", record_ms=5_000, seq=9)
    assert out is not None
    assert out.plain is True
    assert out.version.meta.tombstone is True
    assert out.version.attrs == KEY
    assert out.version.meta.tie == 9
    assert compare(out.version.meta.vv, decode(old[META]).vv) is Order.AFTER


def test_remove_without_old_image_uses_the_record_keys() -> None:
    out = record("REMOVE", None, None, record_ms=5_000, seq=3)
    assert out is not None
    assert out.version.meta.tombstone is True
    assert out.version.attrs == KEY
    assert out.version.meta.timestamp == Timestamp(5_000, 0)


def test_remove_of_item_with_range_key_keeps_both_key_attributes() -> None:
    old = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}}
    out = local_write(
        event="REMOVE", keys={"pk": {"S": "a"}, "sk": {"N": "1"}}, old_image=old,
        new_image=None, origin="us-east", record_ms=1, seq=1, key_names=("pk", "sk"),
    )
    assert out is not None
    assert out.version.attrs == {"pk": {"S": "a"}, "sk": {"N": "1"}}


def test_two_plain_writes_in_the_same_millisecond_get_different_ordered_dots() -> None:
    first = record("INSERT", None, dict(V1), record_ms=7_000, seq=200)
    second = record("MODIFY", dict(V1), dict(V2), record_ms=7_000, seq=201)
    assert first is not None and second is not None
    assert first.version.meta.dot != second.version.meta.dot
    assert first.version.meta.dot < second.version.meta.dot
    assert first.version.meta.rank < second.version.meta.rank
    assert compare(second.version.meta.vv, first.version.meta.vv) is Order.AFTER


def test_same_millisecond_plain_write_after_write_back_follows_the_first() -> None:
    first = record("INSERT", None, dict(V1), record_ms=7_000, seq=200)
    assert first is not None
    written_back = first.version.item()
    second = record("MODIFY", written_back, {**V2, META: written_back[META]},
                    record_ms=7_000, seq=201)
    assert second is not None
    assert second.version.meta.dot > first.version.meta.dot
    assert compare(second.version.meta.vv, first.version.meta.vv) is Order.AFTER


def test_replayed_plain_record_gets_the_same_version() -> None:
    old = georep_item(V1)
    new = {**V2, META: old[META]}
    assert record("MODIFY", old, new, seq=5) == record("MODIFY", old, new, seq=5)


def test_seen_carries_the_raw_metadata_of_the_new_image() -> None:
    old = georep_item(V1)
    raw = old[META]
    out = record("MODIFY", old, {**V2, META: raw})
    assert out is not None
    assert out.seen == raw
    assert out.seen == encode(decode(raw))


def _tomb(origin="eu-west"):
    return stamp(dict(KEY), None, origin=origin, ts=T4000, tombstone=True)


def test_a_buried_tombstones_remove_is_skipped_and_names_nothing() -> None:
    assert record("REMOVE", _tomb().item(), None) is None


def test_a_remove_of_a_tombstone_a_plain_update_landed_on_names_that_update() -> None:
    """The old image is the tombstone's metadata over the update's attributes: a burial's step
    (c), or a plain client's delete, removed the update. It ships as a delete that follows the
    update, and names it (the chaos run's loss, seed 1971621636)."""
    old = {**_tomb().item(), "v": {"S": "plain"}}
    out = record("REMOVE", old, None, seq=9)
    assert out is not None and out.plain and out.version.meta.tombstone
    lost = out.swallowed
    assert lost is not None and lost.attrs == {**KEY, "v": {"S": "plain"}}
    assert not lost.meta.tombstone and lost.meta.origin == "us-east"
    assert compare(out.version.meta.vv, lost.meta.vv) is Order.AFTER


def test_the_swallowed_update_is_its_own_stamp_when_the_replicator_gave_it_one() -> None:
    tomb = _tomb()
    old = {**tomb.item(), "v": {"S": "plain"}}
    update = local_write(event="MODIFY", keys=KEY, old_image=tomb.item(), new_image=old,
                         origin="us-east", record_ms=5_000, seq=8, key_names=KEY_NAMES)
    out = local_write(event="REMOVE", keys=KEY, old_image=old, new_image=None,
                      origin="us-east", record_ms=5_001, seq=9, key_names=KEY_NAMES,
                      prior=update.version)
    assert out.swallowed == update.version
    assert compare(out.version.meta.vv, update.version.meta.vv) is Order.AFTER


@pytest.mark.parametrize("old", [
    {**KEY, "v": {"S": "plain"}},  # no metadata: a plain delete of a plain item
    {**georep_item(V1), "v": {"S": "changed"}},  # a live version's metadata, changed
    {**_tomb().item()},  # a stamped tombstone: a burial, skipped
    None,  # no old image
], ids=["plain", "live-meta", "tombstone", "no-image"])
def test_other_removes_name_no_update(old) -> None:
    out = record("REMOVE", old, None)
    assert out is None or out.swallowed is None
