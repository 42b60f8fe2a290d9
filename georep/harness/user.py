"""Histories of your own operations, and partitions scoped to a block, for your own tests.

Place in the data flow: between a user's test (through the pytest plugin :mod:`georep.testing`)
and the harness. :class:`History` records what the user's clients did in georep's history format
(``docs/harness.md``), reads every region at the end, and runs the same pure checkers as
``georep test``; :func:`partitioned` cuts two regions for the length of an ``async with`` block,
then heals and settles.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..core.checkers import check
from ..errors import ConfigError, GeorepError
from .clients import read_table
from .outcome import classify, one_line
from .recorder import Recorder
from .runner import compact_feed

# What a client operation may raise when the lab, not the test, is at fault: recorded as the
# operation's completion. Anything else (an AssertionError, a bug) propagates.
OUTCOMES = (BotoCoreError, ClientError, GeorepError, OSError, TimeoutError)


@contextlib.asynccontextmanager
async def partitioned(lab: Any, a: str, b: str, *, one_way: bool = False,
                      settle: float = 60.0) -> AsyncIterator[Any]:
    """Cut a↔b (or only a→b) for the block; on leaving it, heal the pair and wait for the
    replicators to settle (up to ``settle`` seconds; 0: do not wait)."""
    lab.partition(a, b, one_way=one_way)
    try:
        yield lab
    finally:
        lab.heal(a, b)
        if settle:
            await lab.settle(timeout=settle)


class Operation:
    """The handle of one operation in flight: say how it ended (default: ok)."""

    def __init__(self, value: Any) -> None:
        self.type, self.value, self.error = "ok", value, None

    def ok(self, value: Any = None) -> None:
        self.type, self.value = "ok", self.value if value is None else value

    def fail(self, error: str = "") -> None:
        self.type, self.error = "fail", error or None

    def info(self, error: str = "") -> None:
        self.type, self.error = "info", error or None


class History:
    """A history of your operations, checked by georep's checkers.

    ``async with history.op(process, f, value, region=...) as op:`` records the invoke; the
    block does the operation and may call ``op.ok(result)``, ``op.fail()`` or ``op.info()``
    (ok with the invoke's value by default). An exception from the lab (a timeout, a refused
    request, a GeorepError) ends the operation as fail (reads, and writes never sent) or info,
    and is swallowed: the history says what happened. Other exceptions propagate, and so does
    a ConfigError (an unknown table or region is the test's mistake, not the lab's)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.recorder = Recorder(Path(path) if path is not None else None)

    @property
    def ops(self) -> list[dict[str, Any]]:
        return self.recorder.ops

    @contextlib.asynccontextmanager
    async def op(self, process: int, f: str, value: Any, *, region: str | None = None,
                 read: bool = False) -> AsyncIterator[Operation]:
        invoked = self.recorder.invoke(process, f, value, region)
        handle = Operation(value)
        try:
            yield handle
        except OUTCOMES as exc:
            if isinstance(exc, ConfigError):  # an unknown table or region: the test's mistake
                raise
            self.recorder.complete(invoked, classify(exc, read=read or f == "read"),
                                   error=one_line(exc))
            return
        self.recorder.complete(invoked, handle.type, handle.value, error=handle.error)

    async def final_reads(self, lab: Any, table: str, keys: Iterable[str]) -> None:
        """Read ``keys`` of ``table`` in every region (call after heal and settle), then the
        conflict feed: the history's final reads."""
        keys = list(keys)
        t = lab.config.table(table)
        for r in lab.config.regions:
            value = await read_table(lab, r.name, table, keys)
            self.recorder.complete(self.recorder.invoke("final", "final-read", None, r.name),
                                   "ok", value)
        feed = compact_feed(await lab.conflicts(table), {table: t.hash_key.name})
        self.recorder.complete(self.recorder.invoke("final", "conflicts", None), "ok", feed)

    def check(self, checkers: Iterable[str] | None = None) -> dict[str, Any]:
        """The verdict (``{"valid": true | false | "unknown", "checkers": {...}}``)."""
        return check(self.ops, list(checkers) if checkers is not None else None)

    def close(self) -> None:
        self.recorder.close()
