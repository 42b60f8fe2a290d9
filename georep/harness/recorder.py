"""The history recorder: every operation a client or the nemesis invoked, and how it completed.

Place in the data flow: the runner and the workload clients call :meth:`Recorder.invoke` before
an operation and :meth:`Recorder.complete` after it; each op is appended to ``history.jsonl`` at
once (a crashed run keeps what it saw) and kept in memory, in the form a reader of the file gets
back (JSON-normalised), so the checkers judge the same data live and from the file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runtime.events import plain

TYPES = ("invoke", "ok", "fail", "info")


class Recorder:
    def __init__(self, path: Path | None, *,
                 clock_ns: Callable[[], int] = time.monotonic_ns,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self.ops: list[dict[str, Any]] = []
        self._clock_ns = clock_ns
        self._t0 = clock_ns()
        self.started_at = wall()  # the lab's clock at time 0: to align the lab's events
        self._file = path.open("w", encoding="utf-8") if path is not None else None
        self.counts: dict[str, int] = {t: 0 for t in TYPES}

    def _append(self, op: dict[str, Any]) -> dict[str, Any]:
        op = {"index": len(self.ops), "time": self._clock_ns() - self._t0, **op}
        line = json.dumps(op, default=plain, sort_keys=False)
        op = json.loads(line)
        self.ops.append(op)
        self.counts[op["type"]] += 1
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        return op

    def invoke(self, process: int | str, f: str, value: Any,
               region: str | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"process": process, "type": "invoke", "f": f, "value": value}
        if region is not None:
            op["region"] = region
        return self._append(op)

    def complete(self, invoked: dict[str, Any], type_: str, value: Any = None,
                 error: str | None = None) -> dict[str, Any]:
        if type_ not in TYPES[1:]:
            raise ValueError(f"a completion is ok, fail or info, not {type_!r}")
        op: dict[str, Any] = {"process": invoked["process"], "type": type_, "f": invoked["f"],
                              "value": invoked["value"] if value is None else value}
        if "region" in invoked:
            op["region"] = invoked["region"]
        if error is not None:
            op["error"] = error
        return self._append(op)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
