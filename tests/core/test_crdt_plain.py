"""Plain-client writes and deletes on a ``crdt`` item, in the pure core: what ``stamp_plain``
carries in the metadata, and the state the policy reads from it (issue 9, observation 5)."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.crdt import ItemState
from georep.core.crdt_policy import CRDTs, apply_ops, values_of
from georep.core.hlc import Timestamp
from georep.core.meta import Meta, Version, decode, encode, stamp
from georep.core.records import stamp_plain

TYPES = {"balance": "bcounter", "visits": "pncounter", "tags": "orset"}
POLICY = CRDTs(TYPES)
KEY = {"id": {"S": "k"}}
A, B = "us-east", "eu-west"


def georep_write(base: Version | None, ops, *, region: str = A, ms: int = 1000) -> Version:
    state = POLICY.state(base)[0] if base is not None else ItemState.new()
    ts = Timestamp(ms, 0)
    state = apply_ops(state, ops, actor=region, ts=ts.pack(), types=TYPES)
    attrs = values_of(state, KEY)
    v = stamp(attrs, base.meta if base else None, origin=region, ts=ts)
    return Version(attrs, replace(v.meta, crdt=state.encode()))


def georep_delete(base: Version, *, region: str = A, ms: int = 2000) -> Version:
    ts = Timestamp(ms, 0)
    state = POLICY.state(base)[0].delete(region, ts.pack())
    v = stamp(dict(KEY), base.meta, origin=region, ts=ts, tombstone=True)
    return Version(dict(KEY), replace(v.meta, crdt=state.encode()))


def plain(base: Version | None, attrs, *, ms: int = 3000, seq: int = 7,
          tombstone: bool = False) -> Version:
    return stamp_plain(attrs, base.meta if base else None, origin=A, record_ms=ms, seq=seq,
                       tombstone=tombstone)


def stocked() -> Version:
    return georep_write(None, [("balance", "+=", 10), ("visits", "+=", 2),
                               ("tags", "+=", "vip"), ("name", "=", "Ann")])


# -- the metadata ------------------------------------------------------------------------------


def fields(raw: dict) -> set[str]:
    """The top-level fields of format-3 metadata (a client write's: header of 3 characters)."""
    return set(json.loads(raw["S"][3:-22]))


states = st.sampled_from([None, stocked().meta.crdt,
                          georep_delete(stocked()).meta.crdt])


@settings(deadline=None)
@given(crdt=states, crdt_base=states)
def test_the_crdt_state_and_the_base_state_round_trip(crdt, crdt_base) -> None:
    meta = replace(stocked().meta, crdt=crdt, crdt_base=crdt_base)
    assert decode(encode(meta)) == meta
    assert ("b" in fields(encode(meta))) == (crdt_base is not None)


def test_a_plain_write_carries_the_state_it_replaced_and_stamps_deterministically() -> None:
    base = stocked()
    p = plain(base, {**base.attrs, "note": {"S": "hi"}})
    assert p.meta.crdt is None and p.meta.crdt_base == base.meta.crdt
    assert p == plain(base, {**base.attrs, "note": {"S": "hi"}})  # a replayed record
    # a plain write that replaced a plain write carries the state that one started from
    again = plain(p, {**p.attrs, "more": {"S": "x"}}, ms=3001, seq=8)
    assert again.meta.crdt_base == base.meta.crdt
    # a table of another policy carries nothing
    lww = stamp({**KEY, "v": {"N": "1"}}, None, origin=A, ts=Timestamp(1, 0))
    assert plain(lww, lww.attrs).meta == replace(plain(lww, lww.attrs).meta, crdt_base=None)


def test_a_plain_delete_is_read_as_the_reset_of_what_it_replaced() -> None:
    base = stocked()
    d = plain(base, dict(KEY), tombstone=True)
    assert d.meta.crdt is None and d.meta.crdt_base == base.meta.crdt
    state, refused = POLICY.state(d)
    assert refused == [] and not state.exists() and state.died == (d.meta.hlc, A)
    assert state.get("balance").now.inc == {A: 10}  # kept: no entry shrinks
    # a plain re-create that replaced that delete starts from the reset
    again = plain(d, {**KEY, "note": {"S": "new"}}, ms=3001, seq=8)
    assert POLICY.state(again)[0].visible() == {"note": "new"}


def test_a_damaged_state_never_stops_a_reader() -> None:
    base = stocked()
    forged = Version(base.attrs, replace(base.meta, crdt={"M": {"t": {"S": "nope"}}}))
    state, refused = POLICY.state(forged)
    assert state.visible() == {"name": "Ann"} and refused == ["balance", "tags", "visits"]
    assert plain(forged, dict(KEY), tombstone=True).meta.crdt_base is None
    garbled = replace(plain(base, dict(base.attrs)).meta, crdt_changes={"M": {}})
    assert POLICY.state(Version(base.attrs, garbled))[0].visible()["name"] == "Ann"


# -- the state the policy reads ----------------------------------------------------------------


def test_only_the_registers_a_plain_write_changed_are_assigned_at_its_stamp() -> None:
    base = stocked()
    p = plain(base, {**base.attrs, "note": {"S": "hi"}})
    state, refused = POLICY.state(p)
    assert refused == []
    assert state.visible() == {"balance": 10, "visits": 2, "tags": ["vip"], "name": "Ann",
                               "note": "hi"}
    assert state.get("note").stamp == (p.meta.hlc, A)
    assert state.get("name") == ItemState.decode(base.meta.crdt).get("name")  # untouched
    assert state.get("balance").rights(A) == 10


def test_a_plain_remove_of_a_register_unsets_it_at_its_stamp() -> None:
    base = stocked()
    p = plain(base, {k: v for k, v in base.attrs.items() if k != "name"})
    state, refused = POLICY.state(p)
    assert refused == [] and "name" not in state.visible()
    # an assignment after the removal wins; one before it (concurrent, older) does not
    later = georep_write(None, [("name", "=", "Bo")], region=B, ms=4000)
    earlier = georep_write(None, [("name", "=", "Cy")], region=B, ms=5)
    assert POLICY.merge(p, later).write.attrs["name"] == {"S": "Bo"}
    assert "name" not in POLICY.merge(p, earlier).write.attrs


def test_a_changed_counter_set_or_unstorable_value_is_refused_and_the_state_kept() -> None:
    base = stocked()
    p = plain(base, {**base.attrs, "balance": {"N": "999"}, "tags": {"SS": ["x"]},
                     "price": {"N": "1.5"}, "visits": base.attrs["visits"]})
    state, refused = POLICY.state(p)
    assert refused == ["balance", "price", "tags"]
    assert state.visible()["balance"] == 10 and "price" not in state.visible()
    merge = POLICY.merge(georep_write(None, [("visits", "+=", 1)], region=B), p)
    assert merge.write.attrs["balance"] == {"N": "10"}
    (lost,) = merge.conflict.losers
    assert lost.attrs == {**KEY, "balance": {"N": "999"}, "tags": {"SS": ["x"]},
                          "price": {"N": "1.5"}}


def test_a_removed_counter_is_refused_and_reported_as_null() -> None:
    base = stocked()
    p = plain(base, {k: v for k, v in base.attrs.items() if k != "visits"})
    assert POLICY.state(p)[1] == ["visits"]
    merge = POLICY.merge(None, p)
    assert merge.write.attrs["visits"] == {"N": "2"}
    assert merge.conflict.losers[0].attrs == {**KEY, "visits": {"NULL": True}}


def test_plain_writes_after_a_plain_delete_never_bring_back_what_it_reset() -> None:
    base = stocked()
    p1 = plain(base, {**base.attrs, "note": {"S": "a"}}, ms=3000, seq=1)
    d = plain(p1, dict(KEY), ms=3001, seq=2, tombstone=True)
    p2 = plain(d, {**KEY, "fresh": {"S": "b"}}, ms=3002, seq=3)
    # shipped alone (the earlier records collapsed into it), or after the others
    assert POLICY.state(p2)[0].value() == {"fresh": "b"}
    merged = base
    for v in (p1, d, p2):
        merged = POLICY.merge(merged, v).write
    assert POLICY.state(merged)[0].value() == {"fresh": "b"}
    assert merged.attrs == {**KEY, "fresh": {"S": "b"}}


def test_a_chain_of_plain_writes_keeps_each_writes_own_changes() -> None:
    base = stocked()
    p1 = plain(base, {**base.attrs, "note": {"S": "a"}, "balance": {"N": "999"}}, seq=1)
    p2 = plain(p1, {**p1.attrs, "more": {"S": "b"}}, ms=3001, seq=2)  # left note and 999 alone
    p3 = plain(p2, {k: v for k, v in p2.attrs.items() if k != "note"}, ms=3002, seq=3)
    assert POLICY.state(p1)[1] == ["balance"]
    assert POLICY.state(p2)[1] == []  # 999 is p1's refused value, reported by p1 only
    state2 = POLICY.state(p2)[0]
    assert state2.get("note").stamp == (p1.meta.hlc, A)  # p1's assignment, not re-made by p2
    assert state2.visible() == {"balance": 10, "visits": 2, "tags": ["vip"], "name": "Ann",
                                "note": "a", "more": "b"}
    # p3 removed p1's note; shipped alone (the earlier records collapsed into it), it says so
    assert "note" not in POLICY.state(p3)[0].visible()
    assert "note" not in POLICY.merge(POLICY.merge(base, p1).write, p3).write.attrs


def test_the_recorded_changes_round_trip_through_the_metadata() -> None:
    base = stocked()
    p = plain(base, {k: v for k, v in base.attrs.items() if k != "name"} | {"n": {"N": "1"}})
    assert decode(encode(p.meta)) == p.meta
    assert fields(encode(p.meta)) >= {"b", "p"}


def test_meta_fields_default_to_no_crdt_state() -> None:
    meta = Meta(1, 0, A, "client", False, {}, "")
    assert meta.crdt is None and meta.crdt_base is None and meta.crdt_changes is None
