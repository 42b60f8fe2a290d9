"""Shard lineage: parents are read to their end before any of their children."""

from __future__ import annotations

from itertools import permutations

from georep.core.lineage import Shard, ShardLineage

ROOT = Shard("root")
LEFT = Shard("left", "root")
RIGHT = Shard("right", "root")
LEFT_CHILD = Shard("left-child", "left")
RIGHT_CHILD = Shard("right-child", "right")
SCRAMBLED = [RIGHT_CHILD, LEFT, LEFT_CHILD, ROOT, RIGHT]


def ids(shards: list[Shard]) -> list[str]:
    return [s.shard_id for s in shards]


def lineage(shards=SCRAMBLED) -> ShardLineage:
    out = ShardLineage()
    out.discover(shards)
    return out


def test_only_the_root_is_readable_until_it_is_finished() -> None:
    assert ids(lineage().readable()) == ["root"]


def test_children_become_readable_when_the_root_is_finished() -> None:
    lin = lineage()
    lin.finish("root")
    assert sorted(ids(lin.readable())) == ["left", "right"]


def test_grandchild_becomes_readable_only_after_its_own_parent() -> None:
    lin = lineage()
    lin.finish("root")
    lin.finish("left")
    assert sorted(ids(lin.readable())) == ["left-child", "right"]
    lin.finish("right")
    assert sorted(ids(lin.readable())) == ["left-child", "right-child"]
    lin.finish("left-child")
    lin.finish("right-child")
    assert lin.readable() == []


def test_order_puts_every_parent_before_its_children() -> None:
    order = ids(lineage().order())
    assert sorted(order) == sorted(ids(SCRAMBLED))
    for shard in SCRAMBLED:
        if shard.parent_id is not None:
            assert order.index(shard.parent_id) < order.index(shard.shard_id)


def test_order_is_parent_first_for_every_discovery_order() -> None:
    for perm in permutations(SCRAMBLED):
        order = ids(lineage(list(perm)).order())
        for shard in perm:
            if shard.parent_id is not None:
                assert order.index(shard.parent_id) < order.index(shard.shard_id)


def test_readable_is_returned_parents_first() -> None:
    lin = lineage([Shard("orphan-child", "orphan"), Shard("orphan"), Shard("other")])
    assert ids(lin.readable()) == ["orphan", "other"]


def test_child_of_a_trimmed_parent_is_readable_at_once() -> None:
    lin = lineage([Shard("child", "trimmed-away"), Shard("grandchild", "child")])
    assert ids(lin.readable()) == ["child"]


def test_finishing_is_idempotent() -> None:
    lin = lineage()
    lin.finish("root")
    once = ids(lin.readable())
    lin.finish("root")
    assert ids(lin.readable()) == once
    assert lin.is_finished("root")
    assert not lin.is_finished("left")


def test_rediscovering_a_shard_keeps_the_first_description() -> None:
    lin = lineage([Shard("a")])
    lin.discover([Shard("a", "ghost-parent"), Shard("b", "a")])
    assert ids(lin.readable()) == ["a"]
    assert lin.order()[0] == Shard("a")
