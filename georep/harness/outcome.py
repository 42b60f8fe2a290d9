"""How an exception decides an operation's completion: fail (it definitely did not happen) or
info (unknown: it may have happened, and may still happen).

Place in the data flow: the workload clients (:mod:`.clients`, :mod:`.orders`) catch what a
call raised and ask :func:`classify` how to record it. The rule is Jepsen's: a read that failed
changed nothing (fail); a write is a definite failure only when the request was never sent
(a connection refused or never made, an open circuit breaker) or was refused before anything
was written (georep's own checks, a bounded counter's missing rights); a timeout or a broken
connection after sending leaves it unknown.
"""

from __future__ import annotations

import asyncio
import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from ..errors import GeorepError, LabError


class Refused(GeorepError):
    """The client refused the operation itself, before sending anything (fail)."""


NOT_SENT = (ConnectTimeoutError, EndpointConnectionError, ConnectionRefusedError, Refused)


_LOOPBACK_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+/?")


def one_line(exc: BaseException) -> str:
    """The error as a history records it: its type and first line, a lab endpoint's URL
    (a port picked at random) written as ``<lab endpoint>`` so that a replay compares."""
    text = str(exc).strip().splitlines()
    line = _LOOPBACK_URL.sub("<lab endpoint>", text[0] if text else "")
    return f"{type(exc).__name__}: {line}".rstrip(": ")[:300]


def classify(exc: BaseException, *, read: bool = False) -> str:
    """``fail`` or ``info`` for an operation that raised ``exc``."""
    if read:
        return "fail"
    if isinstance(exc, (*NOT_SENT, LabError)):
        return "fail"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        # the service answered that it did not apply the request
        if code in ("ConditionalCheckFailedException", "ValidationException",
                    "ResourceNotFoundException"):
            return "fail"
        return "info"
    if isinstance(exc, BotoCoreError | OSError | asyncio.TimeoutError | TimeoutError):
        return "info"
    return "info"
