"""A region's moto server: AWS clients only, one request at a time (run by
:class:`~.moto.MotoProcess`).

Place in the data flow: every region the lab starts is one of these (a child process, or a
thread for ``moto="thread"``); the replicators, the write path and the plain clients talk to it.

Why: ``python -m moto.server`` serves each request on its own thread and moto takes no lock.
Its UpdateItem checks the condition, then validates and executes the update expression on the
stored item, and its stream shard numbers a record ``len(records) + start`` before appending
it. Two requests at once can therefore both pass a condition on the same version (a lost
update: the later one overwrites a version its condition never saw, so a region went back to
an older value of its own), and two records can get one sequence number (GetRecords with
AFTER_SEQUENCE_NUMBER of a duplicate returns the second copy again and again: a replicator
never caught up). Real DynamoDB has neither defect. Serialising requests costs little (moto is
CPU-bound Python under one GIL); the request body is read before the lock is taken, so a
partitioned link that stops mid-request never stalls the region.

:class:`Guard` stands in front of both kinds: moto's server reflects any ``Origin`` in CORS
headers, accepts any ``Host`` and serves its control API (``/moto-api/``: dump every table,
reset every region), so a web page in the user's browser could read and wipe the lab, directly
or by DNS rebinding. The guard answers 403 to any request a browser marks (``Origin``,
``Sec-Fetch-*``; AWS SDKs send neither), to preflights, to a ``Host`` that is not loopback and
to the control paths, and strips ``Access-Control-*`` from every answer. The lab needs no
control path: readiness is :data:`READY_PATH` (the guard answers it), and the in-process kind
resets moto's state by a call (:func:`reset_threaded`).
"""

from __future__ import annotations

import argparse
import functools
import io
import threading
from collections.abc import Callable, Iterable
from typing import Any

_THREAD_LOCK = threading.Lock()  # the in-process (thread-kind) servers share moto's state

READY_PATH = "/georep/ready"  # answered by the guard: the server is up (no emulator state read)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})
_BROWSER_MARKS = ("HTTP_ORIGIN", "HTTP_SEC_FETCH_SITE", "HTTP_SEC_FETCH_MODE",
                  "HTTP_SEC_FETCH_DEST")


@functools.lru_cache(maxsize=64)  # a region sees a handful of Host values
def loopback_host(host: str) -> bool:
    """A ``Host`` header naming this machine's loopback: 127.0.0.1, localhost, [::1], any port."""
    if host.endswith("]") or ":" not in host:
        name, port = host, "0"
    else:
        name, _, port = host.rpartition(":")
    return name.lower() in _LOOPBACK and port.isascii() and port.isdigit()


def refusal(environ: dict[str, Any]) -> bytes | None:
    """Why the guard refuses this request (the 403 body), or None to serve it."""
    for key in _BROWSER_MARKS:
        if key in environ:
            return b"refused: requests from a browser are not served\n"
    if environ.get("REQUEST_METHOD") == "OPTIONS":
        return b"refused: no CORS here\n"
    if not loopback_host(environ.get("HTTP_HOST", "")):
        return b"refused: Host must be 127.0.0.1, localhost or [::1]\n"
    if environ.get("PATH_INFO", "").lstrip("/").startswith("moto-api"):
        return b"refused: the emulator's control API is off\n"
    return None


def _answer(start_response, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


class Guard:
    """WSGI middleware: AWS clients on loopback are served; browsers and control paths are not."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        why = refusal(environ)
        if why is not None:
            return _answer(start_response, "403 Forbidden", why)
        if environ.get("PATH_INFO") == READY_PATH:
            return _answer(start_response, "200 OK", b"ready\n")

        def start(status, headers, exc_info=None):  # moto's flask-cors adds them to everything
            headers = [h for h in headers
                       if h[0][:1] not in "Aa" or not h[0].lower().startswith("access-control-")]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class Serialized:
    """WSGI middleware: the wrapped app runs one request at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]],
                 lock: threading.Lock | None = None) -> None:
        self.app = app
        self.lock = lock or threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response) -> list[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if length:  # read the body outside the lock (a cut link may never send the rest)
            body = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(body)
        with self.lock:
            out = self.app(environ, start_response)
            try:
                return list(out)  # the whole response is built inside the lock
            finally:
                close = getattr(out, "close", None)
                if close is not None:
                    close()


def serve_threaded(port: int = 0):
    """A region on a thread of this process: moto's app behind the guard, one request at a time
    (one lock for every such server of this process), on 127.0.0.1. Returns the started werkzeug
    server; stop it with ``shutdown()`` then ``server_close()``."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = Guard(Serialized(DomainDispatcherApplication(create_backend_app), _THREAD_LOCK))
    server = make_server("127.0.0.1", port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name=f"moto-{server.server_port}",
                     daemon=True).start()
    return server


def reset_threaded() -> None:
    """Forget every table, stream and queue in this process's moto state (what moto's
    ``POST /moto-api/reset`` does, which the guard refuses), between requests."""
    from moto.moto_api._internal.models import moto_api_backend

    with _THREAD_LOCK:
        moto_api_backend.reset()


def _lazy_tls(certfile: str, keyfile: str):
    """A server TLS context whose handshake runs on the connection's own thread, at its first
    read. werkzeug's server otherwise shakes hands inside ``accept()``: one caller that
    connects and sends nothing (a link cut mid-connection) would stall every other caller."""
    import ssl

    class LazyHandshake(ssl.SSLContext):
        def wrap_socket(self, sock, *args, **kwargs):
            kwargs["do_handshake_on_connect"] = False
            return super().wrap_socket(sock, *args, **kwargs)

    ctx = LazyHandshake(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def main(argv: list[str] | None = None) -> None:
    import os
    import signal
    import sys

    # Run as a script, this file's folder heads sys.path, and its georep/runtime/moto.py
    # would shadow the moto package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--certfile", help="serve https with this certificate (PEM)")
    parser.add_argument("--keyfile", help="... and this private key (PEM)")
    args = parser.parse_args(argv)
    tls = _lazy_tls(args.certfile, args.keyfile) if args.certfile else None
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = Guard(Serialized(DomainDispatcherApplication(create_backend_app)))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler,
               ssl_context=tls)


if __name__ == "__main__":
    main()
