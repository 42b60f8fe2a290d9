"""Bounded counter (escrow, after AntidoteDB): a count that no replica can drive below zero.

Place in the data flow: the per-attribute state of a ``crdt``-policy item holding a stock or a
quota; the write path decrements only within local rights, and the replicator merges the state
into the destination's when a version arrives.

Each increment gives its actor that many *rights*; a decrement spends the decrementing actor's
own rights, and an actor may transfer rights it holds to another. With ``T[a→b]`` the total a has
transferred to b::

    rights(a) = inc[a] + Σ_b T[b→a] − Σ_b T[a→b] − dec[a]

Why the value never goes negative: only actor a writes ``dec[a]`` and ``T[a→·]``, and it writes
them only while ``rights(a) >= 0`` holds in its own state. Any replica's state is the join of
states it has received, so its copy of a's own entries comes from one state of a, and every other
entry is at least what that state of a had: rights(a) there is at least what a computed, so >= 0.
Summed over actors the transfers cancel: value = Σ inc − Σ dec = Σ rights >= 0. This assumes each
actor (region) updates from one replica only.

**Resets** (an item's delete). Totals never shrink: a reset copies the totals it observed into a
*baseline*, and each actor's rights count from it: ``rights(a) = now(a) − base(a)``. An increment
the reset did not observe survives it. A decrement it did not observe may have spent rights the
reset also counted (a sold stock that a concurrent delete discarded): a's rights then read below
the baseline. The value counts each actor's rights from 0 up (``Σ max(0, rights(a))``), so it never
reads below zero, and before a's next operation a *settles* that overlap: it adds the deficit to
its own ``settled[a]`` entry, which counts as rights, so the overlap is neither counted twice nor
allowed to swallow a's next increment. Settling adds at most what the reset discarded, so a never
spends more than it was ever given: no stock is oversold. Only a writes ``settled[a]``.
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
    kind_of,
    open_envelope,
    pointwise_max,
)
from ._registry import register


class InsufficientRights(ValueError):
    """An actor tried to spend (decrement or transfer) more rights than it holds locally."""

    def __init__(self, actor: str, action: str, wanted: int, held: int) -> None:
        super().__init__(
            f"{actor} cannot {action} {wanted}: it holds only {held} right(s) in this replica "
            "(increment there, or have another region transfer rights to it)"
        )
        self.actor = actor
        self.wanted = wanted
        self.held = held


@dataclass(frozen=True, slots=True)
class Escrow:
    """Grow-only totals per actor: increments, decrements, transfers (giver, taker), settled."""

    inc: Mapping[str, int] = field(default_factory=dict)
    dec: Mapping[str, int] = field(default_factory=dict)
    transfers: Mapping[tuple[str, str], int] = field(default_factory=dict)
    settled: Mapping[str, int] = field(default_factory=dict)

    def rights(self, actor: str) -> int:
        received = sum(n for (_, to), n in self.transfers.items() if to == actor)
        given = sum(n for (frm, _), n in self.transfers.items() if frm == actor)
        return (self.inc.get(actor, 0) + received - given - self.dec.get(actor, 0)
                + self.settled.get(actor, 0))

    def actors(self) -> set[str]:
        return {*self.inc, *self.dec, *self.settled, *(a for pair in self.transfers for a in pair)}

    def join(self, other: Escrow) -> Escrow:
        return Escrow(pointwise_max(self.inc, other.inc), pointwise_max(self.dec, other.dec),
                      pointwise_max(self.transfers, other.transfers),
                      pointwise_max(self.settled, other.settled))

    def covers(self, other: Escrow) -> bool:
        """Every total here is at least the other's."""
        return self.join(other) == self

    def encode(self) -> dict[str, Any]:
        by_giver: dict[str, dict[str, int]] = {}
        for (frm, to), n in self.transfers.items():
            by_giver.setdefault(frm, {})[to] = n
        matrix = {frm: encode_counts(row) for frm, row in sorted(by_giver.items())}
        out = {"p": encode_counts(self.inc), "n": encode_counts(self.dec), "x": {"M": matrix}}
        if self.settled:
            out["s"] = encode_counts(self.settled)
        return out

    @classmethod
    def decode(cls, m: Mapping[str, Any]) -> Escrow:
        transfers = {}
        for frm, row in kind_of(m["x"], "M", "x").items():
            for to, n in decode_counts(row, f"x[{frm}]").items():
                if frm == to:
                    raise CRDTDecodeError(f"bcounter state has {frm} transferring to itself")
                transfers[(check_actor(frm), to)] = n
        settled = decode_counts(m["s"], "s") if "s" in m else {}
        return cls(decode_counts(m["p"], "p"), decode_counts(m["n"], "n"), transfers, settled)


