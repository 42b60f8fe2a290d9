"""Tagged entries with a causal context: the kernel shared by MVRegister and ORSet.

Place in the data flow: inside those two CRDTs' ``merge``, which the replicator calls when a
version arrives, and inside their encodings.

Every assignment or add is tagged with a unique ``(actor, counter)``; the actor's counter goes
1, 2, 3... The *context* maps each actor to the greatest counter this state has seen, so it says
"I have seen tags (a, 1..n)". Merge keeps a tag if both sides still hold it, or if one side holds
it and the other has never seen it; a tag one side has seen but dropped was deliberately
overwritten or removed there, so it stays dropped. This needs each actor to issue tags from one
replica only (an actor is a region), which is what makes the context gap-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._base import (
    CRDTDecodeError,
    check_actor,
    decode_counts,
    encode_counts,
    integer,
    kind_of,
    pointwise_max,
)

Tag = tuple[str, int]  # (actor, counter): names one assignment or add
Context = Mapping[str, int]  # actor -> greatest counter seen


def next_tag(context: Context, actor: str) -> tuple[Tag, dict[str, int]]:
    """A fresh tag for ``actor`` and the context that has seen it."""
    counter = context.get(actor, 0) + 1
    out = dict(context)
    out[actor] = counter
    return (actor, counter), out


def seen(context: Context, tag: Tag) -> bool:
    actor, counter = tag
    return counter <= context.get(actor, 0)


def join(
    left: Mapping[Tag, Any], left_ctx: Context, right: Mapping[Tag, Any], right_ctx: Context
) -> tuple[dict[Tag, Any], dict[str, int]]:
    entries = {t: x for t, x in left.items() if t in right or not seen(right_ctx, t)}
    entries.update((t, x) for t, x in right.items() if t not in left and not seen(left_ctx, t))
    return entries, pointwise_max(left_ctx, right_ctx)


def encode(
    entries: Mapping[Tag, Any], context: Context, payload: Callable[[Any], dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The ``e`` (entries, sorted by tag) and ``c`` (context) fields of an encoded state."""
    rows = [
        {"L": [{"S": actor}, {"N": str(counter)}, payload(x)]}
        for (actor, counter), x in sorted(entries.items())
    ]
    return {"e": {"L": rows}, "c": encode_counts(context)}


def decode(
    m: Mapping[str, Any], payload: Callable[[Any], Any]
) -> tuple[dict[Tag, Any], dict[str, int]]:
    context = decode_counts(m["c"], "c")
    entries: dict[Tag, Any] = {}
    for row in kind_of(m["e"], "L", "e"):
        actor_av, counter_av, x_av = kind_of(row, "L", "e[]")
        tag = (check_actor(kind_of(actor_av, "S", "e[].actor")), integer(counter_av, "e[].n", 1))
        if tag in entries:
            raise CRDTDecodeError(f"tag {tag} appears twice")
        if not seen(context, tag):
            raise CRDTDecodeError(f"tag {tag} is beyond the causal context {context}")
        entries[tag] = payload(x_av)
    return entries, context
