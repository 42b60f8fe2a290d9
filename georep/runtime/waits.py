"""Waiting on a condition with a deadline, never for a fixed time.

Place in the data flow: beside the labs, for whatever drives one and must wait for something to
happen: the tests (re-exported by :mod:`georep.testing`), the stories, the benchmarks. One
deadline logic, two shells: :func:`wait_for` for coroutines, :func:`wait_until` for plain code.
Both return the predicate's first truthy value, or raise TimeoutError ("timed out after 10s
waiting for WHAT").
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

__all__ = ["wait_for", "wait_until"]


def _pauses(timeout: float, what: str, poll: float) -> Iterator[float]:
    """The pause before each try: none before the first, ``poll`` before each later one until
    ``timeout`` seconds have passed; then TimeoutError. It never ends otherwise."""
    deadline = time.monotonic() + timeout
    yield 0.0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        yield poll


async def wait_for(predicate: Callable[[], Awaitable[Any] | Any], *, timeout: float = 10.0,
                   what: str = "condition", poll: float = 0.02) -> Any:
    """Call ``predicate`` (awaiting what it returns, if awaitable) until its value is truthy."""
    for pause in _pauses(timeout, what, poll):
        if pause:
            await asyncio.sleep(pause)
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value


def wait_until(predicate: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition",
               poll: float = 0.1) -> Any:
    """Call ``predicate`` until its value is truthy, sleeping in between: for code that is
    not a coroutine (a test driving a live lab through ``georep`` subprocesses)."""
    for pause in _pauses(timeout, what, poll):
        if pause:
            time.sleep(pause)
        if value := predicate():
            return value
