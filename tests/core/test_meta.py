"""Item metadata: encoding, validation, digest, split and stamping."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.causality import Order, compare
from georep.core.hlc import Timestamp
from georep.core.meta import (
    MAX_CLOCK_OFFSET_MS,
    META,
    WRITERS,
    Meta,
    MetadataError,
    decode,
    digest,
    encode,
    is_stamped,
    split,
    stamp,
)
from georep.core.records import stamp_plain

BOUNDED = settings(deadline=None)

names = st.text(min_size=1, max_size=12)
dots = st.tuples(st.integers(0, 2**62), st.integers(0, 2**70))
metas = st.builds(
    Meta,
    hlc=st.integers(0, 2**62),
    tie=st.integers(0, 2**70),
    origin=names,
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


def test_encode_uses_dynamodb_low_level_json() -> None:
    raw = encode(sample_meta())
    assert set(raw) == {"M"}
    assert raw["M"]["v"] == {"N": "2"}
    assert raw["M"]["o"] == {"S": "us-east"}
    assert raw["M"]["t"] == {"BOOL": False}
    assert raw["M"]["vv"]["M"]["us-east"]["L"][1] == {"N": "0"}


@pytest.mark.parametrize("field", ["v", "h", "q", "o", "w", "t", "d", "vv"])
def test_decode_missing_field_raises_metadata_error_naming_it(field: str) -> None:
    raw = encode(sample_meta())
    del raw["M"][field]
    with pytest.raises(MetadataError, match=f"malformed {META} attribute.*'{field}'"):
        decode(raw)


def test_decode_not_a_map_raises_metadata_error() -> None:
    with pytest.raises(MetadataError, match=f"malformed {META}"):
        decode({"S": "oops"})


def test_decode_wrong_format_version_names_the_version() -> None:
    raw = encode(sample_meta())
    raw["M"]["v"] = {"N": "1"}
    with pytest.raises(MetadataError, match="unsupported metadata format 1"):
        decode(raw)


def test_decode_unknown_writer_names_the_writer() -> None:
    raw = encode(sample_meta())
    raw["M"]["w"] = {"S": "mallory"}
    with pytest.raises(MetadataError, match="unknown writer kind 'mallory'"):
        decode(raw)


def test_decode_malformed_vector_entry_raises_metadata_error() -> None:
    raw = encode(sample_meta())
    raw["M"]["vv"]["M"]["us-east"] = {"L": [{"N": "1"}]}
    with pytest.raises(MetadataError, match=f"malformed {META}"):
        decode(raw)


def test_decode_non_numeric_hlc_raises_metadata_error() -> None:
    raw = encode(sample_meta())
    raw["M"]["h"] = {"N": "soon"}
    with pytest.raises(MetadataError, match=f"malformed {META}"):
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
