"""Grow-only counter: one running total per actor, merged by taking each actor's maximum.

Place in the data flow: the per-attribute state of a ``crdt``-policy item that only ever counts
up; the replicator merges it into the destination's when a version arrives.

A reset (an item's delete) never lowers a total: it records the totals it observed as the
*baseline*, and the value counts only what lies above it. Baselines merge by maximum too, so an
increment the reset did not observe (a concurrent one) survives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ._base import (
    CRDTDecodeError,
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


def decode_baseline(counts: Mapping[str, int], base: Mapping[str, int], what: str) -> None:
    """Refuse a baseline above the totals: a reset can only observe what was counted."""
    for actor, n in base.items():
        if n > counts.get(actor, 0):
            raise CRDTDecodeError(f"{what}: baseline {n} of {actor} exceeds its total")


@register
@dataclass(frozen=True, slots=True)
class GCounter:
    """``counts[actor]`` is how much ``actor`` has added in all; ``base`` what resets observed.
    Zero entries are never stored."""

    TYPE: ClassVar[str] = "gcounter"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("b",)
    counts: Mapping[str, int] = field(default_factory=dict)
    base: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> int:
        return sum(self.counts.values()) - sum(self.base.values())

    def increment(self, actor: str, n: int = 1) -> Self:
        check_actor(actor)
        check_amount(n)
        counts = dict(self.counts)
        counts[actor] = counts.get(actor, 0) + n
        return type(self)(counts, self.base)

    def reset(self) -> Self:
        return type(self)(self.counts, dict(self.counts))

    def present(self) -> bool:
        return self.counts != self.base

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(pointwise_max(self.counts, other.counts),
                          pointwise_max(self.base, other.base))

    def encode(self) -> dict[str, Any]:
        extra = {"b": encode_counts(self.base)} if self.base else {}
        return envelope(self.TYPE, c=encode_counts(self.counts), **extra)

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("c",), cls.OPTIONAL)
            counts = decode_counts(m["c"], "c")
            base = decode_counts(m["b"], "b") if "b" in m else {}
            decode_baseline(counts, base, "b")
            return cls(counts, base)
