"""Error classification in one place: every failure the replicator meets is retriable or not.

Place in the data flow: the replicator, its delivery step, the DLQ redrive and reconcile pass
every failure of a call to a region through :func:`classify`, and from then on reason only about
:class:`~georep.errors.RetriableError` and :class:`~georep.errors.PermanentError`.
"""

from __future__ import annotations

import asyncio

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

