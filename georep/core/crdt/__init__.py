"""Conflict-free replicated data types: the per-attribute states of ``crdt``-policy items.

Place in the data flow: the write path updates an attribute's state with the local region as the
actor; when a version arrives, the replicator decodes both sides' states and stores their merge.

Every type follows one small protocol, :class:`CRDT`. Updates are type-specific methods that
take the actor (a region name) and return a new state; nothing is mutated, and time (the packed
HLC of an LWW assignment) is always passed in. Merge is commutative, associative and idempotent,
so replicas that have received the same updates hold equal states whatever the delivery order.
Encoded states are DynamoDB AttributeValues tagged with their type and format version::

    {"M": {"t": {"S": "pncounter"}, "v": {"N": "1"}, ...type-specific fields}}

:data:`REGISTRY` maps each tag to its class; :func:`decode_any` decodes a state of any type and
:func:`new_of` creates an empty one by name. Every attribute type (and the map) is also
:class:`Resettable`, which an item's delete needs; :class:`ItemState` is a whole item's state.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from ._base import CRDTDecodeError
from ._registry import REGISTRY, decode_any, new_of
from .bcounter import BoundedCounter, InsufficientRights
from .gcounter import GCounter
from .item import ItemState, item_state
from .lwwregister import LWWRegister
from .mvregister import MVRegister
from .ormap import CRDTMap, CRDTTypeClash
from .orset import ORSet
from .pncounter import PNCounter


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


__all__ = [
    "CRDT",
    "REGISTRY",
    "BoundedCounter",
    "CRDTDecodeError",
    "CRDTMap",
    "CRDTTypeClash",
    "GCounter",
    "InsufficientRights",
    "ItemState",
    "LWWRegister",
    "MVRegister",
    "ORSet",
    "PNCounter",
    "Resettable",
    "decode_any",
    "item_state",
    "new_of",
]
