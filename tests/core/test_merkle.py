"""Merkle trees over key-hash ranges (pure): what reconcile's proof rests on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from georep.core.hlc import Timestamp
from georep.core.merkle import TreeBuilder, depth_for, differing_leaves, item_digest
from georep.core.meta import stamp


def item(key: str, v: int) -> dict:
    return {"id": {"S": key}, "v": {"N": str(v)}}


def test_trees_find_exactly_the_differing_ranges():
    a, b = TreeBuilder(4), TreeBuilder(4)
    for i in range(50):
        a.add(f"k{i}", item(f"k{i}", i))
        b.add(f"k{i}", item(f"k{i}", i if i != 7 else 8))
    assert differing_leaves([a.tree, b.tree]) == [a.tree.leaf_of("k7")]
    assert differing_leaves([a.tree, a.tree]) == []
    assert a.tree.root != b.tree.root


def test_a_missing_item_is_a_difference_too():
    a, b = TreeBuilder(3), TreeBuilder(3)
    a.add("x", item("x", 1))
    assert differing_leaves([a.tree, b.tree]) == [a.tree.leaf_of("x")]


def test_replace_updates_a_leaf_in_place():
    a, b = TreeBuilder(4), TreeBuilder(4)
    a.add("k", item("k", 1))
    b.add("k", item("k", 2))
    b.tree.replace("k", item_digest("k", item("k", 2)), item_digest("k", item("k", 1)))
    assert differing_leaves([a.tree, b.tree]) == []
    b.tree.replace("k", item_digest("k", item("k", 1)), None)  # deleted
    assert differing_leaves([a.tree, b.tree]) == [a.tree.leaf_of("k")]


def test_the_digest_ignores_the_writer_kind_but_not_the_stamp():
    v = stamp(item("k", 1), None, origin="us-east", ts=Timestamp(1000))
    at_origin, replicated = v.item(), v.written_by("replicator").item()
    assert item_digest("k", at_origin) == item_digest("k", replicated)
    later = stamp(item("k", 1), None, origin="us-east", ts=Timestamp(2000)).item()
    assert item_digest("k", later) != item_digest("k", at_origin)


@settings(deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=5), st.integers(0, 9)), max_size=40,
                unique_by=lambda t: t[0]), st.randoms())
def test_the_order_items_arrive_in_does_not_matter(pairs, rnd):
    a, b = TreeBuilder(5), TreeBuilder(5)
    for k, v in pairs:
        a.add(k, item(k, v))
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    for k, v in shuffled:
        b.add(k, item(k, v))
    assert a.tree.root == b.tree.root and differing_leaves([a.tree, b.tree]) == []


def test_depth_gives_a_few_items_per_range():
    assert depth_for(0) == 0
    assert depth_for(100) == 6  # 64 ranges of ~2
    assert (1 << depth_for(100_000)) * 2 >= 100_000
