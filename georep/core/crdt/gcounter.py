"""Grow-only counter: one running total per actor, merged by taking each actor's maximum.

Place in the data flow: the per-attribute state of a ``crdt``-policy item that only ever counts
up; the replicator merges it into the destination's when a version arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ._base import (
    check_actor,
    check_amount,
    check_same_type,
    decode_counts,
    decoding,
    encode_counts,
    envelope,
    open_envelope,
    pointwise_max,
)
from ._registry import register


@register
@dataclass(frozen=True, slots=True)
class GCounter:
    """``counts[actor]`` is how much ``actor`` has added in all; zero entries are never stored."""

    TYPE: ClassVar[str] = "gcounter"
    counts: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> int:
        return sum(self.counts.values())

    def increment(self, actor: str, n: int = 1) -> Self:
        check_actor(actor)
        check_amount(n)
        counts = dict(self.counts)
        counts[actor] = counts.get(actor, 0) + n
        return type(self)(counts)

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(pointwise_max(self.counts, other.counts))

    def encode(self) -> dict[str, Any]:
        return envelope(self.TYPE, c=encode_counts(self.counts))

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("c",))
            return cls(decode_counts(m["c"], "c"))
