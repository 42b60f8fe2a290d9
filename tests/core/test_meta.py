"""Item metadata: encoding, validation, digest, split and stamping."""

from __future__ import annotations

import contextvars
import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.causality import Order, compare
from georep.core.hlc import Timestamp
from georep.core.meta import (
    MAX_CLOCK_OFFSET_MS,
    META,
    TOMBSTONE_PREFIX,
    WRITERS,
    Meta,
    MetadataError,
    Sibling,
    decode,
    digest,
    encode,
    is_stamped,
    split,
    stamp,
    stamp_bounds,
    use_secret,
)
from georep.core.metacodec import _mac
from georep.core.records import stamp_plain

BOUNDED = settings(deadline=None)

names = st.text(min_size=1, max_size=12)
regions = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)  # as config allows
dots = st.tuples(st.integers(0, 2**62), st.integers(0, 2**70))
metas = st.builds(
    Meta,
    hlc=st.integers(0, 2**62),
    tie=st.integers(0, 2**70),
    origin=regions,
    writer=st.sampled_from(WRITERS),
    tombstone=st.booleans(),
    vv=st.dictionaries(names, dots, max_size=4),
    digest=st.text(max_size=20),
)

ATTRS = {"id": {"S": "k1"}, "v": {"N": "1"}}


def sample_meta(**changes) -> Meta:
    fields = dict(
        hlc=Timestamp(1000, 2).pack(), tie=0, origin="us-east", writer="client",
        tombstone=False, vv={"us-east": (Timestamp(1000, 2).pack(), 0)}, digest=digest(ATTRS),
    )
    fields.update(changes)
    return Meta(**fields)


@BOUNDED
@given(metas)
def test_encode_decode_round_trip(meta: Meta) -> None:
    assert decode(encode(meta)) == meta


def resealed(text: str) -> dict:
    """Metadata text authenticated as georep would (to test what the parser does with a body
    only georep could have written)."""
    return {"S": text + _mac(text)}


def body_of(raw: dict) -> tuple[str, dict]:
    text = raw["S"][:-22]
    return text[:3], json.loads(text[3:])


def test_encode_is_one_string_attribute() -> None:
    raw = encode(sample_meta())
    assert set(raw) == {"S"}
    assert raw["S"].startswith("3+c{")  # format, live, client
    _, body = body_of(raw)
    assert body["o"] == "us-east" and body["v"]["us-east"] == [Timestamp(1000, 2).pack(), 0]
    assert len(raw["S"]) < 160  # small: it decides how close to 400 KB an item may be


def test_the_header_carries_tombstone_and_writer() -> None:
    assert encode(sample_meta(tombstone=True, writer="replicator"))["S"].startswith("3-r{")
    assert encode(sample_meta(writer="reconcile"))["S"].startswith("3+x{")
    assert encode(sample_meta(tombstone=True))["S"].startswith(TOMBSTONE_PREFIX)


@pytest.mark.parametrize("tie,seq,below", [(5, 6, True), (6, 6, False), (7, 6, False),
                                           (9, 10, True), (10**39, 10**39 + 1, True),
                                           (0, 1, True)])
def test_stamp_bounds_compare_ties_as_dynamodb_compares_strings(tie, seq, below) -> None:
    text = encode(sample_meta(writer="stamp", tie=tie))["S"]
    prefix, upper = stamp_bounds("us-east", seq)
    assert text.startswith(prefix)
    assert (text < upper) is below  # Python compares str by code point, as DynamoDB by UTF-8


def test_stamp_bounds_match_no_other_origin_or_writer() -> None:
    prefix, _ = stamp_bounds("us-east", 10)
    assert not encode(sample_meta(writer="stamp", origin="us-east-2"))["S"].startswith(prefix)
    assert not encode(sample_meta(writer="client"))["S"].startswith(prefix)


def test_binary_values_in_siblings_round_trip_as_bytes() -> None:
    attrs = {"id": {"S": "k"}, "b": {"B": b"\x00\xff"}, "s": {"BS": [b"x", b"y"]},
             "m": {"M": {"B": {"S": "a map entry named B"}}}}
    meta = sample_meta(siblings=(Sibling(attrs, 1, 0, "us-east"), Sibling(ATTRS, 2, 0, "eu-west")))
    assert decode(encode(meta)) == meta


