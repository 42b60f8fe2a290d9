"""Regions as in-process moto servers: real DynamoDB (and Streams, SQS) HTTP endpoints.

Place in the data flow: the embedded lab starts one server per region on a free loopback port.
moto keeps state per AWS region id, process-wide, so this module refuses to serve one AWS region
id twice in a process and resets moto's state when the last region of a lab stops.
"""

from __future__ import annotations

import logging
import threading
import urllib.request

from ..errors import LabError

_lock = threading.Lock()
_active: set[str] = set()


def quiet_logs() -> None:
    """moto's server logs every request through werkzeug, even with verbose=False."""
    for name in ("werkzeug", "moto", "botocore.credentials"):
        logging.getLogger(name).setLevel(logging.ERROR)


class MotoRegion:
    """One in-process moto server answering for one AWS region id."""

    def __init__(self, name: str, aws_region: str, port: int = 0) -> None:
        self.name = name
        self.aws_region = aws_region
        self._port = port
        self._server = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        quiet_logs()
        with _lock:
            if self.aws_region in _active:
                raise LabError(
                    f"region {self.name}: AWS region id {self.aws_region} is already served in "
                    "this process (moto shares state per region id); stop the other lab first"
                )
            first = not _active
            _active.add(self.aws_region)
        try:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port,
                                              verbose=False)
            self._server.start()
            if first:  # a lab that died without stopping may have left state behind
                reset(self.url)
        except BaseException:
            with _lock:
                _active.discard(self.aws_region)
            raise

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is None:
            return
        url = self.url
        with _lock:
            _active.discard(self.aws_region)
            last = not _active
        if last:
            reset(url)
        self._server.stop()
        self._server = None


def reset(url: str) -> None:
    """Forget every table, stream and queue in this process's moto state."""
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
