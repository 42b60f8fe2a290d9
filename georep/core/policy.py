"""Conflict policies: how the apply step merges an incoming version into the destination's.

Place in the data flow: the replicator reads the destination item, asks the table's policy for
the merge, and writes the result conditionally. A policy is pure: given the destination's version
(or None) and the incoming one, it returns what to write (if anything) and what conflicted.

Every policy must be idempotent (merging a version already merged changes nothing), which is
what turns the replicator's at-least-once delivery into an exactly-once effect.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from .causality import Order, compare, join
from .meta import Version


@dataclass(frozen=True, slots=True)
class Conflict:
    """Concurrent versions: neither had seen the other. ``losers`` lost without being seen."""

    policy: str
    winner: Version
    losers: tuple[Version, ...]


@dataclass(frozen=True, slots=True)
class Merge:
    """The outcome of one merge. ``write`` is None when the destination already has it all."""

    write: Version | None
    conflict: Conflict | None = None

    @property
    def suppressed(self) -> bool:
        return self.write is None


class ConflictPolicy(Protocol):
    name: str

    def merge(self, current: Version | None, incoming: Version) -> Merge: ...


class LastWriterWins:
    """Keep the version with the greatest (HLC, tie, origin).

    Causality is tracked even though only one value survives: a version that has seen the other
    (its version vector dominates) replaces it silently, as the writer intended; concurrent ones
    are resolved by the HLC and the loser is reported as a :class:`Conflict`, so that no write
    is overwritten without a record. The surviving version's vector is the join of both, so a
    replay of the loser is recognised as already seen.
    """

    name = "lww"

    def merge(self, current: Version | None, incoming: Version) -> Merge:
        if current is None:
            return Merge(incoming)
        order = compare(incoming.meta.vv, current.meta.vv)
        if order in (Order.EQUAL, Order.BEFORE):
            return Merge(None)
        if order is Order.AFTER:
            return Merge(incoming)
        if incoming.meta.rank > current.meta.rank:
            winner, loser = incoming, current
        else:
            winner, loser = current, incoming
        joined = replace(winner, meta=replace(winner.meta, vv=join(winner.meta.vv, loser.meta.vv)))
        return Merge(joined, Conflict(self.name, joined, (loser,)))


POLICIES: dict[str, type] = {"lww": LastWriterWins}


def policy_named(name: str) -> ConflictPolicy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(
            f"unknown conflict policy {name!r} (known: {', '.join(sorted(POLICIES))})"
        ) from None
