"""HTTP/1.1 message framing over an asyncio stream: where one request or response ends.

Place in the data flow: the link proxy's exchange mode (:class:`~georep.engine.proxy.LinkProxy`
with ``exchange=True``) reads each request from its caller and each response from the
destination region with :func:`read_request` and :func:`read_response`, then forwards the
messages' bytes as they came (a response's hop-by-hop ``Connection`` fields aside,
:attr:`Response.hop_head`). Nothing here parses more than framing needs (RFC 9112
section 6): the start line, ``Content-Length``, ``Transfer-Encoding: chunked``, ``Connection``.

A head is read up to ``\\r\\n\\r\\n`` within the reader's limit (:data:`HEAD_LIMIT`: give it to
``asyncio.start_server`` / ``open_connection``). Anything malformed, or a stream that ends inside
a message, raises :class:`FrameError`; a stream that ends cleanly between messages reads as None.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

HEAD_LIMIT = 65536  # bytes of head (and of one chunk-size line) before the peer is malformed
_HEX = frozenset("0123456789abcdefABCDEF")


class FrameError(Exception):
    """The peer sent something that is not an HTTP/1.x message (or stopped inside one)."""


@dataclass(frozen=True)
class Request:
    data: bytes  # the whole request as it came: head and body
    method: str
    close: bool  # the caller asked to end the connection after this exchange


@dataclass(frozen=True)
class Response:
    interim: bytes  # any interim (1xx) responses before the final one, as they came
    head: bytes  # the final response's head, as it came
    body: bytes
    status: int
    close: bool  # the destination ends its connection after this response
    hop_head: bytes | None  # the head for a caller kept connected (see _hop_head), or None

    @property
    def data(self) -> bytes:
        return self.interim + self.head + self.body


@dataclass(frozen=True)
class _Head:
    start: list[str]
    version: str
    headers: dict[str, list[str]]  # lower-case names

    def values(self, name: str) -> list[str]:
        return self.headers.get(name, [])

    def tokens(self, name: str) -> list[str]:
        return [t.strip().lower() for v in self.values(name) for t in v.split(",") if t.strip()]

    def wants_close(self) -> bool:
        connection = self.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" not in connection
        return "close" in connection


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip(b"\r\n"):
            return None  # ended between messages (stray line ends are allowed there)
        raise FrameError("the stream ended inside a message head") from None
    except asyncio.LimitOverrunError:
        raise FrameError(f"no end of head within {HEAD_LIMIT} bytes") from None


def _parse_head(raw: bytes, *, response: bool) -> _Head:
    lines = raw.lstrip(b"\r\n").decode("latin-1").split("\r\n")
    start = lines[0].split(" ", 2)
    if response:
        ok = (len(start) >= 2 and start[0].startswith("HTTP/1.") and len(start[1]) == 3
              and start[1].isdigit())
        start += [""] * (3 - len(start))
    else:
        ok = len(start) == 3 and start[2].startswith("HTTP/1.") and start[0].isalpha()
    if not ok:
        raise FrameError(f"bad start line {lines[0][:80]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise FrameError(f"bad header line {line[:80]!r}")
        headers.setdefault(name.lower(), []).append(value.strip())
    return _Head(start, start[0] if response else start[2], headers)


def _content_length(head: _Head) -> int | None:
    values = {t.strip() for v in head.values("content-length") for t in v.split(",")}
    if not values:
        return None
    if len(values) > 1 or not all(v.isdigit() for v in values):
        raise FrameError(f"bad Content-Length {sorted(values)!r}")
    return int(values.pop())


def _chunked(head: _Head) -> bool | None:
    """True: chunked; False: another transfer coding last (a body to the end); None: none."""
    codings = head.tokens("transfer-encoding")
    if not codings:
        return None
    return codings[-1] == "chunked"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        line = await _read_line(reader)
        out += line
        size_text = line.split(b";", 1)[0].strip().decode("latin-1")
        if not size_text or not set(size_text) <= _HEX:
            raise FrameError(f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        data = await reader.readexactly(size + 2)
        if not data.endswith(b"\r\n"):
            raise FrameError("a chunk does not end with CRLF")
        out += data
    while (trailer := await _read_line(reader)) != b"\r\n":
        out += trailer
    return bytes(out + b"\r\n")


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise FrameError(f"no line end within {HEAD_LIMIT} bytes") from None


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next whole request, or None when the caller closed the connection between
    requests. Raises FrameError (malformed, or cut off) or ConnectionError."""
    raw = await _read_head(reader)
    if raw is None:
        return None
    head = _parse_head(raw, response=False)
    try:
        chunked = _chunked(head)
        if chunked is False:
            raise FrameError("a request body must be chunked or have a Content-Length")
        if chunked:
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(_content_length(head) or 0)
    except asyncio.IncompleteReadError:
        raise FrameError("the caller stopped inside a request body") from None
    return Request(raw + body, head.start[0], head.wants_close())


async def read_response(reader: asyncio.StreamReader, *, method: str) -> Response:
    """The whole response to a request made with ``method``: interim (1xx) responses and the
    final one. Raises FrameError (malformed, or the stream ended before it did)."""
    interim = bytearray()
    while True:
        raw = await _read_head(reader)
        if raw is None:
            raise FrameError("the destination closed without a response")
        head = _parse_head(raw, response=True)
        status = int(head.start[1])
        if status == 101:
            raise FrameError("protocol upgrades are not proxied")
        if status >= 200:
            break
        interim += raw
    to_eof = False
    try:
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif (chunked := _chunked(head)) is not None:
            body = await _read_chunked(reader) if chunked else await reader.read()
            to_eof = not chunked
        elif (length := _content_length(head)) is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()  # close-delimited: the body runs to the end
            to_eof = True
    except asyncio.IncompleteReadError:
        raise FrameError("the destination stopped inside a response body") from None
    return Response(bytes(interim), raw, body, status, to_eof or head.wants_close(),
                    None if to_eof else _hop_head(raw, head))


def _hop_head(raw: bytes, head: _Head) -> bytes | None:
    """The head to give a caller whose connection stays open, or None if it must close too.

    ``Connection`` is hop-by-hop (RFC 9110 section 7.6.1): the fields it names and itself are
    removed, so the destination closing its connection (werkzeug, hence moto, closes after
    every response) does not close the caller's. An HTTP/1.0 response goes as it came: its
    caller assumes the connection closes."""
    if head.version != "HTTP/1.1":
        return None
    named = {"connection", "keep-alive", *head.tokens("connection")}
    named -= {"content-length", "transfer-encoding"}  # framing is never hop-by-hop
    start, *lines = raw.lstrip(b"\r\n")[:-4].split(b"\r\n")
    kept = [ln for ln in lines if ln.split(b":", 1)[0].decode("latin-1").lower() not in named]
    return b"\r\n".join([start, *kept]) + b"\r\n\r\n"
