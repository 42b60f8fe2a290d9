"""The control API's token check, against hostile bytes: a real supervisor's control app served
on 127.0.0.1 in this process (no regions started), raw requests over a real socket."""

from __future__ import annotations

import asyncio

import pytest

from georep.runtime.control import control_app, run_control
from georep.runtime.home import LabHome
from georep.runtime.supervisor import Supervisor

from ..support.live import ROOT

ROUTES = [("GET", "/status"), ("GET", "/metrics"), ("POST", "/partition"), ("POST", "/heal"),
          ("POST", "/replicator/kill"), ("POST", "/replicator/start"), ("POST", "/down"),
          ("GET", "/no-such-route")]


@pytest.fixture
async def control(tmp_path):
    home = LabHome(tmp_path / "home")
    home.prepare()
    sup = Supervisor(home, ROOT / "regions")
    sup.token = home.new_token()
    runner, port = await run_control(control_app(sup))
    yield sup, port
    await runner.cleanup()


async def send(port: int, method: str, path: str, authorization: bytes) -> tuple[int, bytes]:
    """One request with the Authorization header's bytes exactly as given; (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
                     + b"Authorization: " + authorization + b"\r\n"
                     + b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                     + b"Connection: close\r\n\r\n{}")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("authorization", [
    b"Bearer \xff\xfe", b"Bearer \xc3\xa9", b"\xff", "Bearer {token}\xff", "Bearer {token}\u00e9",
])
async def test_a_non_ascii_authorization_header_is_refused_with_401(control, authorization):
    sup, port = control
    if isinstance(authorization, str):  # the right token with a non-ASCII byte after it
        authorization = authorization.format(token=sup.token).encode("latin-1")
    for method, path in ROUTES:
        status, body = await send(port, method, path, authorization)
        assert status == 401, (method, path, body[:200])
        assert b"lab token" in body
    assert not sup.stopping.is_set()  # the refused /down stopped nothing


async def test_the_right_token_is_still_served(control):
    sup, port = control
    status, body = await send(port, "GET", "/status", f"Bearer {sup.token}".encode())
    assert status == 200, body[:200]
    assert sup.run_id.encode() in body
