"""A moto server that executes one request at a time (run as a script by :class:`MotoProcess`).

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
"""

from __future__ import annotations

import argparse
import io
import threading
from collections.abc import Callable, Iterable
from typing import Any

_THREAD_LOCK = threading.Lock()  # the in-process (thread-kind) servers share moto's state


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


def serialize_threaded(server) -> None:
    """Make a started ``moto.server.ThreadedMotoServer`` serve one request at a time (one lock
    for every such server of this process)."""
    wsgi = server._server  # werkzeug's server: each request calls ``self.server.app``
    if not isinstance(wsgi.app, Serialized):
        wsgi.app = Serialized(wsgi.app, _THREAD_LOCK)


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
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
