"""Last-writer-wins register: keeps the value assigned with the greatest hybrid-logical stamp.

Place in the data flow: the per-attribute state of a ``crdt``-policy item whose attribute is
simply overwritten; the replicator merges it into the destination's when a version arrives.

An assignment is ranked by (packed HLC, actor, canonical form of the value). The actor breaks
ties between regions; the value breaks the tie only when one region reuses a stamp, which a
correct HLC never does but which must not make merge depend on argument order.

A register can also be *cleared*: ``cleared`` is the greatest stamp whose assignment was removed,
and the register is present only while its winning stamp is above it. :meth:`unset` removes the
value as an assignment would replace it (at a stamp: a later assignment wins over the removal,
an earlier one loses to it); :meth:`reset` clears what it observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ._base import (
    CRDTDecodeError,
    canonical,
    check_actor,
    check_same_type,
    check_ts,
    copy_value,
    decode_stamp,
    decoding,
    encode_stamp,
    envelope,
    from_av,
    later,
    open_envelope,
    to_av,
)
from ._registry import register

Stamp = tuple[int, str]  # (packed HLC, actor)


@register
@dataclass(frozen=True, slots=True, eq=False)
class LWWRegister:
    """``stamp`` is None until the first assignment; ``payload`` is then the winning value."""

    TYPE: ClassVar[str] = "lwwregister"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("r",)
    payload: Any = None
    stamp: Stamp | None = None
    cleared: Stamp | None = None

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> Any:
        return self.payload if self.present() else None

    def present(self) -> bool:
        return self.stamp is not None and (self.cleared is None or self.stamp > self.cleared)

    def assign(self, actor: str, value: Any, ts: int) -> Self:
        """Assign ``value`` at packed HLC ``ts``; an assignment older than the current is lost."""
        check_actor(actor)
        check_ts(ts)
        # the copy keeps a caller's later mutation of ``value`` out of this immutable state
        return self.merge(type(self)(copy_value(value), (ts, actor)))

    def unset(self, actor: str, ts: int) -> Self:
        """Remove the value as an assignment at ``ts`` would replace it."""
        check_actor(actor)
        check_ts(ts)
        return self.merge(type(self)(None, (ts, actor), (ts, actor)))

    def reset(self) -> Self:
        return type(self)(self.payload, self.stamp, later(self.cleared, self.stamp))

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        winner = self
        if other.stamp is not None and (self.stamp is None or other._rank() > self._rank()):
            winner = other
        return type(self)(winner.payload, winner.stamp, later(self.cleared, other.cleared))

    def _rank(self) -> tuple[int, str, str]:
        assert self.stamp is not None
        return (*self.stamp, canonical(self.payload))

    def encode(self) -> dict[str, Any]:
        extra = {"r": encode_stamp(self.cleared)} if self.cleared is not None else {}
        if self.stamp is None:
            return envelope(self.TYPE, s={"NULL": True}, x={"NULL": True}, **extra)
        return envelope(self.TYPE, s=encode_stamp(self.stamp), x=to_av(self.payload), **extra)

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("s", "x"), cls.OPTIONAL)
            cleared = decode_stamp(m["r"], "r") if "r" in m else None
            if "r" in m and cleared is None:
                raise CRDTDecodeError("lwwregister state has a null clearing stamp")
            stamp = decode_stamp(m["s"], "s")
            if stamp is None:
                if m["x"] != {"NULL": True}:
                    raise CRDTDecodeError("lwwregister state has a value but no stamp")
                return cls(None, None, cleared)
            return cls(from_av(m["x"]), stamp, cleared)

    def __eq__(self, other: object) -> bool:
        # canonical forms, because Python's == says True == 1 and the register must not
        if type(other) is not type(self):
            return NotImplemented
        return (self.stamp == other.stamp and self.cleared == other.cleared
                and canonical(self.payload) == canonical(other.payload))
