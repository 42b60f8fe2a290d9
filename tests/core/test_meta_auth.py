"""Issue 10: georep tells its own metadata from anyone else's. Metadata is authenticated with
the lab's secret (a keyed hash over every field, the attributes' digest included); anything
that fails reads as no metadata at all, so the item is a plain client's write."""

from __future__ import annotations

import contextvars
import copy

import pytest

from georep.core.hlc import Timestamp
from georep.core.meta import (
    META,
    MetadataError,
    decode,
    foreign,
    is_stamped,
    split,
    stamp,
    use_secret,
)

ATTRS = {"id": {"S": "k"}, "v": {"S": "x"}}


def version(**kw):
    return stamp(ATTRS, None, origin="us-east", ts=Timestamp(1_700_000_000_000, 0), **kw)


def in_lab(secret: bytes, fn):
    """Run ``fn`` in a context whose metadata secret is ``secret`` (as another lab would)."""
    ctx = contextvars.copy_context()

    def run():
        use_secret(secret)
        return fn()

    return ctx.run(run)


def test_metadata_round_trips_in_its_own_lab():
    v = version()
    attrs, meta = split(v.item())
    assert meta == v.meta and is_stamped(attrs, meta)
    assert foreign(v.item()) is None


def test_metadata_from_another_secret_is_foreign():
    item = in_lab(b"another lab's secret, 32 bytes!!", lambda: version().item())
    attrs, meta = split(item)
    assert meta is None and attrs == ATTRS  # a plain client's item, metadata dropped
    assert "authentication failed" in foreign(item)
    with pytest.raises(MetadataError, match="authentication failed"):
        decode(item[META])


@pytest.mark.parametrize("field,value", [
    ("w", {"S": "replicator"}),  # a forged writer: would never be replicated
    ("h", {"N": str(4_102_444_800_000 << 16)}),  # an HLC in the year 2100
    ("vv", {"M": {"eu-west": {"L": [{"N": str(1 << 62)}, {"N": "0"}]}}}),  # a future vector
    ("t", {"BOOL": True}),
])
def test_any_changed_field_fails_authentication(field, value):
    item = version().item()
    forged = copy.deepcopy(item)
    forged[META]["M"][field] = value
    assert split(forged)[1] is None
    assert "authentication failed" in foreign(forged)


def test_an_hlc_beyond_64_bits_is_refused_before_anything_else():
    item = version().item()
    item[META]["M"]["h"] = {"N": str(10**37)}
    assert "out of range" in foreign(item)


@pytest.mark.parametrize("raw", [{"S": "not a map"}, {"M": {}}, {"M": {"v": {"N": "2"}}},
                                 {"NULL": True}, {"M": {"v": {"S": "2"}}}])
def test_malformed_metadata_reads_as_none_and_says_why(raw):
    item = {**ATTRS, META: raw}
    assert split(item) == (ATTRS, None)
    assert foreign(item)


def test_metadata_of_format_1_is_foreign():
    item = version().item()
    item[META]["M"]["v"] = {"N": "1"}
    assert "unsupported metadata format 1" in foreign(item)


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        in_lab(b"short", lambda: None)
