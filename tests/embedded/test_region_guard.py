"""A region's endpoint answers AWS clients on loopback and nothing a browser can reach.

moto's server reflects any ``Origin`` in CORS headers and accepts any ``Host``: a web page open
in the user's browser could read every region's data (``GET /moto-api/data.json``) and wipe it
(``POST /moto-api/reset``), and DNS rebinding gets around the same-origin rule. Each test sends
real HTTP over a real socket to a real region server, of both kinds the lab starts. See
georep/runtime/motoserve.py.
"""

from __future__ import annotations

import asyncio
import http.client

import boto3
import pytest
from aiobotocore.session import AioSession

from georep.engine.proxy import LinkProxy
from georep.runtime.moto import MotoProcess, MotoRegion

AWS_REGION = "ap-southeast-2"
TABLE = "guarded"
KW = {"region_name": AWS_REGION, "aws_access_key_id": "x", "aws_secret_access_key": "x"}


@pytest.fixture(params=["process", "thread"])
def region(request):
    srv = (MotoProcess("guard", AWS_REGION) if request.param == "process"
           else MotoRegion("guard", AWS_REGION))
    srv.start()
    db = boto3.client("dynamodb", endpoint_url=srv.url, **KW)
    db.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST")
    yield srv
    srv.stop()


def raw(port: int, method: str, path: str, headers: list[tuple[str, str]],
        host: str | None = "127.0.0.1:{port}") -> tuple[int, dict[str, str], bytes]:
    """One request exactly as given (``host=None``: no Host header at all)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host.format(port=port))
        body = b"{}" if method == "POST" else b""
        for name, value in [*headers, ("Content-Length", str(len(body)))]:
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# The headers an AWS SDK sends for ListTables (moto does not check the signature).
LIST_TABLES = [
    ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
    ("Content-Type", "application/x-amz-json-1.0"),
    ("Authorization", f"AWS4-HMAC-SHA256 Credential=x/20240101/{AWS_REGION}/dynamodb/"
                      "aws4_request, SignedHeaders=host, Signature=0"),
]


def cors_headers(headers: dict[str, str]) -> list[str]:
    return [k for k in headers if k.startswith("access-control-")]


def assert_refused(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 403, (status, headers, body[:200])
    assert len(body) < 200 and TABLE.encode() not in body
    assert cors_headers(headers) == []


def tables(srv) -> list[str]:
    return boto3.client("dynamodb", endpoint_url=srv.url, **KW).list_tables()["TableNames"]


LOOPBACK_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}",
                  "127.0.0.1", "localhost", "[::1]"]
FOREIGN_HOSTS = ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}",
                 "localhost.evil.example", "127.0.0.1:{port},evil.example", "127.0.0.1:x",
                 "[::1]evil", "0.0.0.0:{port}", "", None]
CONTROL_PATHS = [("GET", "/moto-api/data.json"), ("POST", "/moto-api/reset"),
                 ("GET", "/moto-api/"), ("POST", "/moto-api/seed?a=42"),
                 ("GET", "/%6Doto-api/data.json"), ("POST", "/%6doto-api/reset")]


def test_an_sdk_request_on_a_loopback_host_is_served_without_cors_headers(region):
    for host in LOOPBACK_HOSTS:
        status, headers, body = raw(region.port, "POST", "/", LIST_TABLES, host)
        assert status == 200, (host, body[:200])
        assert TABLE.encode() in body
        assert cors_headers(headers) == [], host


def test_a_request_with_an_origin_is_refused(region):
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{region.port}"):
        assert_refused(raw(region.port, "POST", "/", [*LIST_TABLES, ("Origin", origin)]))
        assert_refused(raw(region.port, "GET", "/moto-api/data.json", [("Origin", origin)]))


def test_a_request_a_browser_marks_as_its_own_is_refused(region):
    """A no-cors GET (an <img>, a navigation) carries no Origin, but Sec-Fetch-* headers."""
    for name, value in (("Sec-Fetch-Mode", "no-cors"), ("Sec-Fetch-Site", "cross-site")):
        assert_refused(raw(region.port, "POST", "/", [*LIST_TABLES, (name, value)]))


def test_a_preflight_is_refused_without_cors_headers(region):
    preflight = [("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST"),
                 ("Access-Control-Request-Headers", "x-amz-target,content-type")]
    assert_refused(raw(region.port, "OPTIONS", "/", preflight))
    assert_refused(raw(region.port, "OPTIONS", "/", []))


def test_a_host_that_is_not_loopback_is_refused(region):
    """DNS rebinding: the attacker's name resolves to 127.0.0.1, the Host header keeps it."""
    for host in FOREIGN_HOSTS:
        assert_refused(raw(region.port, "POST", "/", LIST_TABLES, host))


def test_the_emulator_control_paths_are_refused(region):
    for method, path in CONTROL_PATHS:
        assert_refused(raw(region.port, method, path, []))
        assert tables(region) == [TABLE], path  # nothing was wiped


async def test_aws_clients_work_directly_and_through_a_link_proxy(region):
    """The proxy forwards bytes: the region sees Host 127.0.0.1:<proxy port>."""
    proxy = LinkProxy("peer", "guard", "127.0.0.1", region.port)
    await proxy.start()
    try:
        for url in (proxy.url, region.url):
            key = {"id": {"S": url}}
            async with AioSession().create_client("dynamodb", endpoint_url=url, **KW) as db:
                await db.put_item(TableName=TABLE, Item=key)
                assert (await db.get_item(TableName=TABLE, Key=key))["Item"] == key
            async with AioSession().create_client("sqs", endpoint_url=url, **KW) as sqs:
                await sqs.create_queue(QueueName="dlq")
            db = boto3.client("dynamodb", endpoint_url=url, **KW)
            got = await asyncio.to_thread(db.get_item, TableName=TABLE, Key=key)
            assert got["Item"] == key
            sqs = boto3.client("sqs", endpoint_url=url, **KW)
            queues = await asyncio.to_thread(sqs.list_queues)
            assert [u.rsplit("/", 1)[1] for u in queues["QueueUrls"]] == ["dlq"]
    finally:
        await proxy.stop()


def test_a_thread_region_started_after_the_last_one_stopped_starts_empty():
    """The in-process kind resets moto's shared state without an HTTP control path."""
    first = MotoRegion("guard", AWS_REGION)
    first.start()
    try:
        boto3.client("dynamodb", endpoint_url=first.url, **KW).create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        assert tables(first) == [TABLE]
    finally:
        first.stop()
    second = MotoRegion("guard", AWS_REGION)
    second.start()
    try:
        assert tables(second) == []
    finally:
        second.stop()
