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
:func:`new_of` creates an empty one by name; :func:`canonical` is the stable text form that
orders values (an LWW register's tie-break). Every attribute type (and the map) is also
:class:`Resettable`, which an item's delete needs; :class:`ItemState` is a whole item's state.
"""

from __future__ import annotations

from ._base import CRDTDecodeError, canonical
from ._protocol import CRDT, Resettable
from ._registry import REGISTRY, decode_any, new_of
from .bcounter import BoundedCounter, InsufficientRights
from .gcounter import GCounter
from .item import ItemState, item_state
from .lwwregister import LWWRegister
from .mvregister import MVRegister
from .ormap import CRDTMap, CRDTTypeClash
from .orset import ORSet
from .pncounter import PNCounter

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
    "canonical",
    "decode_any",
    "item_state",
    "new_of",
]
