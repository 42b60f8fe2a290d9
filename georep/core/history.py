"""Helpers over a Jepsen-style history: a list of operation dicts, one per JSON line.

Place in the data flow: between a recorded history (``georep test``, or a user's own client)
and the verdict printed by ``georep test``/``georep check``. The caller reads the file; these
helpers parse its lines (:func:`parse_lines`), pair each invocation with its completion
(:func:`pairs`) and pick out the final reads and the conflict feed (:func:`final_reads`,
:func:`conflict_feed`) for the checkers (``georep.core.checkers``). Pure: strings and dicts in,
dicts out; every helper is one pass over the history. The format is docs/harness.md's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Op = dict[str, Any]
TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = ("ok", "fail", "info")
# Processes whose operations are not invoke/completion pairs of a client.
UNPAIRED = ("nemesis", "final")


def parse_lines(lines: Iterable[str]) -> list[Op]:
    """Parse JSON lines (blank lines skipped) into operations. ``index`` defaults to the
    operation's position in the result; ``time`` is kept when present. A ``ValueError`` names
    the line (1-based, blank lines counted) and the problem."""
    out: list[Op] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            op = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {number}: invalid JSON: {e.msg} (column {e.colno})") from None
        except RecursionError:
            raise ValueError(f"line {number}: invalid JSON: nested too deeply") from None
        except ValueError as e:  # NaN or Infinity, which Python's json alone would accept
            raise ValueError(f"line {number}: invalid JSON: {e}") from None
        problem = _problem(op)
        if problem:
            raise ValueError(f"line {number}: {problem}")
        op.setdefault("index", len(out))
        out.append(op)
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _problem(op: Any) -> str | None:
    """What is wrong with one parsed line, or None."""
    if not isinstance(op, dict):
        return f"not a JSON object but {type(op).__name__}"
    for name in ("type", "f", "process"):
        if name not in op:
            return f"missing field {name!r}"
    if op["type"] not in TYPES:
        return f"'type' is {op['type']!r}, not one of {', '.join(TYPES)}"
    if not isinstance(op["f"], str):
        return f"'f' is {type(op['f']).__name__}, not a string"
    if not _is_int(op["process"]) and not isinstance(op["process"], str):
        return f"'process' is {type(op['process']).__name__}, not an integer or a string"
    if "index" in op and not _is_int(op["index"]):
        return f"'index' is {type(op['index']).__name__}, not an integer"
    if "time" in op and not (_is_int(op["time"]) or isinstance(op["time"], float)):
        return f"'time' is {type(op['time']).__name__}, not a number"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def pairs(history: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping, Mapping | None]]:
    """Every invocation of a client or ``setup`` process with its completion (the next ``ok``,
    ``fail`` or ``info`` of the same process), in invocation order; the completion is None when
    the history ends with the operation outstanding. ``nemesis`` and ``final`` operations are
    not paired. A completion without an invocation, a second invocation while one is
    outstanding, or a completion whose ``f`` differs from its invocation's is a ``ValueError``
    naming the index."""
    invokes: list[Mapping] = []
    completions: list[Mapping | None] = []
    open_: dict[Any, int] = {}  # process -> its outstanding invocation's slot
    for op in history:
        process = op["process"]
        if process in UNPAIRED:
            continue
        if op["type"] == "invoke":
            if process in open_:
                first = invokes[open_[process]]
                raise ValueError(f"op {op.get('index')}: process {process!r} invokes while its "
                                 f"invoke at index {first.get('index')} is outstanding")
            open_[process] = len(invokes)
            invokes.append(op)
            completions.append(None)
            continue
        slot = open_.pop(process, None)
        if slot is None:
            raise ValueError(f"op {op.get('index')}: a completion ({op['type']}) of process "
                             f"{process!r} without an invoke")
        if invokes[slot]["f"] != op["f"]:
            raise ValueError(f"op {op.get('index')}: completes {op['f']!r} but its invoke at "
                             f"index {invokes[slot].get('index')} is {invokes[slot]['f']!r}")
        completions[slot] = op
    return list(zip(invokes, completions, strict=True))


def final_reads(history: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """table -> region -> {"items", "siblings"} from the ``final-read`` ok operations. A region
    that read a table twice keeps its last read. A malformed value is a ``ValueError``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for op in history:
        if op["f"] != "final-read" or op["type"] != "ok":
            continue
        value, region = op.get("value"), op.get("region")
        if not isinstance(value, Mapping) or not isinstance(value.get("table"), str):
            raise ValueError(f"op {op.get('index')}: a final-read value needs a 'table' string")
        items, siblings = value.get("items") or {}, value.get("siblings") or {}
        if not isinstance(region, str) or not isinstance(items, Mapping) or not isinstance(
                siblings, Mapping):
            raise ValueError(f"op {op.get('index')}: a final-read needs a 'region' string and "
                             "'items'/'siblings' objects")
        out.setdefault(value["table"], {})[region] = {"items": items, "siblings": siblings}
    return out


def conflict_feed(history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
    """The conflict feed's entries from the ``conflicts`` ok operations (several are
    concatenated, e.g. one per table), or None when the history has none."""
    feed: list[Mapping[str, Any]] = []
    seen = False
    for op in history:
        if op["f"] != "conflicts" or op["type"] != "ok":
            continue
        value = op.get("value") or []
        if not isinstance(value, list):
            raise ValueError(f"op {op.get('index')}: a conflicts value must be a list")
        feed.extend(value)
        seen = True
    return feed if seen else None
