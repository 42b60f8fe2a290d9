"""The ``counter`` and ``bank`` checkers: do the final numbers add up, within what ``info``
operations allow?

Place in the data flow: between a recorded history (georep test, or a user's own client) and
the verdict printed by georep test/check. A counter's final value is the item attribute ``n``,
an account's balance the attribute ``balance``; an absent item or attribute is 0. Both start
at 0; an account's deposits (``ok``, any process, normally ``setup``) fund it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import (
    NO_FINAL_READS,
    Final,
    Op,
    Pair,
    View,
    attr,
    bounded,
    number,
    verdict,
    view,
)

Ranges = dict[Any, list]  # key -> [lowest, highest] final value the history allows


def counter(history: Sequence[Op] | View) -> dict[str, Any] | None:
    """Per key, the final value of every region must lie in [sum of ok deltas + negative info
    deltas, sum of ok deltas + positive info deltas]; ``fail`` adds nothing. Reads made during
    the run are not checked (other adds were in flight)."""
    v = view(history)
    if not v.ops["add"]:
        return None
    ranges = _ranges(v.ops["add"], "delta", 1)
    if v.finals is None:
        return {**NO_FINAL_READS, "keys": len(ranges)}
    wrong, unread = _outside(ranges, v.finals, "n")
    return {"valid": verdict(bool(wrong), bool(unread)), "keys": len(ranges),
            **bounded("out_of_bounds", wrong), **bounded("unread", unread)}


def _ranges(ops: list[Pair], name: str, sign: int, ranges: Ranges | None = None) -> Ranges:
    """Widen each key's range by ``sign`` × the operations' ``name``: an ``ok`` amount moves
    both bounds, an ``info`` one (or one outstanding) only the bound it points to."""
    ranges = {} if ranges is None else ranges
    for invoke, done in ops:
        how = "info" if done is None else done["type"]
        if how == "fail":
            ranges.setdefault(invoke["value"]["key"], [0, 0])
            continue
        amount = invoke["value"][name]
        if type(amount) is not int:  # the common case needs no parsing
            amount = number(amount, f"op {invoke['index']}: {name}")
        bounds = ranges.setdefault(invoke["value"]["key"], [0, 0])
        amount *= sign
        if how == "ok":
            bounds[0] += amount
            bounds[1] += amount
        else:
            bounds[0 if amount < 0 else 1] += amount
    return ranges


def _outside(ranges: Ranges, finals: dict[Any, list[Final]],
             name: str) -> tuple[list[dict], list[Any]]:
    """Final values outside their key's range, and the keys no final read names."""
    wrong, unread = [], []
    for key, (low, high) in ranges.items():
        if key not in finals:
            unread.append(key)
        for final in finals.get(key, ()):
            value = _final_number(final, key, name)
            if not low <= value <= high:
                wrong.append({"key": key, "table": final.table, "region": final.region,
                              "value": value, "expected": [low, high]})
    return wrong, unread


def _final_number(final: Final, key: Any, name: str) -> int | float:
    return number(attr(final, name, 0), f"final read of {key!r} in {final.region}: {name}")


def bank(history: Sequence[Op] | View) -> dict[str, Any] | None:
    """False when an ``ok`` read of an account or a final balance is below zero
    (``below_zero``), or when a final balance lies outside [deposits − ok withdrawals − info
    withdrawals, deposits − ok withdrawals] (``not_conserved``; an ``info`` deposit raises the
    upper bound). Without final reads conservation is unknown."""
    v = view(history)
    if not v.ops["deposit"] and not v.ops["withdraw"]:
        return None
    ranges = _ranges(v.ops["withdraw"], "amount", -1, _ranges(v.ops["deposit"], "amount", 1))
    below = _reads_below_zero(v.ops["read"], ranges)
    if v.finals is None:
        return {**NO_FINAL_READS, "valid": verdict(bool(below), True),
                **bounded("below_zero", below)}
    below += [{"key": key, "table": final.table, "region": final.region, "balance": value}
              for key in ranges for final in v.finals.get(key, ())
              if (value := _final_number(final, key, "balance")) < 0]
    off, unread = _outside(ranges, v.finals, "balance")
    return {"valid": verdict(bool(below or off), bool(unread)), "accounts": len(ranges),
            **bounded("below_zero", below), **bounded("not_conserved", off),
            **bounded("unread", unread)}


def _reads_below_zero(reads: list[Pair], accounts: Ranges) -> list[dict]:
    found = []
    for invoke, done in reads:
        key = invoke["value"]["key"]
        if done is None or done["type"] != "ok" or key not in accounts:
            continue
        value = done["value"]["value"]
        if value is not None and number(value, f"op {done['index']}: value") < 0:
            found.append({"key": key, "value": value, "index": done["index"]})
    return found