def test_a_crdt_state_and_plain_changes_round_trip() -> None:
    state = {"M": {"t": {"S": "item"}, "a": {"M": {"n": {"N": "12"}}}}}
    meta = sample_meta(crdt=state, crdt_base=state, crdt_changes={"M": {}})
    assert decode(encode(meta)) == meta


def test_the_mac_is_checked_before_the_body_is_parsed() -> None:
    """A plain client's text is never parsed: a deeply nested body fails authentication, and
    never raises RecursionError out of a reader."""
    nested = "3+c" + "[" * 100_000 + "]" * 100_000 + "A" * 22
    with pytest.raises(MetadataError, match="authentication failed"):
        decode({"S": nested})


@pytest.mark.parametrize("field", ["h", "q", "o", "d", "v"])
def test_an_authenticated_body_missing_a_field_names_it(field: str) -> None:
    head, body = body_of(encode(sample_meta()))
    del body[field]
    with pytest.raises(MetadataError, match=f"malformed {META} attribute.*'{field}'"):
        decode(resealed(head + json.dumps(body)))


@pytest.mark.parametrize("head", ["3*c", "3+z"])
def test_an_authenticated_bad_header_is_malformed(head: str) -> None:
    _, body = body_of(encode(sample_meta()))
    with pytest.raises(MetadataError, match="header"):
        decode(resealed(head + json.dumps(body)))


def test_an_authenticated_hlc_beyond_64_bits_is_out_of_range() -> None:
    head, body = body_of(encode(sample_meta()))
    body["h"] = 10**37
    with pytest.raises(MetadataError, match="out of range"):
        decode(resealed(head + json.dumps(body)))


@pytest.mark.parametrize("raw", [{"S": "oops"}, {"N": "3"}, {"S": "4+c{}" + "A" * 22}])
def test_decode_of_anything_else_raises_metadata_error(raw) -> None:
    with pytest.raises(MetadataError):
        decode(raw)


def test_decode_wrong_format_version_names_the_version() -> None:
    raw = encode(sample_meta())
    with pytest.raises(MetadataError, match="unsupported metadata format '4'"):
        decode({"S": "4" + raw["S"][1:]})


# Format 2, as georep wrote it before issue 16 (a nested map), sealed with LEGACY_SECRET.
LEGACY_SECRET = b"legacy lab secret, 32 bytes long"
LEGACY = {"M": {
    "v": {"N": "2"}, "h": {"N": "111411200000000002"}, "q": {"N": "0"}, "o": {"S": "us-east"},
    "w": {"S": "replicator"}, "t": {"BOOL": False}, "d": {"S": "c25f520e4bdc94ba2477"},
    "vv": {"M": {"eu-west": {"L": [{"N": "111411200000065536"}, {"N": "7"}]},
                 "us-east": {"L": [{"N": "111411200000000002"}, {"N": "0"}]}}},
    "s": {"L": [
        {"M": {"a": {"M": {"id": {"S": "k1"}, "v": {"N": "1"}, "b": {"B": b"\x00\xff"}}},
               "h": {"N": "111411200000000002"}, "q": {"N": "0"}, "o": {"S": "us-east"},
               "t": {"BOOL": False}}},
        {"M": {"a": {"M": {"id": {"S": "k1"}, "v": {"N": "2"}}}, "h": {"N": "111411200000065536"},
               "q": {"N": "7"}, "o": {"S": "eu-west"}, "t": {"BOOL": False}}}]},
    "a": {"S": "b07dab8d841c8ec2d7d6c5e9e19e07bf"}}}


def in_legacy_lab(fn):
    def run():
        use_secret(LEGACY_SECRET)
        return fn()

    return contextvars.copy_context().run(run)


def test_format_2_items_written_before_issue_16_are_still_read() -> None:
    meta = in_legacy_lab(lambda: decode(LEGACY))
    assert (meta.writer, meta.origin, meta.tie) == ("replicator", "us-east", 0)
    assert meta.vv["eu-west"] == (111411200000065536, 7)
    assert [s.origin for s in meta.siblings] == ["us-east", "eu-west"]
    assert meta.siblings[0].attrs["b"] == {"B": b"\x00\xff"}
    rewritten = in_legacy_lab(lambda: decode(encode(meta)))  # the next write: format 3
    assert rewritten == meta


