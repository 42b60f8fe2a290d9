"""Last-writer-wins register: keeps the value assigned with the greatest hybrid-logical stamp.

Place in the data flow: the per-attribute state of a ``crdt``-policy item whose attribute is
simply overwritten; the replicator merges it into the destination's when a version arrives.

An assignment is ranked by (packed HLC, actor, canonical form of the value). The actor breaks
ties between regions; the value breaks the tie only when one region reuses a stamp, which a
correct HLC never does but which must not make merge depend on argument order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ._base import (
    CRDTDecodeError,
    canonical,
    check_actor,
    check_same_type,
    copy_value,
    decoding,
    envelope,
    from_av,
    integer,
    kind_of,
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
    payload: Any = None
    stamp: Stamp | None = None

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> Any:
        return self.payload

    def assign(self, actor: str, value: Any, ts: int) -> Self:
        """Assign ``value`` at packed HLC ``ts``; an assignment older than the current is lost."""
        check_actor(actor)
        if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
            raise ValueError(f"ts is a packed HLC (an int >= 0), not {ts!r}")
        # the copy keeps a caller's later mutation of ``value`` out of this immutable state
        return self.merge(type(self)(copy_value(value), (ts, actor)))

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        if other.stamp is None:
            return self
        if self.stamp is None or other._rank() > self._rank():
            return other
        return self

    def _rank(self) -> tuple[int, str, str]:
        assert self.stamp is not None
        return (*self.stamp, canonical(self.payload))

    def encode(self) -> dict[str, Any]:
        if self.stamp is None:
            return envelope(self.TYPE, s={"NULL": True}, x={"NULL": True})
        ts, actor = self.stamp
        return envelope(
            self.TYPE, s={"L": [{"N": str(ts)}, {"S": actor}]}, x=to_av(self.payload)
        )

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("s", "x"))
            if m["s"] == {"NULL": True}:
                if m["x"] != {"NULL": True}:
                    raise CRDTDecodeError("lwwregister state has a value but no stamp")
                return cls()
            ts_av, actor_av = kind_of(m["s"], "L", "s")
            stamp = (integer(ts_av, "s.ts", minimum=0), check_actor(kind_of(actor_av, "S", "s.a")))
            return cls(from_av(m["x"]), stamp)

    def __eq__(self, other: object) -> bool:
        # canonical forms, because Python's == says True == 1 and the register must not
        if type(other) is not type(self):
            return NotImplemented
        return self.stamp == other.stamp and canonical(self.payload) == canonical(other.payload)

