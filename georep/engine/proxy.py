"""The link proxy: an asyncio TCP proxy in front of a destination region, one per directed link.

Place in the data flow: everything region ``src`` sends to region ``dst`` (replicator applies,
cross-region client traffic) connects to the ``src→dst`` proxy, which forwards to ``dst``'s
endpoint. Network faults (cuts, latency) happen here and nowhere else; clock skew is a fault of
the writers' clocks (:mod:`georep.engine.faults` holds both).

Two modes. The byte-stream mode (the default, the realtime lab) forwards bytes as they come. A
cut link *blackholes*: connections are accepted and held, bytes are read and dropped, so
callers wait until their own timeout, as in a real partition. Requests (src's bytes to dst) and
responses (dst's bytes back) can be dropped separately: a one-way cut of the byte direction
A→B drops requests on the A→B link and responses on the B→A link. A connection that lost bytes
is broken (its HTTP framing is gone), so lifting a drop closes it; callers reconnect. Which
direction drops what is decided in one place, :func:`georep.core.grudge.proxy_drops`; the
proxy only obeys (:meth:`LinkProxy.set_drops`, through :mod:`georep.engine.faults`).

The exchange mode (``exchange=True``, the deterministic simulation) forwards one whole HTTP/1.1
exchange at a time (:mod:`georep.engine.http_frames` finds where messages end), so nothing
depends on TCP chunking or on the wall clock. A cut answers at once: a dropped request is never
forwarded and the caller's connection is closed; a dropped response is read whole (the
destination applied the request) and discarded, and the caller's connection is closed: the
caller cannot tell whether its request was applied. Messages go as they came but for the
response's ``Connection`` header, which is hop-by-hop: the caller's connection stays open
though the destination (werkzeug) closes its own after every response.

The tunnel mode (``tunnel=True``, links to an external region): the proxy is an HTTP proxy
for its one destination, which the callers' botocore reaches through its ``proxies`` setting
while it keeps the destination's own URL (so requests stay signed for the real host, and TLS
runs end to end: the proxy never sees plaintext). A caller opens with ``CONNECT host:port``
(an https destination: the proxy answers 200, then carries the TLS bytes both ways) or sends
an absolute-form request (an http destination: forwarded as it came). Any other destination
is refused with 403: the proxy is never an open proxy. From then on the connection is a byte
stream like any other, with the same cuts and delays. On a cut link the proxy, the caller's
own hop, still answers a ``CONNECT``, and then blackholes the TLS handshake and everything
after: the caller waits its connect timeout, as in a real partition (aiohttp waits for a
``CONNECT``'s answer with no timeout at all, so a blackholed ``CONNECT`` would hang it until
the heal).

Latency: each direction may hold its bytes for a delay plus uniform jitter (:class:`Delay`,
drawn from the proxy's seeded ``rng``). In the byte-stream mode each chunk is held before it is
forwarded; bytes keep their order within a connection, and a held direction never holds up the
other one. In the exchange mode each exchange draws once per delayed direction, request first,
and the proxy awaits its ``sleep`` (a virtual clock's, in a simulation) for the sum before
answering. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .http_frames import HEAD_LIMIT, FrameError, read_request, read_response

CHUNK = 65536
_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
_REFUSED = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Delay:
    """How long one direction holds each chunk: ``ms`` plus a uniform draw in ±``jitter_ms``
    (never below zero). ``Delay()`` is no delay."""

    ms: float = 0.0
    jitter_ms: float = 0.0

    def __bool__(self) -> bool:
        return self.ms > 0 or self.jitter_ms > 0

    def sample_s(self, rng: random.Random) -> float:
        jitter = rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        return max(0.0, self.ms + jitter) / 1000


NO_DELAY = Delay()


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tainted: bool = False  # dropped bytes while the link was cut

    def close(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None and not w.is_closing():
                w.transport.abort()


class LinkProxy:
    """One directed link's proxy; ``exchange`` picks the mode (see the module's docstring),
    ``sleep`` is what the exchange mode awaits for latency."""

    def __init__(self, src: str, dst: str, upstream_host: str, upstream_port: int, *,
                 rng: random.Random | None = None, exchange: bool = False,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 tunnel: bool = False) -> None:
        if tunnel and exchange:
            raise ValueError("the exchange mode serves local regions only, not a tunnel")
        self.src = src
        self.dst = dst
        self.upstream = (upstream_host, upstream_port)
        self.tunnel = tunnel
        self.drop_requests = False
        self.drop_responses = False
        self.request_delay = NO_DELAY
        self.response_delay = NO_DELAY
        self.rng = rng if rng is not None else random.Random(f"{src}>{dst}")
        self.exchange = exchange
        self.sleep = sleep
        self.dropped_bytes = 0
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def name(self) -> str:
        return f"{self.src}>{self.dst}"

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port,
                                                  limit=HEAD_LIMIT)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self._conns):
            c.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    @property
    def cut(self) -> bool:
        return self.drop_requests or self.drop_responses

    @property
    def state(self) -> str:
        if self.drop_requests:
            return "cut"
        return "responses dropped" if self.drop_responses else "open"

    def set_drops(self, requests: bool, responses: bool) -> None:
        """Drop (or forward) each direction's bytes from now on. Lifting a drop closes the
        connections that lost bytes: their framing is gone, callers reconnect. (The exchange
        mode closes such a connection at once, so none is left to close.)"""
        lifted = (self.drop_requests and not requests) or (self.drop_responses and not responses)
        self.drop_requests, self.drop_responses = requests, responses
        if lifted:
            for c in [c for c in self._conns if c.tainted]:
                c.close()

    def set_delays(self, requests: Delay = NO_DELAY, responses: Delay = NO_DELAY) -> None:
        """Hold each chunk (each exchange, in the exchange mode) from now on for its
        direction's delay."""
        self.request_delay, self.response_delay = requests, responses

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            if self.exchange:
                await self._exchanges(reader, conn)
            else:
                await self._stream(reader, conn)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, FrameError):
            pass  # a peer went away or broke the framing: the caller sees the connection close
        except asyncio.CancelledError:
            pass  # stop(): ending quietly spares 3.11's start_server a spurious error log
        finally:
            conn.close()
            self._conns.discard(conn)
            self._tasks.discard(task)

    async def _stream(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        if self.tunnel:
            up_reader = await self._handshake(reader, conn)
            if up_reader is None:
                return
        else:
            try:
                up_reader, conn.upstream = await asyncio.open_connection(*self.upstream)
            except OSError:
                return  # destination down: the caller sees the connection close
        await asyncio.gather(
            self._pump(reader, conn.upstream, conn, requests=True),
            self._pump(up_reader, conn.client, conn, requests=False),
        )

    async def _handshake(self, reader: asyncio.StreamReader,
                         conn: _Conn) -> asyncio.StreamReader | None:
        """The tunnel mode's first request: ``CONNECT`` (answered 200) or an absolute-form
        request (forwarded), to this proxy's destination only. None: the connection ends
        (refused, destination down, or blackholed by a cut)."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, authority = _target(head)
        if authority != self.upstream:
            await _answer(conn, _REFUSED)
            return None
        if self.drop_requests:
            # The proxy is the caller's own hop: it answers a CONNECT even on a cut, so the
            # caller's TLS handshake is what goes unanswered and its connect timeout applies
            # (aiohttp reads a CONNECT's reply with no timeout at all). Then every byte is
            # lost, as on any cut link.
            if method == "CONNECT":
                await _answer(conn, _ESTABLISHED)
            else:
                self.dropped_bytes += len(head)
            conn.tainted = True
            while data := await reader.read(CHUNK):
                self.dropped_bytes += len(data)
            return None
        try:
            up_reader, conn.upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            await _answer(conn, _BAD_GATEWAY)
            return None
        if method == "CONNECT":
            await _answer(conn, _ESTABLISHED)  # the proxy's own answer: never dropped
        else:
            self._forward(head, conn.upstream, conn, requests=True)
            await conn.upstream.drain()
        return up_reader

    async def _exchanges(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        """Serve the caller's requests one whole exchange at a time until it closes, a drop
        ends the connection, or either side asks to close."""
        up_reader: asyncio.StreamReader | None = None
        while (request := await read_request(reader)) is not None:
            if self.drop_requests:
                self.dropped_bytes += len(request.data)
                return  # never forwarded; the caller's connection closes at once
            if up_reader is None or up_reader.at_eof():  # closed after the last response
                up_reader = await self._reconnect(conn)
                if up_reader is None:
                    return
            conn.upstream.write(request.data)
            await conn.upstream.drain()
            response = await read_response(up_reader, method=request.method)
            if response.close:
                up_reader = None  # the next request opens a new one
            if self.drop_responses:  # checked once the destination surely applied it
                self.dropped_bytes += len(response.data)
                return
            if (pause := self._exchange_delay()) > 0:
                await self.sleep(pause)
            if response.hop_head is None:
                conn.client.write(response.data)
            else:
                conn.client.writelines((response.interim, response.hop_head, response.body))
            await conn.client.drain()
            if request.close or response.hop_head is None:
                conn.client.close()  # flushes what is buffered, unlike the abort at the end
                return

    async def _reconnect(self, conn: _Conn) -> asyncio.StreamReader | None:
        """A new connection to the destination for the next exchange (None: unreachable)."""
        if conn.upstream is not None:
            conn.upstream.transport.abort()
        try:
            up_reader, conn.upstream = await asyncio.open_connection(*self.upstream,
                                                                     limit=HEAD_LIMIT)
        except OSError:
            return None
        return up_reader

    def _exchange_delay(self) -> float:
        """One draw per delayed direction, request first: the rng's sequence depends only on
        the exchanges, never on how TCP cut them into chunks."""
        return sum(d.sample_s(self.rng) for d in (self.request_delay, self.response_delay) if d)

    def _forward(self, data: bytes, dst: asyncio.StreamWriter, conn: _Conn,
                 requests: bool) -> None:
        if self.drop_requests if requests else self.drop_responses:
            conn.tainted = True
            self.dropped_bytes += len(data)
        else:
            dst.write(data)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: _Conn,
                    *, requests: bool) -> None:
        """Forward one direction. Undelayed bytes go at once; delayed ones (and any that arrive
        while some are held, so order is kept) queue for a sender task, so this loop keeps
        reading while they wait."""
        loop = asyncio.get_running_loop()
        held: deque[tuple[float, bytes]] = deque()
        sender: asyncio.Task | None = None
        try:
            while data := await src.read(CHUNK):
                if sender is not None and sender.done():
                    sender.result()  # a failed send ends this direction with its error
                    sender = None
                delay = self.request_delay if requests else self.response_delay
                if not delay and sender is None:
                    self._forward(data, dst, conn, requests)
                    await dst.drain()
                    continue
                held.append((loop.time() + delay.sample_s(self.rng), data))
                if sender is None:
                    sender = asyncio.create_task(self._send_held(held, dst, conn, requests))
            if sender is not None:
                await sender  # what was read before the end still goes out
        finally:
            if sender is not None and not sender.done():
                sender.cancel()
            # One side finished: close both so the other pump ends too.
            conn.close()

    async def _send_held(self, held: deque[tuple[float, bytes]], dst: asyncio.StreamWriter,
                         conn: _Conn, requests: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            while held:
                due, data = held[0]
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                held.popleft()
                self._forward(data, dst, conn, requests)
                await dst.drain()
        except BaseException:
            conn.close()
            raise


async def _answer(conn: _Conn, message: bytes) -> None:
    """The tunnel's own answer to the caller (never subject to a cut)."""
    conn.client.write(message)
    await conn.client.drain()


def _target(head: bytes) -> tuple[str, tuple[str, int] | None]:
    """A proxy request's method and the (host, port) it asks for (None: not a proxy request:
    neither ``CONNECT host:port`` nor an absolute http URL)."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3:
        return "", None
    method, target = parts[0], parts[1]
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        ok = host and port.isascii() and port.isdigit()
        return method, ((host.strip("[]").lower(), int(port)) if ok else None)
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        return method, None
    try:
        return method, (url.hostname, url.port or 80)
    except ValueError:
        return method, None
