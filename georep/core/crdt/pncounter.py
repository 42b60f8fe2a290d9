"""Counter that goes up and down: two grow-only counters, one of increments, one of decrements.

Place in the data flow: the per-attribute state of a ``crdt``-policy item holding a count that may
go negative; the replicator merges it into the destination's when a version arrives. A reset
resets both halves (see :mod:`.gcounter`): the value counts what the reset did not observe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ._base import (
    check_same_type,
    decode_counts,
    decoding,
    encode_counts,
    envelope,
    open_envelope,
)
from ._registry import register
from .gcounter import GCounter, decode_baseline


@register
@dataclass(frozen=True, slots=True)
class PNCounter:
    TYPE: ClassVar[str] = "pncounter"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("bp", "bn")
    p: GCounter = field(default_factory=GCounter)
    n: GCounter = field(default_factory=GCounter)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> int:
        return self.p.value() - self.n.value()

    def increment(self, actor: str, n: int = 1) -> Self:
        return type(self)(self.p.increment(actor, n), self.n)

    def decrement(self, actor: str, n: int = 1) -> Self:
        return type(self)(self.p, self.n.increment(actor, n))

    def reset(self) -> Self:
        return type(self)(self.p.reset(), self.n.reset())

    def present(self) -> bool:
        return self.p.present() or self.n.present()

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(self.p.merge(other.p), self.n.merge(other.n))

    def encode(self) -> dict[str, Any]:
        extra = {}
        if self.p.base:
            extra["bp"] = encode_counts(self.p.base)
        if self.n.base:
            extra["bn"] = encode_counts(self.n.base)
        return envelope(self.TYPE, p=encode_counts(self.p.counts),
                        n=encode_counts(self.n.counts), **extra)

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("p", "n"), cls.OPTIONAL)
            halves = []
            for name in ("p", "n"):
                counts = decode_counts(m[name], name)
                base = decode_counts(m["b" + name], "b" + name) if "b" + name in m else {}
                decode_baseline(counts, base, "b" + name)
                halves.append(GCounter(counts, base))
            return cls(*halves)
