"""The live lab's home (``.georep/`` or ``$GEOREP_HOME``): lock, pid, token, state, logs, runs.

Place in the data flow: written by the supervisor, read by every CLI command to find the running
lab. A lab runs while its supervisor holds ``lab.lock`` (``flock``, for the process's life):
that, not the pid file, says whether a lab runs, so a garbled or stale pid file never makes a
running lab look crashed. A pid is signalled only once ``/proc`` shows it is this home's
supervisor. ``state.json`` holds the endpoints and ports; ``token`` the control API's secret;
``faults.json`` the active faults, whose clock skew the CLI's writers read
(:meth:`LabHome.skew_ms`).
The home is 0700 and every file in it 0600: the logs and the event log hold item values.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from ..errors import LabError

SUPERVISOR_MODULE = "georep.runtime.supervisor"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,200}")
LAB_NAMES = frozenset({"lab.lock", "supervisor.pid", "token", "state.json", "faults.json",
                       "logs", "runs", "metrics", "links"})
# What a ready state.json holds: field -> (type, type of its values for a map).
STATE_FIELDS: dict[str, tuple[type, type | None]] = {
    "pid": (int, None), "control_port": (int, None), "run_id": (str, None),
    "run_path": (str, None), "regions_dir": (str, None), "regions": (dict, str),
    "links": (dict, int), "region_pids": (dict, int),
}


def default_home() -> Path:
    return Path(os.environ.get("GEOREP_HOME", ".georep"))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def command_line(pid: int) -> list[str] | None:
    """The process's argv, or None if it cannot be read (gone, or not ours to read)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def private_fd(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """Open a file the lab writes, readable by its owner only (also when it existed before)."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


