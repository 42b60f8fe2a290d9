"""Making a region ready for a live lab: its tables created or adopted, or one line saying why
it cannot be used.

Place in the data flow: called by the supervisor (:mod:`.supervisor`) for every region when
``georep up`` starts, after the lab regions' moto servers answer and before any link proxy or
replicator starts; the embedded lab makes the same checks. Both build each link's proxy here
(:func:`link_proxy`). For an external region (an ``endpoint``: real AWS or another
DynamoDB-compatible service) this is also where a wrong endpoint, missing credentials, an
unknown profile, an untrusted certificate or a table that does not fit is told, in one line
that names the region and the field to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ProfileNotFound,
    SSLError,
)

from ..aws.clients import Endpoint, shown, upstream
from ..aws.conflicts import conflicts_request
from ..aws.tables import checkpoint_request, create_or_adopt, table_request
from ..config import LabConfig, Region
from ..engine.proxy import LinkProxy
from ..errors import LabError
from .reach import UNREACHABLE


async def prepare(client, region: Region, config: LabConfig, *, adopt: bool,
                  emit: Callable[..., Any]) -> None:
    """Create or adopt georep's tables and the lab's tables in ``region`` (each told by an
    event: ``table-created``, ``table-adopted`` or ``table-existing``)."""
    requests = [checkpoint_request(), conflicts_request(),
                *(table_request(t) for t in config.tables)]
    try:
        for request in requests:
            how = await create_or_adopt(client, request, adopt=adopt)
            emit("table-" + how, region=region.name, table=request["TableName"])
    except ValueError as exc:
        raise LabError(f"region {region.name} ({shown(region)}): {exc}") from None
    except (BotoCoreError, ClientError, *UNREACHABLE) as exc:
        raise LabError(unusable(exc, region)) from None


def link_proxy(src: str, dst: str, port: int | None, endpoint: Endpoint, rng,
               **options: Any) -> LinkProxy:
    """The proxy of link src→dst: in front of a lab region's moto ``port``, or, for an external
    region (``port`` None), a tunnel to ``endpoint``'s host (``options``: a lab region's)."""
    if port is not None:
        return LinkProxy(src, dst, "127.0.0.1", port, rng=rng, **options)
    return LinkProxy(src, dst, *upstream(endpoint), rng=rng, tunnel=True)


def unusable(exc: BaseException, region: Region) -> str:
    """One line for a region that failed its first requests, naming what to fix."""
    where = f"region {region.name} ({shown(region)})"
    if isinstance(exc, ProfileNotFound):
        return f"{where}: {exc} (field 'profile' in {region.source})"
    if isinstance(exc, NoCredentialsError):
        return (f"{where}: no AWS credentials found: set them in the environment, name a "
                f"profile ('profile = ...' in {region.source}) or run with an instance role")
    if isinstance(exc, SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return (f"{where}: its TLS certificate is not trusted ({_first_line(exc)}); name "
                    f"its CA in 'ca_bundle' in {region.source}")
        return (f"{where}: the TLS handshake failed ({_first_line(exc)}); does it speak "
                f"https? check 'endpoint' in {region.source}")
    if isinstance(exc, UNREACHABLE):
        return f"{where} does not answer ({_first_line(exc)}); check 'endpoint' in {region.source}"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), _first_line(str(err.get("Message", "")))
        if code.isdigit():  # an HTTP status without a DynamoDB error: not DynamoDB at all
            return (f"{where} answered HTTP {code}, not as DynamoDB; check 'endpoint' in "
                    f"{region.source}")
        return f"{where} refused georep's request: {code}: {message}"
    return f"{where}: {_first_line(exc)}"


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
