"""The vclock policy: concurrent values kept as siblings, resolved by a write that saw them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.causality import join
from georep.core.hlc import HybridClock, Timestamp
from georep.core.meta import Meta, Version, digest, stamp
from georep.core.policies import policy_named
from georep.core.policy import VectorClocks

REGIONS = ("us-east", "eu-west", "ap-south")


@st.composite
def histories(draw) -> list[Version]:
    """Writes to one item as georep makes them: each region writes on top of what it holds
    (its own earlier writes and whatever reached it), with skewed clocks, while versions are
    delivered between regions in random order."""
    regions = REGIONS[: draw(st.integers(2, 3))]
    skew = {r: draw(st.integers(-5_000, 5_000)) for r in regions}
    clocks = {r: HybridClock() for r in regions}
    local: dict[str, Version | None] = {r: None for r in regions}
    versions: list[Version] = []
    now = 1_000_000
    for i in range(draw(st.integers(1, 10))):
        now += draw(st.integers(0, 3_000))
        r = draw(st.sampled_from(regions))
        if versions and draw(st.booleans()):
            v = draw(st.sampled_from(versions))
            local[r] = VC.merge(local[r], v).write or local[r]
            continue
        base = local[r]
        ts = (clocks[r].observe(base.meta.timestamp, now + skew[r]) if base
              else clocks[r].now(now + skew[r]))
        v = stamp(item(f"w{i}"), base.meta if base else None, origin=r, ts=ts,
                  tombstone=draw(st.integers(0, 5)) == 0)
        versions.append(v)
        local[r] = v
    if not versions:
        versions.append(stamp(item("only"), None, origin=regions[0], ts=Timestamp(now)))
    return versions

VC = VectorClocks(max_siblings=100)


def item(v: str) -> dict:
    return {"id": {"S": "k"}, "v": {"S": v}}


def value(version_or_sibling) -> str:
    return version_or_sibling.attrs["v"]["S"]


def test_concurrent_writes_become_siblings_and_are_reported():
    base = stamp(item("base"), None, origin="us-east", ts=Timestamp(1000))
    east = stamp(item("east"), base.meta, origin="us-east", ts=Timestamp(2000))
    west = stamp(item("west"), base.meta, origin="eu-west", ts=Timestamp(1500))
    merged = VC.merge(east, west)
    assert sorted(value(s) for s in merged.write.siblings()) == ["east", "west"]
    assert value(merged.write) == "east"  # what a plain client reads: the greatest rank
    assert merged.conflict.policy == "vclock"
    assert merged.conflict.losers == ()  # nothing is lost ...
    assert [value(s) for s in merged.conflict.siblings] == ["west"]  # ... west is kept aside
    # The same in the other order, and merging again changes nothing.
    assert VC.merge(west, east).write == merged.write
    assert VC.merge(merged.write, east).suppressed
    assert VC.merge(merged.write, west).suppressed


def test_a_write_that_saw_every_sibling_resolves_them():
    base = stamp(item("base"), None, origin="us-east", ts=Timestamp(1000))
    east = stamp(item("east"), base.meta, origin="us-east", ts=Timestamp(2000))
    west = stamp(item("west"), base.meta, origin="eu-west", ts=Timestamp(1500))
    both = VC.merge(east, west).write
    resolved = stamp(item("resolved"), both.meta, origin="eu-west", ts=Timestamp(3000))
    out = VC.merge(both, resolved)
    assert out.conflict is None and [value(s) for s in out.write.siblings()] == ["resolved"]
    # A late copy of one of the old siblings is recognised as seen.
    assert VC.merge(out.write, east).suppressed


def test_beyond_the_bound_the_oldest_siblings_are_reported_lost():
    policy = policy_named("vclock", max_siblings=2)
    versions = [stamp(item(f"w{i}"), None, origin=r, ts=Timestamp(1000 + i))
                for i, r in enumerate(("us-east", "eu-west", "ap-south"))]
    state = versions[0]
    conflicts = []
    for v in versions[1:]:
        m = policy.merge(state, v)
        state = m.write
        conflicts.append(m.conflict)
    assert [value(s) for s in state.siblings()] == ["w2", "w1"]
    assert [value(v) for v in conflicts[-1].losers] == ["w0"]


def deliver(versions):
    state = None
    for v in versions:
        out = VC.merge(state, v)
        if out.write is not None:
            state = out.write
    return state


@settings(deadline=None)
@given(st.data())
def test_vclock_converges_to_the_causally_maximal_writes(data):
    versions = data.draw(histories())
    a = deliver(data.draw(st.permutations(versions)))
    b = deliver(data.draw(st.permutations(versions)))
    assert a.attrs == b.attrs and a.meta == b.meta
    # The siblings are exactly the writes no other write had seen.
    vv = {}
    for v in versions:
        vv = join(vv, v.meta.vv)
    maximal = {(v.meta.dot, v.meta.origin) for v in versions
               if not any(w is not v and w.meta.vv.get(v.meta.origin, (0, 0)) >= v.meta.dot
                          for w in versions)}
    assert {(s.dot, s.origin) for s in a.siblings()} == maximal
    assert a.meta.vv == vv
    for v in versions:  # redelivery changes nothing
        assert VC.merge(a, v).suppressed


def test_siblings_round_trip_through_metadata():
    from georep.core.meta import decode, encode

    base = stamp(item("base"), None, origin="us-east", ts=Timestamp(1000))
    east = stamp(item("east"), base.meta, origin="us-east", ts=Timestamp(2000))
    west = stamp(item("west"), base.meta, origin="eu-west", ts=Timestamp(1500), tombstone=True)
    merged = VC.merge(east, west).write
    assert decode(encode(merged.meta)) == merged.meta
    assert merged.meta == Meta(merged.meta.hlc, merged.meta.tie, "us-east", "replicator", False,
                               merged.meta.vv, digest(merged.attrs), merged.meta.siblings)
    assert Version(merged.attrs, merged.meta).siblings()[1].tombstone


def test_siblings_that_cannot_fit_in_one_item_keep_the_newest_and_report_the_rest():
    """Issue 10: two concurrent ~150 KB values cannot be stored together (the newest is stored
    twice: as the item and as a sibling). Before, the merge was refused by every region and
    they diverged for good; now the newest is kept and the other is a loser in the feed, the
    same whichever way the merge runs."""
    big = "x" * 150_000
    base = stamp(item("base"), None, origin="us-east", ts=Timestamp(1000))
    east = stamp({"id": {"S": "k"}, "v": {"S": "east" + big}}, base.meta, origin="us-east",
                 ts=Timestamp(2000))
    west = stamp({"id": {"S": "k"}, "v": {"S": "west" + big}}, base.meta, origin="eu-west",
                 ts=Timestamp(1500))
    for a, b in ((east, west), (west, east)):
        merged = VC.merge(a, b)
        assert merged.write.attrs["v"]["S"].startswith("east")
        assert merged.write.meta.siblings == ()  # one value left: an ordinary item
        assert [value(x)[:4] for x in merged.conflict.losers] == ["west"]
        assert merged.conflict.siblings == ()
    small = stamp(item("small"), base.meta, origin="ap-south", ts=Timestamp(1200))
    merged = VC.merge(VC.merge(east, west).write, small)  # a small one still fits beside it
    assert [value(s)[:5] for s in merged.write.meta.siblings] == ["eastx", "small"]
