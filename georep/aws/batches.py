"""Batch requests asked again until DynamoDB has processed all of them, with backoff.

Place in the data flow: georep's own batch reads and writes (the tombstone rows and items an
apply reads, checkpoint rows, the conflict feed, reconcile's fetch of divergent keys) send
their requests through :func:`drain`, which yields each response for the caller to read and
sends what the response left unprocessed (``UnprocessedKeys`` of BatchGetItem,
``UnprocessedItems`` of BatchWriteItem) again.

DynamoDB leaves part of a batch unprocessed when a table or partition is throttled; asking
again at once only adds to the load, so the next request waits an exponential backoff with
full jitter (:func:`georep.core.backoff.full_jitter`), as AWS advises. moto never leaves
anything unprocessed; the tests throttle a real client's answers to show the waits.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..core.backoff import full_jitter

BASE_MS = 50.0
CAP_MS = 2_000.0
_RNG = random.Random()

Sleep = Callable[[float], Awaitable[Any]]


async def drain(send: Callable[[dict], Awaitable[dict]], request: dict | None, *,
                unprocessed: str, sleep: Sleep = asyncio.sleep,
                rng: random.Random | None = None) -> AsyncIterator[dict]:
    """Send ``request``, yield the response, and send its ``unprocessed`` part again (after a
    backoff) until nothing is left. ``sleep`` and ``rng``: injected, so tests run the waits
    in virtual time."""
    attempt = 0
    while request:
        resp = await send(request)
        yield resp
        request = resp.get(unprocessed) or None
        if request:
            await sleep(full_jitter(attempt, BASE_MS, CAP_MS, rng or _RNG) / 1000)
            attempt += 1


def reads(client, request: dict, **kw: Any) -> AsyncIterator[dict]:
    """BatchGetItem's responses for ``request``, until every key is processed."""
    return drain(lambda r: client.batch_get_item(RequestItems=r), request,
                 unprocessed="UnprocessedKeys", **kw)


def writes(client, request: dict, **kw: Any) -> AsyncIterator[dict]:
    """BatchWriteItem's responses for ``request``, until every item is processed."""
    return drain(lambda r: client.batch_write_item(RequestItems=r), request,
                 unprocessed="UnprocessedItems", **kw)
