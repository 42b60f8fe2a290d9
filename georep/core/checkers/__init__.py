"""The checkers of a Jepsen-style history, and the verdict that composes them.

Place in the data flow: between a recorded history (georep test, or a user's own client) and
the verdict printed by georep test/check. Each checker is a pure function of the history (a
list of operation dicts, docs/harness.md's format; final reads included): None when the
history holds nothing it reads, else ``{"valid": True | False | "unknown", ...}`` with the
keys, values and operation indexes at fault (the first 20 findings of a kind, and their count).
:func:`check` runs them and composes the verdict: false above "unknown" above true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .common import Op, View, view
from .convergence import convergence
from .numeric import bank, counter
from .presence import duplicates, lost
from .registers import lost_updates

__all__ = ["CHECKERS", "View", "bank", "check", "convergence", "counter", "duplicates", "lost",
           "lost_updates", "view"]

Checker = Callable[[Sequence[Op] | View], "dict[str, Any] | None"]

CHECKERS: dict[str, Checker] = {
    "duplicates": duplicates,
    "lost": lost,
    "convergence": convergence,
    "lost-updates": lost_updates,
    "counter": counter,
    "bank": bank,
}

RANK = {False: 0, "unknown": 1, True: 2}  # the verdict is the lowest


def check(history: Sequence[Op] | View, checkers: Iterable[str] | None = None) -> dict[str, Any]:
    """Run the named checkers (all by default) and compose ``{"valid", "checkers": {name:
    result}}``. A checker that raises is ``{"valid": "unknown", "error": "<one line>"}``; one
    with nothing to check is left out; when none applies the verdict is unknown, with a
    reason. An unknown checker name is a ``ValueError``."""
    names = list(CHECKERS) if checkers is None else list(checkers)
    unknown = [name for name in names if name not in CHECKERS]
    if unknown:
        raise ValueError(f"unknown checker {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(CHECKERS)})")
    try:  # read the history once for every checker
        shared: Sequence[Op] | View = view(history)
    except Exception:  # a malformed history: each checker meets the error and reports it
        shared = history
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            result = CHECKERS[name](shared)
        except Exception as e:
            result = {"valid": "unknown", "error": _one_line(e)}
        if result is not None:
            results[name] = result
    if not results:
        return {"valid": "unknown", "checkers": {},
                "reason": "no checker applies: the history has no operation they read"}
    return {"valid": min((r["valid"] for r in results.values()), key=RANK.__getitem__),
            "checkers": results}


def _one_line(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return text.splitlines()[0]
