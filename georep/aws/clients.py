"""Client factory per region: boto3 (sync) and aiobotocore (async) clients with an endpoint URL.

Place in the data flow: every component that talks to a region gets its client here, so the
endpoint, credentials and timeouts are decided in one place. Lab regions (moto) get fixed dummy
credentials; external endpoints use the standard credential chain (the environment, the region
file's ``profile``, an instance role), trust the region file's ``ca_bundle`` if it names one,
and reach a destination through its link proxy with botocore's ``proxies`` setting, so the
request keeps the endpoint's own URL (signed for that host, TLS end to end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import boto3
import botocore.session
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.config import Config

from ..config import Region

LAB_CREDENTIALS = {"aws_access_key_id": "georep", "aws_secret_access_key": "georep"}


@dataclass(frozen=True)
class Endpoint:
    """Where one region answers, as seen by one caller (directly, or through a link proxy)."""

    aws_region: str
    url: str | None  # None: the real AWS endpoint for aws_region
    lab: bool = True  # moto: dummy credentials
    proxy: str | None = None  # an HTTP proxy (a link proxy in tunnel mode) to reach url through
    verify: str | None = None  # a CA bundle to trust (None: the default trust store)
    profile: str | None = None  # the credential chain's profile (None: the default chain)

    def kwargs(self) -> dict:
        out: dict = {"region_name": self.aws_region}
        if self.url is not None:
            out["endpoint_url"] = self.url
        if self.lab:
            out.update(LAB_CREDENTIALS)
        if self.verify is not None:
            out["verify"] = self.verify
        return out

    def config(self) -> dict:
        """Config options of this endpoint (botocore's ``proxies``)."""
        return {"proxies": {"http": self.proxy, "https": self.proxy}} if self.proxy else {}

    def through(self, proxy_url: str) -> Endpoint:
        return replace(self, proxy=proxy_url)


def external(region: Region, service: str = "dynamodb") -> Endpoint:
    """An external region's endpoint for ``service``. A loopback endpoint without a profile is
    taken for an emulator (dummy credentials, which it accepts); anything else uses the
    credential chain."""
    url = region.service_url(service)
    lab = url is not None and region.profile is None and _is_loopback(url)
    return Endpoint(region.aws_region, url, lab=lab, verify=region.ca_bundle,
                    profile=region.profile)


def endpoint_of(region: Region, service: str = "dynamodb", url: str | None = None) -> Endpoint:
    """``region``'s endpoint for ``service``: a lab region's moto server (at ``url``) serves all
    three; an external region's comes from its file (:func:`external`)."""
    return Endpoint(region.aws_region, url) if region.local else external(region, service)


def routed(region: Region, proxy_url: str) -> Endpoint:
    """Where a caller in another region reaches ``region``'s DynamoDB, through the link proxy
    at ``proxy_url``: a lab region's proxy stands in for its URL; an external region's is
    botocore's HTTP proxy (the request keeps the region's own URL)."""
    if region.local:
        return Endpoint(region.aws_region, proxy_url)
    return external(region).through(proxy_url)


def shown(region: Region, url: str | None = None) -> str:
    """The endpoint to print for a region: a lab region's URL, an external region's file."""
    if region.local:
        return url or ""
    return region.endpoint if region.endpoint != "aws" else f"aws ({region.aws_region})"


def upstream(endpoint: Endpoint) -> tuple[str, int]:
    """The (host, port) a request to ``endpoint``'s DynamoDB connects to: what its link proxy
    tunnels to. Without a URL, botocore's own resolution decides (the partition's domain, and
    FIPS or dual-stack endpoints a profile or the environment asks for); it needs no network."""
    url = endpoint.url
    if url is None:
        session = botocore.session.Session(profile=endpoint.profile)
        url = session.create_client("dynamodb", region_name=endpoint.aws_region,
                                    aws_access_key_id="x", aws_secret_access_key="x"
                                    ).meta.endpoint_url
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _session(session: AioSession, endpoint: Endpoint) -> AioSession:
    return AioSession(profile=endpoint.profile) if endpoint.profile else session


def timeouts(connect_s: float, read_s: float) -> dict:
    # No retries inside botocore: the replicator owns retrying (backoff, jitter, accounting).
    return {
        "connect_timeout": connect_s,
        "read_timeout": read_s,
        "retries": {"total_max_attempts": 1},
    }


def sync_client(service: str, endpoint: Endpoint, *, connect_s=2.0, read_s=10.0):
    cfg = Config(connect_timeout=connect_s, read_timeout=read_s, retries={"max_attempts": 2},
                 **endpoint.config())
    session = boto3.session.Session(profile_name=endpoint.profile) if endpoint.profile else boto3
    return session.client(service, config=cfg, **endpoint.kwargs())


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
    cfg = AioConfig(max_pool_connections=pool, **timeouts(connect_s, read_s), **endpoint.config())
    return _session(session, endpoint).create_client(service, config=cfg, **endpoint.kwargs())
