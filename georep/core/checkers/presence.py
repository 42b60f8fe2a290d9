"""The ``duplicates`` and ``lost`` checkers: is each acknowledged effect in the final reads
exactly once?

Place in the data flow: between a recorded history (georep test, or a user's own client) and
the verdict printed by georep test/check. Orders are final-read items with an ``idem``
attribute (the idempotency key), grouped by it; a set is the item of its key, its elements the
list attribute ``members``; a register key is written if its item is not null.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .common import (
    LIMIT,
    NO_FINAL_READS,
    Final,
    Op,
    Pair,
    View,
    at,
    attr,
    bounded,
    outcome,
    verdict,
    view,
)

Finals = dict[Any, list[Final]]


def duplicates(history: Sequence[Op] | View) -> dict[str, Any] | None:
    """An idempotency key with more than one order item in one region's final read, or a set
    element listed more than once in one region's final read of the set, is a duplicate."""
    v = view(history)
    ops = v.ops["order"] + v.ops["set-add"] + v.ops["set-remove"]
    if not ops:
        return None
    if v.finals is None:
        return dict(NO_FINAL_READS)
    set_keys = {invoke["value"]["key"] for invoke, _ in v.ops["set-add"] + v.ops["set-remove"]}
    found = _duplicate_orders(v.finals, v.ops["order"]) + _duplicate_members(v.finals, set_keys)
    return {"valid": verdict(bool(found), False), **bounded("duplicates", found)}


def _orders_by_idem(finals: Finals) -> dict[tuple[str, Any], set[str]]:
    """(region, idempotency key) -> the order ids (item keys) the region holds for it."""
    out: dict[tuple[str, Any], set[str]] = {}
    for order_id, reads in finals.items():
        for final in reads:
            idem = attr(final, "idem")
            if idem is not None:
                out.setdefault((final.region, idem), set()).add(order_id)
    return out


def _indexes_by_key(ops: Iterable[Pair]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for pair in ops:
        out.setdefault(pair[0]["value"]["key"], []).append(at(pair))
    return out


def _duplicate_orders(finals: Finals, orders: list[Pair]) -> list[dict]:
    indexes = _indexes_by_key(orders)
    return [{"kind": "order", "region": region, "key": idem, "orders": sorted(ids),
             "indexes": indexes.get(idem, [])[:LIMIT]}
            for (region, idem), ids in _orders_by_idem(finals).items() if len(ids) > 1]


def _members(final: Final) -> list:
    members = attr(final, "members", [])
    if not isinstance(members, list):
        raise ValueError(f"final read of {final.table!r} in {final.region}: 'members' is "
                         f"{type(members).__name__}, not a list")
    return members


def _duplicate_members(finals: Finals, keys: set) -> list[dict]:
    found = []
    for key in keys:
        for final in finals.get(key, ()):
            for element, n in Counter(_members(final)).items():
                if n > 1:
                    found.append({"kind": "set", "region": final.region, "table": final.table,
                                  "key": key, "element": element, "count": n})
    return found


def lost(history: Sequence[Op] | View) -> dict[str, Any] | None:
    """An ``ok`` effect absent from every region's final read: a register key written but
    null everywhere, a set element added and not removed (``ok`` or ``info``) by a remove that
    completed after the add began (or never completed) but in no region's members, an
    acknowledged order whose order id no region holds for its idempotency key. A key no final
    read names is ``unread`` (unknown)."""
    v = view(history)
    if not (v.ops["write"] or v.ops["set-add"] or v.ops["set-remove"] or v.ops["order"]):
        return None
    if v.finals is None:
        return dict(NO_FINAL_READS)
    found: list[dict] = []
    unread: list[dict] = []
    _lost_registers(v.ops["write"], v.finals, found, unread)
    _lost_elements(v.ops["set-add"], v.ops["set-remove"], v.finals, found, unread)
    _lost_orders(v.ops["order"], v.finals, found)
    return {"valid": verdict(bool(found), bool(unread)), **bounded("lost", found),
            **bounded("unread", unread)}


def _ok(ops: Iterable[Pair]) -> list[Pair]:
    return [pair for pair in ops if pair[1] is not None and pair[1]["type"] == "ok"]


def _lost_registers(writes: list[Pair], finals: Finals, found: list, unread: list) -> None:
    for key, indexes in _indexes_by_key(_ok(writes)).items():
        reads = finals.get(key)
        if not reads:
            unread.append({"kind": "register", "key": key})
        elif all(final.item is None for final in reads):
            found.append({"kind": "register", "key": key, "indexes": indexes[:LIMIT],
                          "writes": len(indexes)})


def _lost_elements(adds: list[Pair], removes: list[Pair], finals: Finals, found: list,
                   unread: list) -> None:
    # (key, element) -> when its last ok/info remove completed (an outstanding one: never).
    # A remove deletes only the adds it has seen: one done before an add began explains nothing.
    removed: dict[tuple[Any, Any], float] = {}
    for invoke, done in removes:
        if outcome(done) in ("ok", "info"):
            slot = (invoke["value"]["key"], invoke["value"]["element"])
            removed[slot] = max(removed.get(slot, -1), math.inf if done is None
                                else done["index"])
    present: dict[Any, set] = {}  # key -> every element of every region's final read
    for invoke, done in _ok(adds):
        key, element = invoke["value"]["key"], invoke["value"]["element"]
        if removed.get((key, element), -1) > invoke["index"]:
            continue
        if key not in present:
            present[key] = {e for final in finals.get(key, ()) for e in _members(final)}
        finding = {"kind": "set", "key": key, "element": element, "index": done["index"]}
        if key not in finals:
            unread.append(finding)
        elif element not in present[key]:
            found.append(finding)


def _lost_orders(orders: list[Pair], finals: Finals, found: list) -> None:
    """An ``ok`` order whose acknowledged order id is held by no region for its key (another
    order for the key does not stand in for it); without an order id, any order for the key."""
    held = {(idem, oid) for (_, idem), ids in _orders_by_idem(finals).items() for oid in ids}
    present = {idem for idem, _ in held}
    missing: dict[Any, dict] = {}
    for invoke, done in _ok(orders):
        key, oid = invoke["value"]["key"], done["value"].get("order")
        if (key, oid) in held or (oid is None and key in present):
            continue
        entry = missing.setdefault(key, {"kind": "order", "key": key, "orders": [],
                                         "indexes": []})
        entry["orders"].append(done["value"]["order"])
        entry["indexes"].append(done["index"])
    found.extend({**e, "orders": e["orders"][:LIMIT], "indexes": e["indexes"][:LIMIT]}
                 for e in missing.values())
