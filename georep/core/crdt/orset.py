"""Observed-remove set, add-wins: a remove deletes only the adds it has seen.

Place in the data flow: the per-attribute state of a ``crdt``-policy item holding a set of
strings or ints; the replicator merges it into the destination's when a version arrives.

Each add is tagged ``(actor, counter)`` and the state keeps a causal context instead of
tombstones (an "ORSWOT", see ``_dotted``). An add concurrent with a remove survives it, because
the remove could not have seen the add's tag. A reset (an item's delete) removes every element
seen; an empty set is absent from the item (:meth:`present`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from . import _dotted
from ._base import (
    CRDTDecodeError,
    check_actor,
    check_same_type,
    decoding,
    envelope,
    from_av,
    open_envelope,
    to_av,
)
from ._dotted import Tag
from ._registry import register

Element = str | int


def _check_element(element: object) -> Element:
    # bool is excluded: a Python set cannot tell True from 1
    if isinstance(element, bool) or not isinstance(element, str | int):
        raise TypeError(f"ORSet elements are str or int, not {element!r}")
    return element


def _order(element: Element) -> tuple[int, int | str]:
    return (0, element) if isinstance(element, int) else (1, element)


def _decode_element(av: Any) -> Element:
    element = from_av(av)
    if isinstance(element, bool) or not isinstance(element, str | int):
        raise CRDTDecodeError(f"ORSet element must be S or N, found {av!r}")
    return element


@register
@dataclass(frozen=True, slots=True)
class ORSet:
    """``entries`` maps the tag of each live add to its element (see ``_dotted``)."""

    TYPE: ClassVar[str] = "orset"
    entries: Mapping[Tag, Element] = field(default_factory=dict)
    context: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls) -> Self:
        return cls()

    def value(self) -> list[Element]:
        """The elements, ints first then strings, each sorted."""
        return sorted(set(self.entries.values()), key=_order)

    def __contains__(self, element: object) -> bool:
        return element in self.entries.values()

    def add(self, actor: str, element: Element) -> Self:
        check_actor(actor)
        _check_element(element)
        tag, context = _dotted.next_tag(self.context, actor)
        # the new tag subsumes this element's older tags: keeping one per add would only grow
        entries = {t: e for t, e in self.entries.items() if e != element}
        entries[tag] = element
        return type(self)(entries, context)

    def remove(self, element: Element) -> Self:
        """Drop the adds of ``element`` seen here; concurrent adds elsewhere will survive."""
        _check_element(element)
        entries = {t: e for t, e in self.entries.items() if e != element}
        return type(self)(entries, self.context)

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
            return cls(*_dotted.decode(m, _decode_element))
