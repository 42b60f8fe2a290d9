"""The conflict policies by name: what a table's ``policy`` field selects.

Place in the data flow: the config checks a table's policy name against :data:`POLICIES`; the
write path, the apply step and reconcile build the table's policy with :func:`policy_named`.
"""

from __future__ import annotations

from .crdt_policy import CRDTs
from .policy import ConflictPolicy, LastWriterWins, VectorClocks

POLICIES = ("crdt", "lww", "vclock")


def policy_named(name: str, **options) -> ConflictPolicy:
    if name == "lww":
        return LastWriterWins(**options)
    if name == "vclock":
        return VectorClocks(**options)
    if name == "crdt":
        return CRDTs(**options)
    raise ValueError(f"unknown conflict policy {name!r} (known: {', '.join(POLICIES)})")
