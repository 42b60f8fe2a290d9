"""Regions as moto servers: real DynamoDB (and Streams, SQS) HTTP endpoints on loopback.

Place in the data flow: the embedded lab starts one server per region on a free loopback port,
either as a child process (:class:`MotoProcess`, the default: the region's work runs on its own
core, as a real region's would) or as a thread of this process (:class:`MotoRegion`: faster to
start, but it shares this process's GIL with the replicators, which halves every rate). Both
kinds serve moto behind :mod:`.motoserve`'s guard: AWS clients on loopback only.

moto keeps state per AWS region id, process-wide, so the threaded kind refuses to serve one AWS
region id twice in a process and resets moto's state when the last region of a lab stops.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import LabError
from .home import private_fd
from .motoserve import READY_PATH, reset_threaded, serve_threaded

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

    def spawn(self) -> None:
        """Nothing to spawn: the server starts in :meth:`wait_ready`, on a thread."""

    def wait_ready(self, timeout: float = 20.0) -> None:
        self.start()

    def start(self) -> None:
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
            if first:  # a lab that died without stopping may have left state behind
                reset_threaded()
            self._server = serve_threaded(self._port)  # guarded, serialised: see motoserve
        except BaseException:
            with _lock:
                _active.discard(self.aws_region)
            raise

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with _lock:
            _active.discard(self.aws_region)
            last = not _active
        if last:
            reset_threaded()


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that spawned it dies (Linux).

    Spawn from the main thread: the signal fires when the spawning *thread* ends.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoProcess:
    """One ``python -m moto.server`` child process answering for one region."""

    def __init__(self, name: str, aws_region: str, port: int = 0,
                 log: Path | None = None, tls: tuple[str, str] | None = None) -> None:
        self.name = name
        self.aws_region = aws_region
        self._port = port
        self._log = log
        self._proc: subprocess.Popen | None = None
        self.tls = tls  # (certificate, key) PEM files: serve https (a stand-in external region)

    def start(self, timeout: float = 20.0) -> None:
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the process (call from the main thread); :meth:`wait_ready` waits for it."""
        port = self._port or free_port()
        # The log holds request bodies, item values among them: the owner's only.
        out = os.fdopen(private_fd(self._log), "ab") if self._log else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(
                # not ``-m moto.server``: it runs requests concurrently, and moto's conditional
                # writes and stream sequence numbers are not atomic (see motoserve.py; run as a
                # script, so the child does not import georep)
                [sys.executable, str(Path(__file__).with_name("motoserve.py")), "-H",
                 "127.0.0.1", "-p", str(port),
                 *(("--certfile", self.tls[0], "--keyfile", self.tls[1]) if self.tls else ())],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=die_with_parent)
        finally:
            if self._log:
                out.close()
        self._port = port

    def wait_ready(self, timeout: float = 20.0) -> None:
        port = self._port
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise LabError(f"region {self.name}: moto server exited with code "
                               f"{self._proc.returncode} (is port {port} free?)")
            ctx = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
            try:
                with urllib.request.urlopen(f"{self.url}{READY_PATH}", timeout=1, context=ctx):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise LabError(f"region {self.name}: moto server not answering on port "
                                   f"{port} after {timeout}s") from None
                time.sleep(0.05)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        if self.tls:  # the certificate names localhost
            return f"https://localhost:{self._port}"
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