@pytest.mark.parametrize("field", ["v", "h", "q", "o", "w", "t", "d", "vv"])
def test_format_2_missing_field_names_it(field: str) -> None:
    raw = copy.deepcopy(LEGACY)
    del raw["M"][field]
    with pytest.raises(MetadataError, match=f"malformed {META} attribute.*'{field}'"):
        in_legacy_lab(lambda: decode(raw))


def test_format_2_changed_or_in_another_lab_fails_authentication() -> None:
    raw = copy.deepcopy(LEGACY)
    raw["M"]["w"] = {"S": "client"}
    with pytest.raises(MetadataError, match="authentication failed"):
        in_legacy_lab(lambda: decode(raw))
    with pytest.raises(MetadataError, match="authentication failed"):
        decode(LEGACY)  # this process's own secret


def test_format_2_unknown_writer_and_format_1_are_named() -> None:
    raw = copy.deepcopy(LEGACY)
    raw["M"]["w"] = {"S": "mallory"}
    with pytest.raises(MetadataError, match="unknown writer kind 'mallory'"):
        decode(raw)
    raw["M"]["v"] = {"N": "1"}
    with pytest.raises(MetadataError, match="unsupported metadata format 1"):
        decode(raw)


def test_metadata_error_is_a_value_error() -> None:
    assert issubclass(MetadataError, ValueError)


@pytest.mark.parametrize("text", ["1.0", "1E0", "1e0", "01", "1.000", "0.1E1", "10E-1"])
def test_digest_is_independent_of_number_representation(text: str) -> None:
    assert digest({"n": {"N": text}}) == digest({"n": {"N": "1"}})


def test_digest_normalises_numbers_inside_sets_maps_and_lists() -> None:
    a = {"s": {"NS": ["1", "2.50"]}, "m": {"M": {"x": {"N": "1E2"}}}, "l": {"L": [{"N": "3.0"}]}}
    b = {"s": {"NS": ["2.5", "1.0"]}, "m": {"M": {"x": {"N": "100"}}}, "l": {"L": [{"N": "3"}]}}
    assert digest(a) == digest(b)


def test_digest_is_independent_of_set_order() -> None:
    assert digest({"s": {"SS": ["a", "b", "c"]}}) == digest({"s": {"SS": ["c", "a", "b"]}})
    assert digest({"n": {"NS": ["3", "1", "2"]}}) == digest({"n": {"NS": ["1", "2", "3"]}})
    assert digest({"b": {"BS": [b"x", b"y"]}}) == digest({"b": {"BS": [b"y", b"x"]}})


def test_digest_is_independent_of_map_key_order() -> None:
    a = {"id": {"S": "k"}, "m": {"M": {"a": {"N": "1"}, "b": {"S": "2"}}}}
    b = {"m": {"M": {"b": {"S": "2"}, "a": {"N": "1"}}}, "id": {"S": "k"}}
    assert digest(a) == digest(b)


def test_digest_ignores_the_metadata_attribute() -> None:
    assert digest({**ATTRS, META: encode(sample_meta())}) == digest(ATTRS)
    assert digest({**ATTRS, META: LEGACY}) == digest(ATTRS)


@pytest.mark.parametrize(
    "other",
    [
        {"id": {"S": "k1"}, "v": {"N": "2"}},
        {"id": {"S": "k1"}, "v": {"S": "1"}},
        {"id": {"S": "k2"}, "v": {"N": "1"}},
        {"id": {"S": "k1"}, "v": {"N": "1"}, "w": {"NULL": True}},
        {"id": {"S": "k1"}},
        {"id": {"S": "k1"}, "v": {"L": [{"N": "1"}]}},
        {"id": {"S": "k1"}, "v": {"NS": ["1"]}},
        {"id": {"S": "k1"}, "v": {"N": "1.0000001"}},
    ],
)
def test_digest_differs_for_different_values(other) -> None:
    assert digest(other) != digest(ATTRS)


def test_digest_differs_for_numbers_differing_in_the_38th_digit() -> None:
    a = "12345678901234567890123456789012345678"
    b = "12345678901234567890123456789012345679"
    assert digest({"n": {"N": a}}) != digest({"n": {"N": b}})


def test_digest_treats_negative_zero_as_zero() -> None:
    assert digest({"n": {"N": "-0"}}) == digest({"n": {"N": "0"}})


def test_split_separates_the_metadata_attribute() -> None:
    meta = sample_meta()
    attrs, got = split({**ATTRS, META: encode(meta)})
    assert attrs == ATTRS
    assert got == meta


