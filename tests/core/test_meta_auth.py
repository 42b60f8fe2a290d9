"""Issue 10: georep tells its own metadata from anyone else's. Metadata is authenticated with
the lab's secret (a keyed hash over every field, the attributes' digest included); anything
that fails reads as no metadata at all, so the item is a plain client's write."""

from __future__ import annotations

import contextvars
import json

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


def forge(item: dict, change) -> dict:
    """The item with its metadata's body changed by ``change`` and the old MAC kept (all a
    plain client who reads georep's source can do)."""
    text = item[META]["S"]
    head, body, mac = text[:3], json.loads(text[3:-22]), text[-22:]
    head = change(body) or head
    return {**item, META: {"S": head + json.dumps(body) + mac}}


@pytest.mark.parametrize("change", [
    lambda b: "3+r",  # a forged writer: would never be replicated
    lambda b: b.update(h=4_102_444_800_000 << 16),  # an HLC in the year 2100
    lambda b: b.update(v={"eu-west": [1 << 62, 0]}),  # a future vector
    lambda b: "3-c",  # a tombstone
    lambda b: b.update(d="0" * 20),  # the digest of other attributes
], ids=["writer", "hlc", "vector", "tombstone", "digest"])
def test_any_changed_field_fails_authentication(change):
    forged = forge(version().item(), change)
    assert split(forged)[1] is None
    assert "authentication failed" in foreign(forged)


def test_format_2_metadata_from_this_lab_is_read():
    """An item georep wrote before issue 16 (a nested map sealed with this lab's secret)."""
    from .test_meta import LEGACY, LEGACY_SECRET

    assert in_lab(LEGACY_SECRET, lambda: split({"id": {"S": "k1"}, META: LEGACY})[1])
    assert "authentication failed" in foreign({"id": {"S": "k1"}, META: LEGACY})


@pytest.mark.parametrize("raw", [{"S": "not a map"}, {"M": {}}, {"M": {"v": {"N": "2"}}},
                                 {"NULL": True}, {"M": {"v": {"S": "2"}}}, {"S": "3+c{}"},
                                 {"L": []}])
def test_malformed_metadata_reads_as_none_and_says_why(raw):
    item = {**ATTRS, META: raw}
    assert split(item) == (ATTRS, None)
    assert foreign(item)


def test_metadata_of_format_1_is_foreign():
    item = {**ATTRS, META: {"M": {"v": {"N": "1"}}}}
    assert "unsupported metadata format 1" in foreign(item)


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        in_lab(b"short", lambda: None)
