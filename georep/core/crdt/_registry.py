"""The registry of CRDT types by their tag, so a stored state can be decoded without knowing it.

Place in the data flow: the replicator (and CRDTMap, for its nested values) hands any encoded
state to :func:`decode_any`; the write path creates a fresh state with :func:`new_of`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ._base import CRDTDecodeError, type_tag

REGISTRY: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: file ``cls`` under its ``TYPE`` tag (which must be unique)."""
    known = REGISTRY.get(cls.TYPE)
    if known is not None and known is not cls:
        raise ValueError(f"CRDT type tag {cls.TYPE!r} is taken by {known.__name__}")
    REGISTRY[cls.TYPE] = cls
    return cls


def new_of(type_name: str) -> Any:
    """A fresh (bottom) state of the registered type ``type_name``."""
    try:
        cls = REGISTRY[type_name]
    except KeyError:
        raise ValueError(
            f"unknown CRDT type {type_name!r}; known types: {', '.join(sorted(REGISTRY))}"
        ) from None
    return cls.new()


def decode_any(av: Any) -> Any:
    """Decode an encoded state of any registered type, dispatching on its ``t`` tag."""
    tag = type_tag(av)
    cls = REGISTRY.get(tag)
    if cls is None:
        known = ", ".join(sorted(REGISTRY))
        raise CRDTDecodeError(f"unknown CRDT type tag {tag!r}; known: {known}")
    return cls.decode(av)
