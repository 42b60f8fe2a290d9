"""The link proxy's exchange mode: whole HTTP exchanges, cuts that answer at once, virtual latency.

A real moto region (a child process, as the lab starts it) behind a real proxy on 127.0.0.1,
called by the lab's own aiobotocore client and by raw sockets; an aiohttp origin stands in for
a destination that frames with chunked transfer coding (moto never does). Timing is only ever
bounded from above ("failed well within the client's timeout"); waits have deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import boto3
import pytest
from aiobotocore.session import AioSession
from aiohttp import ClientSession, web
from botocore.exceptions import ConnectionClosedError

from georep.aws.clients import LAB_CREDENTIALS, Endpoint, async_client
from georep.engine.proxy import Delay, LinkProxy
from georep.runtime.moto import MotoProcess, free_port

AWS_REGION = "sa-east-1"
TABLE = "exchanges"
READ_S = 30.0  # the client's read timeout: a cut must answer far sooner
AT_ONCE_S = 5.0
BIG = "x" * 100_000  # one attribute: a request or response past 64 KiB


@pytest.fixture(scope="module")
def region():
    srv = MotoProcess("exchange", AWS_REGION)
    srv.start()
    direct(srv).create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    yield srv
    srv.stop()


def direct(srv):
    """A client of the region itself, past the proxy."""
    return boto3.client("dynamodb", endpoint_url=srv.url, region_name=AWS_REGION,
                        **LAB_CREDENTIALS)


def stored(srv, key: str) -> dict | None:
    return direct(srv).get_item(TableName=TABLE, Key={"id": {"S": key}},
                                ConsistentRead=True).get("Item")


@pytest.fixture
async def link(region):
    """``make(**kw)``: a started exchange-mode proxy to the region, and a client through it."""
    async def make(**kw):
        proxy = LinkProxy("a", "b", "127.0.0.1", region.port, exchange=True, **kw)
        await proxy.start()
        stack.push_async_callback(proxy.stop)
        db = await stack.enter_async_context(
            async_client(AioSession(), "dynamodb", Endpoint(AWS_REGION, proxy.url),
                         read_s=READ_S, pool=1))
        return proxy, db

    async with contextlib.AsyncExitStack() as stack:
        yield make


def item(key: str, **attrs: str) -> dict:
    return {"id": {"S": key}, **{k: {"S": v} for k, v in attrs.items()}}


async def test_many_exchanges_share_one_kept_connection_and_big_bodies_pass_both_ways(link):
    _, db = await link()
    for i in range(30):
        await db.put_item(TableName=TABLE, Item=item(f"many-{i}", v=str(i)))
        got = await db.get_item(TableName=TABLE, Key={"id": {"S": f"many-{i}"}})
        assert got["Item"] == item(f"many-{i}", v=str(i))
        # werkzeug closes after every response; the caller's connection stays open
        assert "connection" not in got["ResponseMetadata"]["HTTPHeaders"]
    await db.put_item(TableName=TABLE, Item=item("big-request", v=BIG))  # body > 64 KiB
    for i in range(3):
        await db.put_item(TableName=TABLE, Item=item(f"big-{i}", v=BIG))
    page = await db.scan(TableName=TABLE, FilterExpression="begins_with(id, :p)",
                         ExpressionAttributeValues={":p": {"S": "big-"}})
    assert int(page["ResponseMetadata"]["HTTPHeaders"]["content-length"]) > 3 * len(BIG)
    assert sorted(i["id"]["S"] for i in page["Items"]) == [
        "big-0", "big-1", "big-2", "big-request"]
    assert all(i["v"]["S"] == BIG for i in page["Items"])


LIST_TABLES = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\nAuthorization: AWS4-HMAC-SHA256 "
    b"Credential=x/20240101/" + AWS_REGION.encode() + b"/dynamodb/aws4_request, "
    b"SignedHeaders=host, Signature=0\r\nContent-Length: 2\r\n\r\n{}")
READY_HEAD = b"HEAD /georep/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def answer(reader: asyncio.StreamReader, *, head_only: bool = False) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    body = b"" if head_only else await asyncio.wait_for(reader.readexactly(length), 10)
    return head, body


async def test_one_raw_connection_carries_a_head_request_and_then_more_requests(link):
    proxy, _ = await link()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(READY_HEAD)  # Content-Length 6, and no body: a HEAD's answer
        head, _ = await answer(reader, head_only=True)
        assert head.startswith(b"HTTP/1.1 200") and b"connection:" not in head.lower()
        for _ in range(3):
            writer.write(LIST_TABLES)
            head, body = await answer(reader)
            assert head.startswith(b"HTTP/1.1 200") and TABLE.encode() in body
    finally:
        writer.close()


async def test_a_dropped_request_fails_at_once_and_is_not_applied(link, region):
    proxy, db = await link()
    await db.put_item(TableName=TABLE, Item=item("before-cut"))  # a kept connection to reuse
    proxy.set_drops(requests=True, responses=False)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        await db.put_item(TableName=TABLE, Item=item("lost"))
    assert time.monotonic() - started < AT_ONCE_S
    assert stored(region, "lost") is None
    assert proxy.dropped_bytes > 0


async def test_a_dropped_response_fails_at_once_and_the_request_was_applied(link, region):
    proxy, db = await link()
    proxy.set_drops(requests=False, responses=True)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        await db.put_item(TableName=TABLE, Item=item("unknown-outcome", v="1"))
    assert time.monotonic() - started < AT_ONCE_S
    assert stored(region, "unknown-outcome") == item("unknown-outcome", v="1")
    assert proxy.dropped_bytes > 0


@pytest.mark.parametrize("requests, responses", [(True, False), (False, True), (True, True)])
async def test_after_a_drop_is_lifted_the_same_client_succeeds(link, region, requests,
                                                               responses):
    proxy, db = await link()
    proxy.set_drops(requests=requests, responses=responses)
    with pytest.raises(ConnectionClosedError):
        await db.put_item(TableName=TABLE, Item=item("during-drop"))
    proxy.set_drops(requests=False, responses=False)
    key = f"after-drop-{requests}-{responses}"
    await db.put_item(TableName=TABLE, Item=item(key))
    assert (await db.get_item(TableName=TABLE, Key={"id": {"S": key}}))["Item"] == item(key)


class Sleeps(list):
    """An injected sleep that records what it was asked for and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_latency_is_one_sleep_per_exchange_of_both_directions_delays(link):
    sleeps = Sleeps()
    proxy, db = await link(sleep=sleeps)
    proxy.set_delays(Delay(100), Delay(50, 10))
    await db.list_tables()
    [slept] = sleeps
    assert 0.14 <= slept <= 0.16


