"""Version vectors over dots: which version of an item has seen which.

Place in the data flow: every version carries a version vector in its metadata; the apply step
asks :func:`compare` whether an incoming version supersedes, duplicates or races the destination's.

A *dot* names one write: ``(packed HLC, tie)``. ``tie`` is 0 for writes stamped by georep's own
write path and the source stream's sequence number for writes made by plain AWS clients (their
stream time has coarse resolution, so two such writes can share an HLC). Dots of one region are
totally ordered, so a region's entry in a vector is simply the greatest dot it has seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

Dot = tuple[int, int]
VersionVector = Mapping[str, Dot]

ZERO_DOT: Dot = (0, 0)


class Order(Enum):
    EQUAL = "equal"
    BEFORE = "before"  # the left vector is strictly dominated by the right one
    AFTER = "after"  # the left vector strictly dominates the right one
    CONCURRENT = "concurrent"


def compare(left: VersionVector, right: VersionVector) -> Order:
    less = greater = False
    for region in left.keys() | right.keys():
        a = left.get(region, ZERO_DOT)
        b = right.get(region, ZERO_DOT)
        if a < b:
            less = True
        elif a > b:
            greater = True
        if less and greater:
            return Order.CONCURRENT
    if less:
        return Order.BEFORE
    if greater:
        return Order.AFTER
    return Order.EQUAL


def join(left: VersionVector, right: VersionVector) -> dict[str, Dot]:
    """The least vector that dominates both."""
    out = dict(left)
    for region, dot in right.items():
        if dot > out.get(region, ZERO_DOT):
            out[region] = dot
    return out


def advance(vector: VersionVector, region: str, dot: Dot) -> dict[str, Dot]:
    """``vector`` with ``region``'s entry set to ``dot`` (a new write that has seen ``vector``)."""
    out = dict(vector)
    out[region] = max(dot, out.get(region, ZERO_DOT))
    return out
