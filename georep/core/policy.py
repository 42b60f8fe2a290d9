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

from .causality import ZERO_DOT, Order, compare, join
from .limits import ITEM_MAX, META_ROOM, item_size
from .meta import Meta, Sibling, Version, digest, encoded_size


@dataclass(frozen=True, slots=True)
class Conflict:
    """Concurrent versions: neither had seen the other.

    ``losers`` lost without being seen; ``siblings`` were kept side by side with the winner
    (vclock) or merged into it (crdt), and are recorded so the feed shows every value.
    """

    policy: str
    winner: Version
    losers: tuple[Version, ...]
    siblings: tuple[Version, ...] = ()
    reason: str = "concurrent"  # the feed entry's reason (see georep.aws.conflicts.entry)


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


def causal(current: Version | None, incoming: Version) -> Merge | None:
    """The merge when causality alone decides it (nothing yet, already seen, or a successor
    that has seen the destination's version); None when the two are concurrent."""
    if current is None:
        return Merge(incoming)
    order = compare(incoming.meta.vv, current.meta.vv)
    if order in (Order.EQUAL, Order.BEFORE):
        return Merge(None)
    if order is Order.AFTER:
        return Merge(incoming)
    return None


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
        settled = causal(current, incoming)
        if settled is not None:
            return settled
        if incoming.meta.rank > current.meta.rank:
            winner, loser = incoming, current
        else:
            winner, loser = current, incoming
        joined = replace(winner, meta=replace(winner.meta, vv=join(winner.meta.vv, loser.meta.vv)))
        return Merge(joined, Conflict(self.name, joined, (loser,)))


def _covered(s: Sibling, vv) -> bool:
    """The vector has seen the write that made this sibling."""
    return vv.get(s.origin, ZERO_DOT) >= s.dot


def _as_version(s: Sibling, vv) -> Version:
    return Version(dict(s.attrs), Meta(s.hlc, s.tie, s.origin, "replicator", s.tombstone, vv,
                                       digest(s.attrs)))


SIBLING_ROOM = 64  # bytes a sibling's own fields take in the metadata (stamp, tie, origin)


def _fitting(ordered: list[Sibling]) -> list[Sibling]:
    """The newest siblings that fit in one item: the visible (newest) value is stored twice,
    as the item's attributes and in the sibling list, and the whole item must stay within
    DynamoDB's limit less georep's metadata. Always at least the newest one."""
    budget = ITEM_MAX - META_ROOM - item_size(ordered[0].attrs)
    kept: list[Sibling] = []
    for s in ordered:
        budget -= encoded_size(s.attrs) + SIBLING_ROOM  # as JSON inside the metadata string
        if kept and budget < 0:
            break
        kept.append(s)
    return kept


class VectorClocks:
    """Keep every concurrent value as a sibling until a write that has seen them all resolves
    them (Riak, Dynamo). The item's visible attributes are the sibling with the greatest
    (HLC, tie, origin), so a plain AWS client reads one of the values; georep reads them all.

    Siblings merge as a dotted version vector set: a sibling survives unless the other side's
    vector has seen its write and the other side no longer holds it (it was overwritten on
    purpose). More than ``max_siblings``, or more than fit in one item (DynamoDB's 400 KB, less
    georep's metadata: two concurrent 150 KB values do not), keeps the newest ones and reports
    the rest as losers, the same in every region.
    """

    name = "vclock"

    def __init__(self, max_siblings: int = 25) -> None:
        if max_siblings < 1:
            raise ValueError(f"max_siblings must be at least 1, not {max_siblings}")
        self.max_siblings = max_siblings

    def merge(self, current: Version | None, incoming: Version) -> Merge:
        settled = causal(current, incoming)
        if settled is not None:
            return settled
        mine, theirs = current.siblings(), incoming.siblings()
        keep: dict[tuple, Sibling] = {}
        for s in mine:
            if not _covered(s, incoming.meta.vv) or s in theirs:
                keep[(s.dot, s.origin)] = s
        for s in theirs:
            if not _covered(s, current.meta.vv) or s in mine:
                keep[(s.dot, s.origin)] = s
        ordered = sorted(keep.values(), key=lambda s: s.rank, reverse=True)
        kept = _fitting(ordered[:self.max_siblings])
        dropped = ordered[len(kept):]
        vv = join(current.meta.vv, incoming.meta.vv)
        top = kept[0]
        winner = Version(dict(top.attrs), Meta(
            top.hlc, top.tie, top.origin, "replicator", top.tombstone, vv, digest(top.attrs),
            siblings=tuple(kept) if len(kept) > 1 else ()))
        if len(kept) == 1 and not dropped:
            return Merge(winner)
        return Merge(winner, Conflict(self.name, winner,
                                      tuple(_as_version(s, vv) for s in dropped),
                                      tuple(_as_version(s, vv) for s in kept[1:])))