class LabHome:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_home()

    lock_file = property(lambda self: self.path / "lab.lock")
    pid_file = property(lambda self: self.path / "supervisor.pid")
    token_file = property(lambda self: self.path / "token")
    state_file = property(lambda self: self.path / "state.json")
    faults_file = property(lambda self: self.path / "faults.json")  # the active faults
    logs = property(lambda self: self.path / "logs")
    runs = property(lambda self: self.path / "runs")
    metrics_dir = property(lambda self: self.path / "metrics")
    links_dir = property(lambda self: self.path / "links")

    def prepare(self) -> None:
        """Create the home and its folders, mode 0700. A home that holds anything but the
        lab's own files (``--home ~``, say) keeps its mode; what the lab puts in it is private."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if all(p.name in LAB_NAMES or p.name.endswith(".tmp") for p in self.path.iterdir()):
            os.chmod(self.path, 0o700)
        for d in (self.logs, self.runs, self.links_dir, self.metrics_dir):
            d.mkdir(exist_ok=True, mode=0o700)
            os.chmod(d, 0o700)

    def check_files(self) -> None:
        """A one-line LabError if something other than a file stands where a lab file goes."""
        for p in (self.pid_file, self.token_file, self.state_file, self.lock_file):
            if p.exists() and not p.is_file():
                kind = "a directory" if p.is_dir() else "not a regular file"
                raise LabError(f"{p} is {kind}, not the lab's {p.name}; remove it")

    # -- the lock: is a lab running? ---------------------------------------------------------

    def hold(self, wait_s: float = 2.0) -> int:
        """Take the home's lock for the rest of this process's life (the supervisor does).

        The kernel drops it when the process exits, however it exits. Waits ``wait_s`` for a
        CLI command's momentary probe (:meth:`running`) to let go.
        """
        try:
            fd = private_fd(self.lock_file, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise LabError(f"{self.lock_file}: cannot open the lab's lock ({exc.strerror})"
                           ) from None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise LabError(f"a lab is already running in {self.path}") from None
                time.sleep(0.05)

    def running(self) -> bool:
        """True while a supervisor holds the home's lock."""
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise LabError(f"{self.lock_file}: cannot open the lab's lock ({exc.strerror})"
                           ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # and with it the shared lock, if taken
        return False

    # -- pids: which process is this home's supervisor? --------------------------------------

    def pid_in_file(self) -> tuple[int | None, str | None]:
        """The pid the pid file names, or (None, what is wrong with the file)."""
        try:
            text = self.pid_file.read_text(errors="replace").strip()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"{self.pid_file} is unreadable ({exc.strerror})"
        if not text.isdigit() or not 0 < int(text) < 2**22:
            return None, f"{self.pid_file} is garbled ({text[:40]!r} is not a pid)"
        return int(text), None

    def is_supervisor(self, pid: object) -> bool:
        """Whether ``pid`` is a live georep supervisor whose --home is this home."""
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not pid_alive(pid):
            return False
        argv = command_line(pid)
        if not argv or SUPERVISOR_MODULE not in argv or "--home" not in argv[:-1]:
            return False
        home = Path(argv[argv.index("--home") + 1])
        if not home.is_absolute():
            try:
                home = Path(os.readlink(f"/proc/{pid}/cwd")) / home
            except OSError:
                return False
        return os.path.realpath(home) == os.path.realpath(self.path)

    def supervisor_pid(self) -> int | None:
        """The supervisor's pid, verified, from the pid file or state.json; else None."""
        pid, _ = self.pid_in_file()
        if self.is_supervisor(pid):
            return pid
        with contextlib.suppress(LabError):
            state = self.read_state()
            if state is not None and self.is_supervisor(state.get("pid")):
                return state["pid"]
        return None

    def leftover(self) -> str | None:
        """With no lab running: what its pid file says, in words; None without a pid file."""
        pid, problem = self.pid_in_file()
        if problem:
            return problem
        if pid is None:
            return None
        if not pid_alive(pid):
            return f"a stale pid file from a crashed lab: pid {pid} is gone"
        shown = " ".join(command_line(pid) or ["?"])[:80]
        return f"supervisor.pid names pid {pid} ({shown}), which is not this lab's supervisor"

    # -- files -------------------------------------------------------------------------------

    def new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        fd = private_fd(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        return token

    def token(self) -> str:
        try:
            raw = self.token_file.read_bytes()
        except FileNotFoundError:
            raise LabError(f"{self.token_file}: no token; is the lab running?") from None
        except IsADirectoryError:
            raise LabError(f"{self.token_file} is corrupt (a directory, not a file); "
                           "`georep down` stops the lab") from None
        except OSError as exc:
            raise LabError(f"{self.token_file} is unreadable ({exc.strerror})") from None
        token = raw.decode("ascii", errors="replace").strip()
        if not TOKEN.fullmatch(token):
            raise LabError(f"{self.token_file} is corrupt (not a lab token); "
                           "`georep down` stops the lab")
        return token

    def meta_secret(self) -> bytes:
        """The secret that authenticates georep's item metadata in this lab
        (:func:`georep.core.meta.use_secret`): derived from the token, so every process of
        the lab (supervisor, replicators, CLI commands) agrees, and a new lab starts afresh."""
        return hashlib.blake2b(self.token().encode(), digest_size=32,
                               person=b"georep-meta").digest()

    def use_meta_secret(self) -> None:
        """Authenticate item metadata with this lab's secret in this process (one that serves
        this lab only: its supervisor, a replicator, a CLI command)."""
        from ..core.meta import use_secret

        use_secret(self.meta_secret(), process=True)

    def write_json(self, path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        with os.fdopen(private_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as f:
            f.write(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)

    def write_pid(self, pid: int) -> None:
        with os.fdopen(private_fd(self.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as f:
            f.write(str(pid))

    def read_json(self, path: Path) -> dict[str, Any] | None:
        """A JSON object from a file the lab wrote, or None if it is absent or unreadable."""
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def skew_ms(self, region: str) -> int:
        """The running lab's clock skew of ``region`` in ms (0 if none, or no lab): what a
        writer in another process adds to its physical clock, as the embedded lab's
        ``physical_ms`` does. The supervisor keeps it in ``faults.json``."""
        skews = (self.read_json(self.faults_file) or {}).get("skew_ms")
        value = skews.get(region, 0) if isinstance(skews, dict) else 0
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def read_state(self) -> dict[str, Any] | None:
        """state.json, checked: None if absent; a one-line LabError if it is corrupt."""
        def corrupt(why: str) -> LabError:
            return LabError(f"{self.state_file} is corrupt ({why}); `georep down` stops the lab")

        try:
            raw = self.state_file.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise corrupt("a directory, not a file") from None
        except OSError as exc:
            raise corrupt(exc.strerror or str(exc)) from None
        try:
            state = json.loads(raw)
        except ValueError as exc:
            raise corrupt(f"not JSON: {exc}") from None
        if not isinstance(state, dict):
            raise corrupt(f"not a JSON object but {type(state).__name__}")
        if not isinstance(state.get("ready", False), bool):
            raise corrupt("field 'ready' is not true or false")
        if not state.get("ready"):
            return state
        for field, (kind, values) in STATE_FIELDS.items():
            if field not in state:
                raise corrupt(f"field {field!r} is missing")
            value = state[field]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise corrupt(f"field {field!r} is {type(value).__name__}, not {kind.__name__}")
            if values and not all(isinstance(v, values) and not isinstance(v, bool)
                                  for v in value.values()):
                raise corrupt(f"field {field!r} holds a value that is not {values.__name__}")
        if not 0 < state["control_port"] < 65536:
            raise corrupt(f"field 'control_port' is {state['control_port']}, not a port")
        return state

    def stale(self) -> bool:
        """Files of a lab that is gone (no supervisor holds the lock)."""
        return (self.pid_file.exists() or self.state_file.exists()) and not self.running()

    def clear(self) -> None:
        """Forget a lab that is gone (its pid, state and per-link files). Only call it while
        no lab runs (the caller checked :meth:`running`, or holds the lock itself)."""
        for p in (self.pid_file, self.state_file, self.faults_file):
            p.unlink(missing_ok=True)
        for d in (self.links_dir, self.metrics_dir):
            if d.is_dir():
                for f in d.iterdir():
                    if not f.is_dir():
                        f.unlink(missing_ok=True)

    def state(self) -> dict[str, Any]:
        """The running lab's state, or a one-line LabError saying why there is none."""
        if not self.running():
            found = self.leftover()
            if found and found.startswith("a stale pid file"):
                raise LabError(f"the lab in {self.path} is not running ({found}); start a new "
                               "one with `georep up`")
            raise LabError(f"no lab is running in {self.path}" + (f" ({found})" if found else "")
                           + "; start one with `georep up`")
        state = self.read_state()
        if state is None or not state.get("ready"):
            if state and state.get("error"):
                raise LabError(f"the lab in {self.path} failed to start: {state['error']}")
            raise LabError(f"the lab in {self.path} is still starting; try again in a moment")
        return state