@register
@dataclass(frozen=True, slots=True)
class BoundedCounter:
    """``now``: the totals; ``base``: the totals the resets observed (never above ``now``)."""

    TYPE: ClassVar[str] = "bcounter"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("s", "b")
    now: Escrow = field(default_factory=Escrow)
    base: Escrow = field(default_factory=Escrow)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def _since_reset(self, actor: str) -> int:
        return self.now.rights(actor) - self.base.rights(actor)

    def value(self) -> int:
        return sum(self.rights(a) for a in self.now.actors() | self.base.actors())

    def rights(self, actor: str) -> int:
        return max(0, self._since_reset(actor))

    def increment(self, actor: str, n: int = 1) -> Self:
        check_actor(actor)
        check_amount(n)
        c = self._settle(actor)
        return c._with(inc=_add(c.now.inc, actor, n))

    def decrement(self, actor: str, n: int = 1) -> Self:
        check_actor(actor)
        check_amount(n)
        c = self._settle(actor)
        held = c.rights(actor)
        if n > held:
            raise InsufficientRights(actor, "decrement by", n, held)
        return c._with(dec=_add(c.now.dec, actor, n))

    def transfer(self, from_actor: str, to_actor: str, n: int) -> Self:
        """Give ``n`` of ``from_actor``'s rights to ``to_actor``; run it at from_actor's replica."""
        check_actor(from_actor)
        check_actor(to_actor)
        check_amount(n)
        if from_actor == to_actor:
            raise ValueError(f"{from_actor} cannot transfer rights to itself")
        c = self._settle(from_actor)
        held = c.rights(from_actor)
        if n > held:
            raise InsufficientRights(from_actor, f"transfer to {to_actor}", n, held)
        return c._with(transfers=_add(c.now.transfers, (from_actor, to_actor), n))

    def _settle(self, actor: str) -> Self:
        """Cover a deficit left by a reset that counted rights ``actor`` spent concurrently."""
        deficit = -self._since_reset(actor)
        if deficit <= 0:
            return self
        return self._with(settled=_add(self.now.settled, actor, deficit))

    def _with(self, **totals: Mapping[Any, int]) -> Self:
        now = self.now
        return type(self)(Escrow(totals.get("inc", now.inc), totals.get("dec", now.dec),
                                 totals.get("transfers", now.transfers),
                                 totals.get("settled", now.settled)), self.base)

    def reset(self) -> Self:
        return type(self)(self.now, self.now)

    def present(self) -> bool:
        return self.now != self.base

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(self.now.join(other.now), self.base.join(other.base))

    def encode(self) -> dict[str, Any]:
        extra = {}
        if self.base != Escrow():
            extra["b"] = {"M": self.base.encode()}
        return envelope(self.TYPE, **self.now.encode(), **extra)

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("p", "n", "x"), cls.OPTIONAL)
            now = Escrow.decode(m)
            base = Escrow()
            if "b" in m:
                fields = kind_of(m["b"], "M", "b")
                if not {"p", "n", "x"} <= fields.keys() <= {"p", "n", "x", "s"}:
                    raise CRDTDecodeError(f"bcounter baseline has fields {sorted(fields)}")
                base = Escrow.decode(fields)
                if not now.covers(base):
                    raise CRDTDecodeError("bcounter baseline exceeds its totals")
            return cls(now, base)


def _add(totals: Mapping[Any, int], key: Any, n: int) -> dict[Any, int]:
    out = dict(totals)
    out[key] = out.get(key, 0) + n
    return out
