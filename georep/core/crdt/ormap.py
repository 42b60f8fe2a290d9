"""A map from attribute name to a nested CRDT of any registered type, merged key by key.

Place in the data flow: the state of a ``crdt``-policy item (or of a map attribute) whose fields
are CRDTs themselves; the replicator merges it into the destination's when a version arrives.

Keys are never removed, so the map needs no causal context of its own: a key held by one side
only is kept, and a key on both sides holds the merge of the two nested states. A key keeps the
type it was first given; using it as another type is a schema error and raises CRDTTypeClash.
A reset resets every nested state; the value shows only the keys whose state is present (has
something a reset did not observe), as Riak's map does with a removed field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ._base import CRDTDecodeError, check_same_type, decoding, envelope, kind_of, open_envelope
from ._registry import decode_any, new_of, register

if TYPE_CHECKING:
    from ._protocol import CRDT


class CRDTTypeClash(ValueError):
    """One key of a CRDTMap is used with two different CRDT types."""

    def __init__(self, key: str, held: str, other: str) -> None:
        super().__init__(f"map key {key!r} holds a {held!r}, not a {other!r}")
        self.key = key
        self.held = held
        self.other = other


@register
@dataclass(frozen=True, slots=True)
class CRDTMap:
    TYPE: ClassVar[str] = "map"
    entries: Mapping[str, CRDT] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> dict[str, Any]:
        return {key: nested.value() for key, nested in sorted(self.entries.items())
                if nested.present()}

    def reset(self) -> Self:
        return type(self)({key: nested.reset() for key, nested in self.entries.items()})

    def present(self) -> bool:
        return any(nested.present() for nested in self.entries.values())

    def get(self, key: str) -> CRDT | None:
        return self.entries.get(key)

    def update(self, key: str, type_name: str, fn: Callable[[Any], Any]) -> Self:
        """Replace the CRDT at ``key`` (a new ``type_name`` if absent) by ``fn`` of it."""
        current = self.entries.get(key)
        if current is None:
            current = new_of(type_name)
        elif type_name != current.TYPE:
            raise CRDTTypeClash(key, current.TYPE, type_name)
        updated = fn(current)
        if type(updated) is not type(current):
            raise TypeError(
                f"update of map key {key!r} must return a {type(current).__name__}, "
                f"not {type(updated).__name__}"
            )
        entries = dict(self.entries)
        entries[key] = updated
        return type(self)(entries)

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        entries = dict(self.entries)
        for key, theirs in other.entries.items():
            ours = entries.get(key)
            if ours is None:
                entries[key] = theirs
            elif ours.TYPE != theirs.TYPE:
                raise CRDTTypeClash(key, ours.TYPE, theirs.TYPE)
            else:
                entries[key] = ours.merge(theirs)
        return type(self)(entries)

    def encode(self) -> dict[str, Any]:
        nested = {key: state.encode() for key, state in sorted(self.entries.items())}
        return envelope(self.TYPE, e={"M": nested})

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("e",))
            entries = {}
            for key, nested in kind_of(m["e"], "M", "e").items():
                try:
                    entries[key] = decode_any(nested)
                except CRDTDecodeError as exc:
                    raise CRDTDecodeError(f"map key {key!r}: {exc}") from exc
            return cls(entries)
