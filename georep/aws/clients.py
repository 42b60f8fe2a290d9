"""Client factory per region: boto3 (sync) and aiobotocore (async) clients with an endpoint URL.

Place in the data flow: every component that talks to a region gets its client here, so the
endpoint, credentials and timeouts are decided in one place. Lab regions (moto) get fixed dummy
credentials; external endpoints use the default credential chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.config import Config

LAB_CREDENTIALS = {"aws_access_key_id": "georep", "aws_secret_access_key": "georep"}


@dataclass(frozen=True)
class Endpoint:
    """Where one region answers, as seen by one caller (directly, or through a link proxy)."""

    aws_region: str
    url: str | None  # None: the real AWS endpoint for aws_region
    lab: bool = True  # moto: dummy credentials

    def kwargs(self) -> dict:
        out: dict = {"region_name": self.aws_region}
        if self.url is not None:
            out["endpoint_url"] = self.url
        if self.lab:
            out.update(LAB_CREDENTIALS)
        return out


def timeouts(connect_s: float, read_s: float) -> dict:
    # No retries inside botocore: the replicator owns retrying (backoff, jitter, accounting).
    return {
        "connect_timeout": connect_s,
        "read_timeout": read_s,
        "retries": {"total_max_attempts": 1},
    }


def sync_client(service: str, endpoint: Endpoint, *, connect_s=2.0, read_s=10.0):
    cfg = Config(connect_timeout=connect_s, read_timeout=read_s, retries={"max_attempts": 2})
    return boto3.client(service, config=cfg, **endpoint.kwargs())


def async_client(
    session: AioSession,
    service: str,
    endpoint: Endpoint,
    *,
    connect_s: float = 10.0,
    read_s: float = 60.0,
    pool: int = 16,
):
    """An aiobotocore client context manager (``async with``).

    The default timeouts are generous: a region's own clients scan whole tables, and a moto
    server busy with Scan pages of a large table takes seconds to answer, or even to accept a
    connection. Links set their own short timeouts."""
    cfg = AioConfig(max_pool_connections=pool, **timeouts(connect_s, read_s))
    return session.create_client(service, config=cfg, **endpoint.kwargs())