async def test_latency_draws_follow_the_seed_not_the_sockets(link):
    runs = []
    for _ in range(2):
        sleeps = Sleeps()
        proxy, db = await link(sleep=sleeps, rng=random.Random(42))
        proxy.set_delays(Delay(20, 20), Delay(30, 30))
        await db.put_item(TableName=TABLE, Item=item("seeded", v=BIG))
        for _ in range(4):
            await db.get_item(TableName=TABLE, Key={"id": {"S": "seeded"}})
        runs.append(list(sleeps))
    assert len(runs[0]) == 5 and len(set(runs[0])) == 5
    assert runs[0] == runs[1]


async def test_no_delay_means_no_sleep(link):
    sleeps = Sleeps()
    _, db = await link(sleep=sleeps)
    await db.list_tables()
    await db.put_item(TableName=TABLE, Item=item("undelayed"))
    assert sleeps == []


async def closed_by(port: int, data: bytes) -> bool:
    """Send ``data`` on a fresh connection: True once the proxy has closed it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(), 10) == b""
        except ConnectionResetError:  # closed with our bytes unread
            return True
    finally:
        writer.close()


@pytest.mark.parametrize("garbage", [
    b"NOT HTTP\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 100 * 1024,  # no end of head in sight
], ids=["not-http", "bad-length", "two-lengths", "endless-head"])
async def test_malformed_requests_close_their_connection_and_the_proxy_serves_on(link, garbage):
    proxy, db = await link()
    assert await closed_by(proxy.port, garbage)
    assert "TableNames" in await db.list_tables()


async def test_a_malformed_or_missing_destination_closes_the_callers_connection(link):
    async def garbage(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SPAM 42\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    down = free_port()
    try:
        for port in (server.sockets[0].getsockname()[1], down):
            proxy = LinkProxy("a", "b", "127.0.0.1", port, exchange=True)
            await proxy.start()
            try:
                assert await closed_by(proxy.port, READY_HEAD)
            finally:
                await proxy.stop()
    finally:
        server.close()
    _, db = await link()  # the region's proxy is unaffected
    assert "TableNames" in await db.list_tables()


async def test_chunked_bodies_are_framed_both_ways():
    """An aiohttp origin answers chunked, and reads the chunked request aiohttp sends."""
    async def echo(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(body), 40_000):
            await response.write(body[i:i + 40_000])
        await response.write_eof()
        return response

    async def pieces(n: int):
        for i in range(n):
            yield f"{i:07d};".encode() * 5000

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proxy = LinkProxy("a", "b", "127.0.0.1", runner.addresses[0][1], exchange=True)
    await proxy.start()
    try:
        async with ClientSession() as http:
            for n in (1, 3, 0):
                async with http.post(f"{proxy.url}/echo", data=pieces(n)) as response:
                    assert response.headers["Transfer-Encoding"] == "chunked"
                    assert await response.read() == b"".join([p async for p in pieces(n)])
    finally:
        await proxy.stop()
        await runner.cleanup()
