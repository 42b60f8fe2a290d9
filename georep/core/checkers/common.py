"""What every checker shares: a :class:`View` of the history (the client operations sorted by
workload and checked for the fields they need, the final reads, the conflict feed), numbers,
bounded findings and the verdict's order.

Place in the data flow: between a recorded history (georep test, or a user's own client) and
the verdict printed by georep test/check; the checker modules (``georep.core.checkers.*``) read
the history through a :class:`View`. :func:`view` makes one in a few passes over the history;
``check`` makes it once and hands it to every checker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from georep.core.history import conflict_feed, final_reads, pairs

LIMIT = 20  # findings listed per kind; the count says how many there were
NO_FINAL_READS = {"valid": "unknown", "reason": "no final reads in the history"}

Op = Mapping[str, Any]
Pair = tuple[Op, Op | None]

# kind -> the fields its invocation's value needs, and those its ok completion's value needs.
# A kind is the operation's ``f``, except that a set's ``add``/``remove`` are set-add/remove.
NEEDS: dict[str, tuple[frozenset, frozenset]] = {
    "write": (frozenset({"key", "value"}), frozenset({"replaced"})),
    "read": (frozenset({"key"}), frozenset({"value"})),
    "add": (frozenset({"key", "delta"}), frozenset()),
    "set-add": (frozenset({"key", "element"}), frozenset()),
    "set-remove": (frozenset({"key", "element"}), frozenset()),
    "deposit": (frozenset({"key", "amount"}), frozenset()),
    "withdraw": (frozenset({"key", "amount"}), frozenset()),
    "order": (frozenset({"key"}), frozenset({"order"})),
}


@dataclass(frozen=True)
class Final:
    """One region's final read of one key in one table: the item (None when absent) and its
    siblings (empty when it has none)."""

    table: str
    region: str
    item: Mapping[str, Any] | None
    siblings: Sequence[Mapping[str, Any]]


@dataclass
class View:
    """A history as the checkers read it. ``ops``: kind -> (invoke, completion) pairs in invoke
    order, every kind of :data:`NEEDS` present (an ``f`` no workload defines is left out);
    ``reads``: table -> region -> {"items", "siblings"}; ``feed``: the conflict feed or None."""

    ops: dict[str, list[Pair]]
    reads: dict[str, dict[str, dict[str, Any]]]
    feed: list[Mapping[str, Any]] | None

    @cached_property
    def finals(self) -> dict[Any, list[Final]] | None:
        """key -> every region's final read of it, in every final-read table whose items name
        the key; None when the history has no final read at all."""
        if not self.reads:
            return None
        out: dict[Any, list[Final]] = {}
        for table, regions in self.reads.items():
            for region, read in regions.items():
                siblings = read["siblings"]
                for key, item in read["items"].items():
                    out.setdefault(key, []).append(
                        Final(table, region, item, siblings.get(key) or ()))
        return out


def view(history: Sequence[Op] | View) -> View:
    """The history's :class:`View` (a view is returned as it is). A ``ValueError`` names the
    first operation that lacks a field its kind needs."""
    if isinstance(history, View):
        return history
    ops: dict[str, list[Pair]] = {k: [] for k in NEEDS}
    for pair in pairs(history):
        invoke, done = pair
        f, value = invoke["f"], invoke.get("value")
        if f in ("add", "remove") and _is_map(value) and "element" in value:
            f = "set-" + f
        needs = NEEDS.get(f)
        if needs is None:
            continue
        if not (type(value) is dict and value.keys() >= needs[0]):  # else: the slow check
            _require(invoke, value, needs[0])
        if done is not None and needs[1] and done["type"] == "ok":
            result = done.get("value")
            if not (type(result) is dict and result.keys() >= needs[1]):
                _require(done, result, needs[1])
        ops[f].append(pair)
    return View(ops, final_reads(history), conflict_feed(history))


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _require(op: Op, value: Any, need: frozenset) -> None:
    if not _is_map(value) or not value.keys() >= need:
        missing = sorted(need - set(value)) if _is_map(value) else sorted(need)
        raise ValueError(f"op {op.get('index')}: the {op['type']} {op['f']} value needs "
                         f"{', '.join(map(repr, missing))}")


def outcome(done: Op | None) -> str:
    """``ok``, ``fail`` or ``info``; an operation still outstanding at the end counts as
    ``info`` (it may or may not have happened)."""
    return "info" if done is None else done["type"]


def at(pair: Pair) -> int:
    """The index that names an operation: its completion's, or its invoke's if outstanding."""
    invoke, done = pair
    return (done or invoke)["index"]


def number(value: Any, where: str) -> int | float:
    """A JSON number (or a numeric string, as DynamoDB's numbers may be written); a NaN or an
    infinity (which no bound can hold) is a ``ValueError``, as is anything else."""
    if isinstance(value, str):
        for parse in (int, float):
            try:
                value = parse(value)
                break
            except ValueError:
                pass
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    raise ValueError(f"{where}: {value!r} is not a finite number")


def attr(final: Final, name: str, default: Any = None) -> Any:
    """An attribute of a final item, ``default`` when the item or the attribute is absent."""
    return default if final.item is None else final.item.get(name, default)


def bounded(name: str, findings: list) -> dict[str, Any]:
    """The first :data:`LIMIT` findings under ``name`` and their count under ``name_count``."""
    return {name: findings[:LIMIT], f"{name}_count": len(findings)}


def verdict(wrong: bool, undecided: bool) -> bool | str:
    """false above "unknown" above true."""
    return False if wrong else ("unknown" if undecided else True)
