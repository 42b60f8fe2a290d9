"""Hybrid logical clock: the timestamps every georep write is ordered by.

Place in the data flow: the write path and the replicator stamp versions with it; the LWW policy
compares the stamps. Physical time is always passed in (milliseconds), never read here.

A timestamp is (physical ms, logical counter). It is packed into one integer
``physical << 16 | logical`` so that it stores as a single DynamoDB number and compares as one.
If the logical counter would overflow 16 bits it carries into the physical part, which keeps the
clock strictly monotonic at the cost of running at most one millisecond ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


@dataclass(frozen=True, order=True, slots=True)
class Timestamp:
    physical: int
    logical: int = 0

    def pack(self) -> int:
        return (self.physical << LOGICAL_BITS) | self.logical

    @staticmethod
    def unpack(packed: int) -> Timestamp:
        return Timestamp(packed >> LOGICAL_BITS, packed & LOGICAL_MASK)

    def successor(self) -> Timestamp:
        """The smallest timestamp greater than this one."""
        return Timestamp.unpack(self.pack() + 1)

    def __str__(self) -> str:
        return f"{self.physical}.{self.logical}"


ZERO = Timestamp(0, 0)


def tick(last: Timestamp, physical_ms: int) -> Timestamp:
    """The timestamp of a local event that follows ``last`` at physical time ``physical_ms``."""
    if physical_ms > last.physical:
        return Timestamp(physical_ms, 0)
    return last.successor()


def receive(last: Timestamp, remote: Timestamp, physical_ms: int) -> Timestamp:
    """The timestamp of a local event that has seen ``remote`` (and ``last``)."""
    return tick(max(last, remote), physical_ms)


class HybridClock:
    """A stateful HLC for one region. ``now``/``observe`` take the physical time as an argument."""

    __slots__ = ("last",)

    def __init__(self, last: Timestamp = ZERO) -> None:
        self.last = last

    def now(self, physical_ms: int) -> Timestamp:
        self.last = tick(self.last, physical_ms)
        return self.last

    def observe(self, remote: Timestamp, physical_ms: int) -> Timestamp:
        self.last = receive(self.last, remote, physical_ms)
        return self.last