def test_split_without_metadata_returns_none() -> None:
    assert split(dict(ATTRS)) == (ATTRS, None)


def test_split_of_missing_item_is_empty() -> None:
    assert split(None) == ({}, None)


def test_split_does_not_mutate_the_item() -> None:
    item = {**ATTRS, META: encode(sample_meta())}
    before = copy.deepcopy(item)
    split(item)
    assert item == before


def test_stamp_advances_the_vector_for_the_origin() -> None:
    base = stamp(ATTRS, None, origin="eu-west", ts=Timestamp(500, 0)).meta
    ts = Timestamp(900, 1)
    v = stamp({**ATTRS, "v": {"N": "2"}}, base, origin="us-east", ts=ts)
    assert v.meta.vv == {"eu-west": (Timestamp(500, 0).pack(), 0), "us-east": (ts.pack(), 0)}
    assert v.meta.dot == (ts.pack(), 0)
    assert v.meta.origin == "us-east"
    assert v.meta.writer == "client"
    assert compare(v.meta.vv, base.vv) is Order.AFTER
    assert is_stamped(v.attrs, v.meta)
    assert META in v.item()


def test_stamp_without_base_starts_a_fresh_vector() -> None:
    v = stamp(ATTRS, None, origin="us-east", ts=Timestamp(7, 0), tie=3, tombstone=True)
    assert v.meta.vv == {"us-east": (Timestamp(7, 0).pack(), 3)}
    assert v.meta.tombstone


def test_stamp_plain_is_deterministic() -> None:
    base = sample_meta()
    a = stamp_plain(ATTRS, base, origin="eu-west", record_ms=2000, seq=17)
    b = stamp_plain(dict(ATTRS), sample_meta(), origin="eu-west", record_ms=2000, seq=17)
    assert a == b


def test_stamp_plain_uses_record_time_and_sequence_number() -> None:
    v = stamp_plain(ATTRS, None, origin="eu-west", record_ms=2000, seq=17)
    assert v.meta.timestamp == Timestamp(2000, 0)
    assert v.meta.tie == 17
    assert v.meta.vv == {"eu-west": (Timestamp(2000, 0).pack(), 17)}


def test_stamp_plain_follows_a_base_from_a_region_whose_clock_runs_ahead() -> None:
    ahead = Timestamp(10_000, 3)
    base = stamp(ATTRS, None, origin="us-east", ts=ahead).meta
    v = stamp_plain({**ATTRS, "v": {"N": "9"}}, base, origin="eu-west", record_ms=5_000, seq=1)
    assert v.meta.hlc > base.hlc
    assert v.meta.rank > base.rank
    assert compare(v.meta.vv, base.vv) is Order.AFTER


@BOUNDED
@given(
    st.integers(0, 2**40),
    st.integers(0, 2**40),
    st.integers(0, 2**30),
)
def test_stamp_plain_always_orders_after_its_base(base_ms: int, record_ms: int, seq: int) -> None:
    """Causally after its base always; its HLC follows the base's unless that is further ahead
    of the record's time than the maximum clock offset (a clock from the future is not
    followed), and never falls below the record's time."""
    base = stamp(ATTRS, None, origin="us-east", ts=Timestamp(base_ms, 0)).meta
    v = stamp_plain(ATTRS, base, origin="eu-west", record_ms=record_ms, seq=seq)
    if base_ms - record_ms <= MAX_CLOCK_OFFSET_MS:
        assert v.meta.hlc > base.hlc
    else:
        assert v.meta.timestamp.physical == record_ms
    assert v.meta.timestamp.physical >= record_ms
    assert compare(v.meta.vv, base.vv) is Order.AFTER


def test_a_plain_stamp_follows_its_own_regions_writes_even_far_ahead():
    """Not following another region's future: the stamp's dot must still be above every dot
    of its own region that its base had seen (the vclock policy relies on that)."""
    own = stamp(ATTRS, None, origin="eu-west", ts=Timestamp(10**9, 5)).meta
    base = stamp(ATTRS, own, origin="us-east", ts=Timestamp(10**10, 0)).meta
    v = stamp_plain(ATTRS, base, origin="eu-west", record_ms=1000, seq=3)
    assert v.meta.vv["eu-west"] > own.vv["eu-west"] and v.meta.hlc < base.hlc
