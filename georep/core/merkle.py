"""Merkle trees over key-hash ranges: how reconcile proves two regions hold the same items.

Place in the data flow: reconcile builds each region's :class:`Tree` from the item digests
its store holds (:mod:`georep.engine.treestore`: from a scan, kept up to date from the stream),
compares the trees, and fetches only the items of the ranges that differ. :class:`TreeBuilder`
builds one from items directly.

The key space is the 64-bit hash of an item's key, cut into ``2**depth`` equal ranges (leaves).
A leaf's digest is the XOR of its items' digests, so items may arrive in any order and a leaf
can be updated in place when one item changes (XOR out the old digest, XOR in the new). An
item's digest covers its key, its user attributes and the parts of georep's metadata every
region must agree on (stamp, origin, tombstone, version vector, siblings, CRDT state) — not the
writer kind, which legitimately differs between the origin and the other regions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .meta import Meta, digest, split

HASH_BITS = 64


def key_hash(key_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(key_id.encode(), digest_size=8).digest(), "big")


def item_digest(key_id: str, item: Mapping[str, Any]) -> int:
    attrs, meta = split(item)
    return version_digest(key_id, digest(attrs), meta)


def version_digest(key_id: str, attrs_digest: str, meta: Meta | None) -> int:
    """:func:`item_digest` from an item already split, its attributes' digest computed (a
    scan's hot path: each item is decoded once)."""
    body = [key_id, attrs_digest]
    if meta is not None:
        body.append(_meta_fields(meta))
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=16).digest(), "big")


def _meta_fields(m: Meta) -> list[Any]:
    siblings = sorted((digest(s.attrs), s.hlc, s.tie, s.origin, s.tombstone) for s in m.siblings)
    return [m.hlc, m.tie, m.origin, m.tombstone, sorted(m.vv.items()), siblings,
            json.dumps(m.crdt, sort_keys=True) if m.crdt is not None else None]


@dataclass
class Tree:
    depth: int
    leaves: list[int]  # XOR of item digests per key-hash range
    counts: list[int]

    def leaf_of(self, key_id: str) -> int:
        return key_hash(key_id) >> (HASH_BITS - self.depth) if self.depth else 0

    def levels(self) -> list[list[bytes]]:
        """Node hashes from the leaves (level 0) up to the root (the last level)."""
        level = [hashlib.blake2b(f"{d}:{c}".encode(), digest_size=16).digest()
                 for d, c in zip(self.leaves, self.counts, strict=True)]
        out = [level]
        while len(level) > 1:
            level = [hashlib.blake2b(level[i] + level[i + 1], digest_size=16).digest()
                     for i in range(0, len(level), 2)]
            out.append(level)
        return out

    @property
    def root(self) -> bytes:
        return self.levels()[-1][0]

    def replace(self, key_id: str, old: int | None, new: int | None) -> None:
        """Account for one item changing from digest ``old`` to ``new`` (None: absent)."""
        leaf = self.leaf_of(key_id)
        if old is not None:
            self.leaves[leaf] ^= old
            self.counts[leaf] -= 1
        if new is not None:
            self.leaves[leaf] ^= new
            self.counts[leaf] += 1


class TreeBuilder:
    def __init__(self, depth: int) -> None:
        if not 0 <= depth <= 24:
            raise ValueError(f"depth must be between 0 and 24, not {depth}")
        self.tree = Tree(depth, [0] * (1 << depth), [0] * (1 << depth))
        self.items = 0

    def add(self, key_id: str, item: Mapping[str, Any]) -> int:
        """Add one item; returns its leaf."""
        leaf = self.tree.leaf_of(key_id)
        self.tree.leaves[leaf] ^= item_digest(key_id, item)
        self.tree.counts[leaf] += 1
        self.items += 1
        return leaf


def differing_leaves(trees: Iterable[Tree]) -> list[int]:
    """Leaves on which not every tree agrees, found top-down (equal subtrees are skipped)."""
    trees = list(trees)
    if len({t.depth for t in trees}) != 1:
        raise ValueError("trees of different depths cannot be compared")
    levels = [t.levels() for t in trees]
    top = len(levels[0]) - 1
    frontier = [0]
    for lvl in range(top, -1, -1):
        differing = [i for i in frontier if len({lv[lvl][i] for lv in levels}) > 1]
        if lvl == 0:
            return differing
        frontier = [c for i in differing for c in (2 * i, 2 * i + 1)]
    return []


def depth_for(items: int, per_leaf: int = 2) -> int:
    """A depth giving about ``per_leaf`` items per leaf (few keys to fetch per differing range)."""
    depth = 0
    while (1 << depth) * per_leaf < items and depth < 20:
        depth += 1
    return depth
