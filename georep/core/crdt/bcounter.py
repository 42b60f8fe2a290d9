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


@register
@dataclass(frozen=True, slots=True)
class BoundedCounter:
    """Totals per actor of increments and decrements, and of rights moved between actors."""

    TYPE: ClassVar[str] = "bcounter"
    inc: Mapping[str, int] = field(default_factory=dict)
    dec: Mapping[str, int] = field(default_factory=dict)
    transfers: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> int:
        return sum(self.inc.values()) - sum(self.dec.values())

    def rights(self, actor: str) -> int:
        received = sum(n for (_, to), n in self.transfers.items() if to == actor)
        given = sum(n for (frm, _), n in self.transfers.items() if frm == actor)
        return self.inc.get(actor, 0) + received - given - self.dec.get(actor, 0)

    def increment(self, actor: str, n: int = 1) -> Self:
        check_actor(actor)
        check_amount(n)
        return type(self)(_add(self.inc, actor, n), self.dec, self.transfers)

    def decrement(self, actor: str, n: int = 1) -> Self:
        check_actor(actor)
        check_amount(n)
        held = self.rights(actor)
        if n > held:
            raise InsufficientRights(actor, "decrement by", n, held)
        return type(self)(self.inc, _add(self.dec, actor, n), self.transfers)

    def transfer(self, from_actor: str, to_actor: str, n: int) -> Self:
        """Give ``n`` of ``from_actor``'s rights to ``to_actor``; run it at from_actor's replica."""
        check_actor(from_actor)
        check_actor(to_actor)
        check_amount(n)
        if from_actor == to_actor:
            raise ValueError(f"{from_actor} cannot transfer rights to itself")
        held = self.rights(from_actor)
        if n > held:
            raise InsufficientRights(from_actor, f"transfer to {to_actor}", n, held)
        return type(self)(self.inc, self.dec, _add(self.transfers, (from_actor, to_actor), n))

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(
            pointwise_max(self.inc, other.inc),
            pointwise_max(self.dec, other.dec),
            pointwise_max(self.transfers, other.transfers),
        )

    def encode(self) -> dict[str, Any]:
        by_giver: dict[str, dict[str, int]] = {}
        for (frm, to), n in self.transfers.items():
            by_giver.setdefault(frm, {})[to] = n
        matrix = {frm: encode_counts(row) for frm, row in sorted(by_giver.items())}
        return envelope(
            self.TYPE, p=encode_counts(self.inc), n=encode_counts(self.dec), x={"M": matrix}
        )

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("p", "n", "x"))
            transfers = {}
            for frm, row in kind_of(m["x"], "M", "x").items():
                for to, n in decode_counts(row, f"x[{frm}]").items():
                    if frm == to:
                        raise CRDTDecodeError(f"bcounter state has {frm} transferring to itself")
                    transfers[(check_actor(frm), to)] = n
            return cls(decode_counts(m["p"], "p"), decode_counts(m["n"], "n"), transfers)


def _add(totals: Mapping[Any, int], key: Any, n: int) -> dict[Any, int]:
    out = dict(totals)
    out[key] = out.get(key, 0) + n
    return out
