"""The ``lost-updates`` checker: is every acknowledged register write accounted for?

Place in the data flow: between a recorded history (georep test, or a user's own client) and
the verdict printed by georep test/check. Values are unique per write, so a value names its
write. An ``ok`` write w of value v to key k is accounted when (a) every region's final read of
k holds v (item attribute ``v``, or among k's siblings), (b) the conflict feed names v for k as
a loser or a sibling and its winner does not hold v (a winner is the value that stood: it
names no loss; a CRDT merge's winner holds all its siblings), or (c) an ``ok``
write on k that completed after w's invoke reported ``replaced == v`` (it read v and
overwrote it knowingly). On an MV-register (policy crdt) a final ``v`` is the list of the
concurrent values and a write's ``replaced`` the list of the values it superseded: each value
of either counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from georep.core.ledger import feed_key

from .common import NO_FINAL_READS, Final, Op, Pair, View, attr, bounded, verdict, view

# Where an unaccounted write is reported: only ``lost`` makes the verdict false.
UNDECIDED = ("needs_feed", "uncertain", "unread")


def lost_updates(history: Sequence[Op] | View) -> dict[str, Any] | None:
    """False when an ``ok`` write is not accounted (``lost``: key, value, the ok's index).
    ``accounted`` counts the writes by how: ``final`` (the value stands), ``replaced`` (a later
    write read it), ``in_feed`` (overwritten unread, and named by the conflict feed).
    Unknown instead when the write could only be accounted by a conflict feed the history lacks
    (``needs_feed``), when an ``info`` write on the key may have read it (``uncertain``), or
    when no final read names the key (``unread``)."""
    v = view(history)
    writes = v.ops["write"]
    if not writes:
        return None
    finals = v.finals
    if finals is None:
        return dict(NO_FINAL_READS)
    named = _named(v.feed or [])
    ok, maybe = _split(writes)
    replaced = _replacements(ok)
    everywhere: dict[Any, set] = {}  # key -> the values every region's final read holds
    found: dict[str, list] = {"lost": [], **{name: [] for name in UNDECIDED}}
    how = {"final": 0, "replaced": 0, "in_feed": 0}  # how each ok write is accounted
    for invoke, done in ok:
        key, value = invoke["value"]["key"], invoke["value"]["value"]
        if replaced.get((key, value), -1) > invoke["index"]:
            how["replaced"] += 1
            continue
        held = everywhere.get(key)
        if held is None:
            held = everywhere[key] = _final_everywhere(finals.get(key, ()))
        if value in held:
            how["final"] += 1
        elif (key, value) in named:
            how["in_feed"] += 1  # overwritten without being read: a lost update, named
        else:
            where = ("unread" if key not in finals else "needs_feed" if v.feed is None
                     else "uncertain" if key in maybe else "lost")
            found[where].append({"key": key, "value": value, "index": done["index"]})
    out: dict[str, Any] = {"valid": verdict(bool(found["lost"]),
                                            any(found[name] for name in UNDECIDED)),
                           "writes": len(ok), "accounted": how}
    for name, findings in found.items():
        out.update(bounded(name, findings))
    return out


def _named(feed: list) -> set[tuple[str, Any]]:
    """(key, value) for every version the conflict feed names as a loser or a sibling, less
    the values its winner holds: a CRDT merge names its inputs as siblings and keeps them all
    in the winner (an MV-register's list), which names no loss."""
    out = set()
    for entry in feed:
        key = feed_key(entry)
        winner = entry.get("winner")
        kept = set(_values(winner["v"])) if isinstance(winner, dict) and "v" in winner else set()
        versions = [*(entry.get("losers") or ()), *(entry.get("siblings") or ())]
        out.update((key, x) for v in versions if isinstance(v, dict) and "v" in v
                   for x in _values(v["v"]) if x not in kept)
    return out


def _split(writes: list[Pair]) -> tuple[list[Pair], set]:
    """The ``ok`` writes, and the keys of the writes whose outcome is unknown."""
    ok, maybe = [], set()
    for invoke, done in writes:
        how = "info" if done is None else done["type"]
        if how == "ok":
            ok.append((invoke, done))
        elif how == "info":
            maybe.add(invoke["value"]["key"])
    return ok, maybe


def _replacements(ok: list[Pair]) -> dict[tuple[Any, Any], int]:
    """(key, replaced value) -> the latest index of an ``ok`` write that replaced it."""
    out: dict[tuple[Any, Any], int] = {}
    for invoke, done in ok:
        for value in _values(done["value"]["replaced"]):
            slot = (invoke["value"]["key"], value)
            if out.get(slot, -1) < done["index"]:
                out[slot] = done["index"]
    return out


def _values(value: Any) -> list:
    """A register value as the values it stands for: an MV-register's list holds several."""
    return list(value) if isinstance(value, list) else [value]


def _final_everywhere(reads: Sequence[Final]) -> set:
    """The values that every one of a key's final reads holds, as item or as sibling."""
    held = None
    for final in reads:
        values = {*_values(attr(final, "v"))} | {s.get("v") for s in final.siblings}
        held = values if held is None else held & values
    return (held or set()) - {None}
