"""Error classification in one place: every failure the replicator meets is retriable or not.

Place in the data flow: the replicator wraps each call to a region in :func:`translate`, and from
then on reasons only about :class:`~georep.errors.RetriableError` and
:class:`~georep.errors.PermanentError`.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import PermanentError, ReplicationError, RetriableError

RETRIABLE_CODES = frozenset({
    "ConditionalCheckFailedException",  # a local write raced the apply: re-read and merge again
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ExpiredIteratorException",
})


def classify(exc: BaseException) -> ReplicationError:
    """Map an exception from botocore/aiohttp to georep's retriable/permanent pair."""
    if isinstance(exc, ReplicationError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        msg = f"{code}: {err.get('Message', '')}".strip(": ")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "TransactionCanceledException":
            reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            reasons -= {"None", None}
            if reasons <= {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"}:
                return RetriableError(msg)
            return PermanentError(msg)
        if code in RETRIABLE_CODES or status >= 500:
            return RetriableError(msg)
        return PermanentError(msg)
    if isinstance(exc, BotoCoreError | aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return RetriableError(f"{type(exc).__name__}: {exc}")
    return PermanentError(f"{type(exc).__name__}: {exc}")


@contextlib.asynccontextmanager
async def translate():
    """Re-raise anything from a region call as a classified :class:`ReplicationError`."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise classify(exc) from exc
