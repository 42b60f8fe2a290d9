"""The state of one item of a ``crdt``-policy table: its attributes' CRDTs, plus the stamps of
its latest live write and its latest delete.

Place in the data flow: the write path updates it (the local region is the actor) and stores it,
encoded, in the item's metadata; the replicator merges the incoming item's state with the
destination's, and the visible attributes are its :meth:`ItemState.visible` values.

A delete is an *observed reset* for counters, sets and MV-registers (each keeps its totals and
records what the delete observed; what it did not observe, a concurrent increment or add,
survives) and a removal at the delete's stamp for LWW registers (a register assigned at or
before the latest delete is absent, one assigned after it is present, as for any assignment).
The item exists while it has a present attribute or its latest live write is later than its
latest delete; so a concurrent increment revives a deleted item with what the delete did not
see, and a re-create starts from the reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ._base import (
    CRDTDecodeError,
    check_actor,
    check_same_type,
    check_ts,
    decode_stamp,
    decoding,
    encode_stamp,
    envelope,
    later,
    open_envelope,
)
from ._registry import decode_any, register
from .lwwregister import LWWRegister, Stamp
from .ormap import CRDTMap


@register
@dataclass(frozen=True, slots=True)
class ItemState:
    """``born``: the greatest stamp of a live write; ``died``: of a delete (None: never)."""

    TYPE: ClassVar[str] = "item"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("b", "d")
    attrs: CRDTMap = field(default_factory=CRDTMap)
    born: Stamp | None = None
    died: Stamp | None = None

    @classmethod
    def new(cls) -> Self:
        return cls()

    @classmethod
    def of(cls, state: ItemState | CRDTMap) -> ItemState:
        """An item state from a bare map of attributes (the encoding before deletes kept one)."""
        return state if isinstance(state, ItemState) else cls(state)

    def shows(self, nested: Any) -> bool:
        if not nested.present():
            return False
        if isinstance(nested, LWWRegister) and self.died is not None:
            return nested.stamp > self.died
        return True

    def visible(self) -> dict[str, Any]:
        """The present attributes' values, by name."""
        return {key: nested.value() for key, nested in sorted(self.attrs.entries.items())
                if self.shows(nested)}

    def exists(self) -> bool:
        if self.born is not None and (self.died is None or self.born > self.died):
            return True
        return any(self.shows(nested) for nested in self.attrs.entries.values())

    def value(self) -> dict[str, Any] | None:
        """The visible attributes, or None when the item is deleted."""
        return self.visible() if self.exists() else None

    def get(self, key: str) -> Any:
        return self.attrs.get(key)

    def update(self, key: str, type_name: str, fn: Callable[[Any], Any]) -> Self:
        return type(self)(self.attrs.update(key, type_name, fn), self.born, self.died)

    def write(self, actor: str, ts: int) -> Self:
        """Record a live write at ``ts`` (it says the item exists)."""
        check_actor(actor)
        check_ts(ts)
        return type(self)(self.attrs, later(self.born, (ts, actor)), self.died)

    def delete(self, actor: str, ts: int) -> Self:
        """Delete at ``ts``: reset what this state has observed (see the module docstring)."""
        check_actor(actor)
        check_ts(ts)
        return type(self)(self.attrs.reset(), self.born, later(self.died, (ts, actor)))

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(self.attrs.merge(other.attrs), later(self.born, other.born),
                          later(self.died, other.died))

    def encode(self) -> dict[str, Any]:
        extra = {}
        if self.born is not None:
            extra["b"] = encode_stamp(self.born)
        if self.died is not None:
            extra["d"] = encode_stamp(self.died)
        return envelope(self.TYPE, a=self.attrs.encode(), **extra)

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("a",), cls.OPTIONAL)
            born = decode_stamp(m["b"], "b") if "b" in m else None
            died = decode_stamp(m["d"], "d") if "d" in m else None
            return cls(CRDTMap.decode(m["a"]), born, died)


def item_state(av: Any) -> ItemState:
    """Decode an item's state: an ``item``, or a bare ``map`` (as stored before deletes kept
    state). Raises CRDTDecodeError for anything else."""
    state = decode_any(av)
    if not isinstance(state, ItemState | CRDTMap):
        raise CRDTDecodeError(f"an item's state is an item or a map, not a {state.TYPE!r}")
    return ItemState.of(state)
