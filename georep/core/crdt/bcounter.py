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
*baseline*, and each actor's rights count from it: ``since(a) = now(a) − base(a)``. An increment
the reset did not observe survives it. A spend it did not observe (a decrement, or a transfer out)
may have used rights the reset also discarded (a sold stock that a concurrent delete threw away):
a's rights then read below the baseline. Before a's next operation a *settles*: its baseline takes
a's own spend totals (``dec[a]`` and ``T[a→·]``) from its state, as if the reset had observed
them, so the overlap is not counted twice and does not swallow a's next increment. Settling lives
in the baseline, so a later reset that observed the same spends does not forgive them a second
time: the baseline's join takes the larger total, not the sum. (A settle kept as an extra grow-only
right did add up: Hypothesis found a replica handing out a right no increment had given.)

An actor's rights are also capped by what it holds in all, ``now(a)`` (everything it was given
minus everything it spent, resets aside), and read as at least 0::

    rights(a) = max(0, min(now(a) − base(a), now(a)))

so no actor spends more than it was ever given (no stock is oversold: the decrements never exceed
the increments) and the value, the sum of the rights, never reads below zero. Only a settles a's
spends, and only at a's replica, where its baseline never exceeds its totals.
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
    """Grow-only totals per actor: increments, decrements, transfers (giver, taker)."""

    inc: Mapping[str, int] = field(default_factory=dict)
    dec: Mapping[str, int] = field(default_factory=dict)
    transfers: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def rights(self, actor: str) -> int:
        received = sum(n for (_, to), n in self.transfers.items() if to == actor)
        given = sum(n for (frm, _), n in self.transfers.items() if frm == actor)
        return self.inc.get(actor, 0) + received - given - self.dec.get(actor, 0)

    def actors(self) -> set[str]:
        return {*self.inc, *self.dec, *(a for pair in self.transfers for a in pair)}

    def join(self, other: Escrow) -> Escrow:
        return Escrow(pointwise_max(self.inc, other.inc), pointwise_max(self.dec, other.dec),
                      pointwise_max(self.transfers, other.transfers))

    def spends_of(self, actor: str) -> Escrow:
        """Only ``actor``'s spend totals: its decrements and its transfers out."""
        dec = {actor: self.dec[actor]} if actor in self.dec else {}
        return Escrow({}, dec, {k: n for k, n in self.transfers.items() if k[0] == actor})

    def covers(self, other: Escrow) -> bool:
        """Every total here is at least the other's."""
        return self.join(other) == self

    def encode(self) -> dict[str, Any]:
        by_giver: dict[str, dict[str, int]] = {}
        for (frm, to), n in self.transfers.items():
            by_giver.setdefault(frm, {})[to] = n
        matrix = {frm: encode_counts(row) for frm, row in sorted(by_giver.items())}
        return {"p": encode_counts(self.inc), "n": encode_counts(self.dec), "x": {"M": matrix}}

    @classmethod
    def decode(cls, m: Mapping[str, Any]) -> Escrow:
        transfers = {}
        for frm, row in kind_of(m["x"], "M", "x").items():
            for to, n in decode_counts(row, f"x[{frm}]").items():
                if frm == to:
                    raise CRDTDecodeError(f"bcounter state has {frm} transferring to itself")
                transfers[(check_actor(frm), to)] = n
        return cls(decode_counts(m["p"], "p"), decode_counts(m["n"], "n"), transfers)


@register
@dataclass(frozen=True, slots=True)
class BoundedCounter:
    """``now``: the totals; ``base``: the totals the resets observed (never above ``now``)."""

    TYPE: ClassVar[str] = "bcounter"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("b",)
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
        return max(0, min(self._since_reset(actor), self.now.rights(actor)))

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
        """Cover a deficit left by a reset that counted rights ``actor`` spent concurrently:
        the baseline takes the actor's own spends, as if the reset had observed them."""
        if self._since_reset(actor) >= 0:
            return self
        return type(self)(self.now, self.base.join(self.now.spends_of(actor)))

    def _with(self, **totals: Mapping[Any, int]) -> Self:
        now = self.now
        return type(self)(Escrow(totals.get("inc", now.inc), totals.get("dec", now.dec),
                                 totals.get("transfers", now.transfers)), self.base)

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
                if fields.keys() != {"p", "n", "x"}:
                    raise CRDTDecodeError(f"bcounter baseline has fields {sorted(fields)}")
                base = Escrow.decode(fields)
                if not now.covers(base):
                    raise CRDTDecodeError("bcounter baseline exceeds its totals")
            return cls(now, base)


def _add(totals: Mapping[Any, int], key: Any, n: int) -> dict[Any, int]:
    out = dict(totals)
    out[key] = out.get(key, 0) + n
    return out
