"""The link proxy: an asyncio TCP proxy in front of a destination region, one per directed link.

Place in the data flow: everything region ``src`` sends to region ``dst`` (replicator applies,
cross-region client traffic) connects to the ``src→dst`` proxy, which forwards to ``dst``'s
endpoint. Faults live here and nowhere else.

A cut link *blackholes*: connections are accepted and held, bytes are read and dropped, so
callers wait until their own timeout, as in a real partition. Requests (src's bytes to dst) and
responses (dst's bytes back) can be dropped separately: a one-way cut of the byte direction
A→B drops requests on the A→B link and responses on the B→A link. A connection that lost bytes
is broken (its HTTP framing is gone), so healing closes it; callers reconnect.
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

CHUNK = 65536


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
    def __init__(self, src: str, dst: str, upstream_host: str, upstream_port: int) -> None:
        self.src = src
        self.dst = dst
        self.upstream = (upstream_host, upstream_port)
        self.drop_requests = False
        self.drop_responses = False
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
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)

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

    def partition(self, *, requests: bool = True, responses: bool = True) -> None:
        self.drop_requests = self.drop_requests or requests
        self.drop_responses = self.drop_responses or responses

    def heal(self) -> None:
        self.drop_requests = self.drop_responses = False
        for c in [c for c in self._conns if c.tainted]:
            c.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            try:
                up_reader, conn.upstream = await asyncio.open_connection(*self.upstream)
            except OSError:
                return  # destination down: the caller sees the connection close
            await asyncio.gather(
                self._pump(reader, conn.upstream, conn, "drop_requests"),
                self._pump(up_reader, writer, conn, "drop_responses"),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            conn.close()
            self._conns.discard(conn)
            self._tasks.discard(task)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: _Conn,
                    drop: str):
        try:
            while data := await src.read(CHUNK):
                if getattr(self, drop):
                    conn.tainted = True
                    self.dropped_bytes += len(data)
                    continue
                dst.write(data)
                await dst.drain()
        finally:
            # One side finished: close both so the other pump ends too.
            conn.close()
