"""Clients to a running live lab's regions: where a region's failure becomes one line.

Place in the data flow: between a live lab's client (:class:`georep.runtime.live.LiveLab`, which
every CLI data command, ``dlq`` and ``reconcile`` use) and the regions. Every call goes through
:func:`region_client`. A region that is down
(connection refused, no answer) or that lost its tables (its emulator was reset) then raises a
:class:`~georep.errors.LabError` that names the region, its endpoint and the table, instead of
botocore's traceback. The client remembers, through botocore's events, which table its latest
request named and whether that request failed, so that with several regions' clients open the
error is told by the client that made the failing request.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from ..aws.clients import async_client, endpoint_of, shown
from ..config import Region
from ..errors import LabError

UNREACHABLE = (BotoConnectionError, HTTPClientError, aiohttp.ClientError, asyncio.TimeoutError,
               ConnectionError)
MISSING = frozenset({"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
                     "QueueDoesNotExist"})


class LastCall:
    """The target of a client's latest request, and whether that request failed."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.failed = False

    def before(self, params: dict[str, Any], **_: Any) -> None:
        self.failed = True  # until an answer arrives
        if params.get("TableName"):
            self.target = f"table {params['TableName']}"
        elif params.get("RequestItems"):
            self.target = f"table {next(iter(params['RequestItems']))}"
        elif params.get("StreamArn"):  # arn:...:table/<name>/stream/<label>
            self.target = f"the stream of table {params['StreamArn'].split('/')[1]}"
        elif params.get("QueueUrl"):
            self.target = f"queue {params['QueueUrl'].rsplit('/', 1)[-1]}"
        elif params.get("QueueName"):
            self.target = f"queue {params['QueueName']}"
        else:
            self.target = None

    def after(self, http_response: Any, **_: Any) -> None:
        self.failed = http_response.status_code >= 300


def describe(exc: BaseException, region: str, url: str, target: str | None,
             external: bool = False) -> str:
    """One line for a failed request to ``region`` at ``url`` about ``target`` (``external``:
    a region the lab does not run, which no `georep up` restarts)."""
    if isinstance(exc, UNREACHABLE):
        why = ("no answer in time" if isinstance(exc, ConnectTimeoutError | ReadTimeoutError
                                                  | asyncio.TimeoutError) else "cannot connect")
        hint = "is the endpoint up?" if external else "is the lab up?"
        return f"region {region} is not reachable at {url}: {hint} ({why})"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code in MISSING and external:
            return (f"{target or 'a table'} does not exist in {region} ({url}): was it deleted "
                    "outside georep? `georep down` and `georep up` create it again")
        if code in MISSING:
            return (f"{target or 'a table'} does not exist in {region} ({url}): the region lost "
                    "what georep created there (was its emulator reset?); `georep down` and "
                    "`georep up` start a fresh lab")
        about = f" ({target})" if target else ""
        return f"region {region}{about} refused the request: {code}: {message}"
    return f"region {region}{f' ({target})' if target else ''}: {exc}"


@contextlib.asynccontextmanager
async def region_client(session, service: str, region: Region, url: str, **kw: Any):
    """An aiobotocore client of ``service`` in ``region`` (``async with``): a request of its
    that fails raises a one-line LabError (see :func:`describe`)."""
    last = LastCall()
    async with async_client(session, service, endpoint_of(region, service, url), **kw) as client:
        client.meta.events.register("before-parameter-build", last.before)
        client.meta.events.register("after-call", last.after)
        try:
            yield client
        except (BotoCoreError, ClientError, *UNREACHABLE) as exc:
            if not last.failed:  # another client's request failed: its own wrapper says so
                raise
            raise LabError(describe(exc, region.name, shown(region, url), last.target,
                                    external=not region.local)) from None
