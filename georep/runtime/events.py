"""The event log of a lab run: ``runs/<id>/events.jsonl`` plus in-memory counters.

Place in the data flow: the replicators, the labs (every write through georep's write path,
every fault, replicator start and stop) and the live lab's supervisor call :meth:`EventLog.emit`;
the demo's story, the tests and the chaos report read what it recorded, in memory or from the
file (:func:`read_events`, a lab's ``run_events()``).
Values are plain JSON; nothing from items is ever evaluated or unpickled.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any


def plain(value: Any) -> Any:
    """JSON for what ``json`` cannot encode itself: a DynamoDB number (Decimal) as a number,
    a set as a sorted list, anything else as its ``str``."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


class EventLog:
    def __init__(self, path: Path | None, clock: Callable[[], float], keep: bool = True) -> None:
        self.path = path
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.events: list[dict[str, Any]] = []
        self._keep = keep
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # One O_APPEND write per event: several processes (the live lab's supervisor and
            # replicators) append to one file without interleaving lines.
            # Mode 0600: events carry item values.
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"time": round(self.clock(), 6), "kind": kind, **fields}
        self.counts[kind] += 1
        if self._keep:
            self.events.append(event)
        if self._fd is not None:
            line = json.dumps(event, default=plain, separators=(",", ":")) + "\n"
            os.write(self._fd, line.encode())
        return event

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] in kinds]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete event line of an events file (a line still being written is skipped)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out
