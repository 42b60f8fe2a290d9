"""The event log of a lab run: ``runs/<id>/events.jsonl`` plus in-memory counters.

Place in the data flow: the replicators, the write path and the nemesis (partition, heal) call
:meth:`EventLog.emit`; the demo, the tests and ``georep.analysis`` read what it recorded.
Values are plain JSON; nothing from items is ever evaluated or unpickled.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path | None, clock: Callable[[], float], keep: bool = True) -> None:
        self.path = path
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.events: list[dict[str, Any]] = []
        self._keep = keep
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1 << 16)

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"time": round(self.clock(), 6), "kind": kind, **fields}
        self.counts[kind] += 1
        if self._keep:
            self.events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(event, default=str, separators=(",", ":")) + "\n")
        return event

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] in kinds]

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
