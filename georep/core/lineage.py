"""Shard lineage: read a parent shard to its end before any of its children.

Place in the data flow: the replicator asks :class:`ShardLineage` which shards of its source
stream it may read now. Real DynamoDB splits shards over time (a closed parent, two children);
reading a child before its parent is finished would apply newer writes before older ones. moto
has one shard per table, so this logic is exercised by unit tests with synthetic lineages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parent_id: str | None = None


class ShardLineage:
    """Tracks known and finished shards. A shard is readable once its parent is finished or gone."""

    def __init__(self) -> None:
        self._shards: dict[str, Shard] = {}
        self._finished: set[str] = set()

    def discover(self, shards: Iterable[Shard]) -> None:
        for s in shards:
            self._shards.setdefault(s.shard_id, s)

    def finish(self, shard_id: str) -> None:
        self._finished.add(shard_id)

    def is_finished(self, shard_id: str) -> bool:
        return shard_id in self._finished

    def readable(self) -> list[Shard]:
        """Unfinished shards whose parent is finished or no longer listed (trimmed away).

        Returned parents-first, in discovery order, so a caller that walks the list in order
        respects lineage even if it never re-asks.
        """
        out = []
        for s in self.order():
            if s.shard_id in self._finished:
                continue
            parent = s.parent_id
            if parent is None or parent not in self._shards or parent in self._finished:
                out.append(s)
        return out

    def order(self) -> list[Shard]:
        """All known shards, every parent before its children (a topological order)."""
        out: list[Shard] = []
        seen: set[str] = set()

        def visit(s: Shard, path: frozenset[str]) -> None:
            if s.shard_id in seen:
                return
            if s.parent_id in self._shards and s.parent_id not in path:
                visit(self._shards[s.parent_id], path | {s.shard_id})
            seen.add(s.shard_id)
            out.append(s)

        for s in list(self._shards.values()):
            visit(s, frozenset({s.shard_id}))
        return out
