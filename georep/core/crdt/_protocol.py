"""The CRDT protocol every type follows, and the optional ability to be reset.

Place in the data flow: every type in this package implements it; the package re-exports both
(:class:`georep.core.crdt.CRDT`, :class:`georep.core.crdt.Resettable`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self, runtime_checkable


@runtime_checkable
class CRDT(Protocol):
    """A state-based CRDT. Updates are extra, type-specific methods returning a new state."""

    TYPE: ClassVar[str]

    @classmethod
    def new(cls) -> Self:
        """The bottom state: merging it into any state changes nothing."""
        ...

    def value(self) -> Any:
        """The plain Python value: int, str, list (sets as sorted lists) or dict."""
        ...

    def merge(self, other: Self) -> Self:
        """The least upper bound of both states, as a new state."""
        ...

    def encode(self) -> dict[str, Any]:
        """A version-tagged DynamoDB AttributeValue; ``decode(encode(x)) == x``."""
        ...

    @classmethod
    def decode(cls, av: dict[str, Any]) -> Self:
        """The state ``av`` encodes; raises CRDTDecodeError on a wrong tag, version or shape."""
        ...

    def __eq__(self, other: object) -> bool: ...


@runtime_checkable
class Resettable(Protocol):
    """The optional ability to be reset by an item's delete, and to be absent afterwards.

    A reset is *observed*: the state keeps everything (no region's entry shrinks) and records
    what it has seen, so that an update merged in later that the reset had not seen survives.
    """

    def reset(self) -> Self:
        """The state after a reset of everything it holds."""
        ...

    def present(self) -> bool:
        """True when the state holds something no reset has observed (the attribute shows)."""
        ...
