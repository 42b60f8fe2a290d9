"""The live lab's home folder (``.georep/`` or ``$GEOREP_HOME``): pid, token, state, logs, runs.

Place in the data flow: written by the supervisor, read by every CLI command to find the running
lab. ``state.json`` holds the endpoints and ports; ``token`` (mode 0600) the control API's secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import LabError


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


class LabHome:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_home()

    pid_file = property(lambda self: self.path / "supervisor.pid")
    token_file = property(lambda self: self.path / "token")
    state_file = property(lambda self: self.path / "state.json")
    logs = property(lambda self: self.path / "logs")
    runs = property(lambda self: self.path / "runs")
    metrics_dir = property(lambda self: self.path / "metrics")
    links_dir = property(lambda self: self.path / "links")

    def prepare(self) -> None:
        for d in (self.path, self.logs, self.runs, self.links_dir):
            d.mkdir(parents=True, exist_ok=True)

    def new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        os.chmod(self.token_file, 0o600)
        return token

    def token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except FileNotFoundError:
            raise LabError(f"{self.token_file}: no token; is the lab running?") from None

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
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)

    def read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def running_pid(self) -> int | None:
        """The supervisor's pid if it is alive; None if no lab or a stale pid file."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def stale(self) -> bool:
        return self.pid_file.exists() and self.running_pid() is None

    def clear(self) -> None:
        """Forget a lab that is gone (its pid, state and per-link files)."""
        for p in (self.pid_file, self.state_file):
            p.unlink(missing_ok=True)
        for d in (self.links_dir, self.metrics_dir):
            if d.is_dir():
                for f in d.iterdir():
                    f.unlink(missing_ok=True)

    def state(self) -> dict[str, Any]:
        """The running lab's state, or a one-line LabError saying why there is none."""
        if self.running_pid() is None:
            if self.stale():
                raise LabError(f"the lab in {self.path} is not running (stale pid file from a "
                               "crashed lab); start a new one with `georep up`")
            raise LabError(f"no lab is running in {self.path}; start one with `georep up`")
        state = self.read_json(self.state_file)
        if not state or not state.get("ready"):
            raise LabError(f"the lab in {self.path} is still starting; try again in a moment")
        return state
