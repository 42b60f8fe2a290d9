"""Multi-value register: an assignment replaces what its actor had seen; concurrent ones coexist.

Place in the data flow: the per-attribute state of a ``crdt``-policy item whose concurrent
writes must all be kept for the application to reconcile (Dynamo/Riak siblings); the replicator
merges it into the destination's when a version arrives. A reset (an item's delete) drops every
value it has seen; a register without a value is absent from the item (:meth:`present`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from . import _dotted
from ._base import (
    canonical,
    check_actor,
    check_same_type,
    copy_value,
    decoding,
    envelope,
    from_av,
    open_envelope,
    to_av,
)
from ._dotted import Tag
from ._registry import register


@register
@dataclass(frozen=True, slots=True, eq=False)
class MVRegister:
    """``entries`` maps the tag of each surviving assignment to its value (see ``_dotted``)."""

    TYPE: ClassVar[str] = "mvregister"
    entries: Mapping[Tag, Any] = field(default_factory=dict)
    context: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> list[Any]:
        """The concurrent values, each once, in a stable order (empty before any assignment)."""
        distinct = {canonical(x): x for x in self.entries.values()}
        return [distinct[k] for k in sorted(distinct)]

    def assign(self, actor: str, value: Any) -> Self:
        check_actor(actor)
        tag, context = _dotted.next_tag(self.context, actor)
        # every current entry is covered by the new context, so the assignment supersedes them
        return type(self)({tag: copy_value(value)}, context)

    def reset(self) -> Self:
        """Drop every entry seen here, keeping the context: a concurrent one will survive."""
        return type(self)({}, self.context)

    def present(self) -> bool:
        return bool(self.entries)

    def merge(self, other: Self) -> Self:
        check_same_type(self, other)
        return type(self)(*_dotted.join(self.entries, self.context, other.entries, other.context))

    def encode(self) -> dict[str, Any]:
        return envelope(self.TYPE, **_dotted.encode(self.entries, self.context, to_av))

    @classmethod
    def decode(cls, av: Any) -> Self:
        with decoding(cls.TYPE):
            m = open_envelope(av, cls.TYPE, ("e", "c"))
            return cls(*_dotted.decode(m, from_av))

    def __eq__(self, other: object) -> bool:
        # canonical forms, because Python's == says True == 1 and the register must not
        if type(other) is not type(self):
            return NotImplemented
        return self.encode() == other.encode()
