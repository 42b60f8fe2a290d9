"""Helpers for driving a live lab as a user does: ``georep`` subprocesses and plain boto3."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from georep.aws.clients import Endpoint, sync_client
from georep.runtime.home import LabHome
from georep.runtime.moto import free_port

ROOT = Path(__file__).resolve().parents[2]


def fast_lab() -> str:
    """The repo's lab.toml with short request timeouts (partitions noticed fast)."""
    lab = (ROOT / "regions" / "lab.toml").read_text()
    lab = lab.replace("read_timeout_s = 2.0", "read_timeout_s = 0.5")
    lab = lab.replace("connect_timeout_s = 1.0", "connect_timeout_s = 0.5")
    lab = lab.replace("retry_cap_ms = 2000", "retry_cap_ms = 300")
    return lab.replace("breaker_cooldown_s = 5.0", "breaker_cooldown_s = 1.0")


def make_regions(tmp: Path, names=(("us-east", "us-east-1"), ("eu-west", "eu-west-1"))) -> Path:
    """A regions folder on free ports, with short request timeouts (partitions noticed fast)."""
    d = tmp / "regions"
    d.mkdir()
    (d / "lab.toml").write_text(fast_lab())
    for name, aws in names:
        (d / f"{name}.toml").write_text(
            f'name = "{name}"\naws_region = "{aws}"\nport = {free_port()}\n')
    return d


def georep(home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "georep", *args, "--home", str(home)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def ok(home: Path, *args: str) -> str:
    proc = georep(home, *args)
    assert proc.returncode == 0, f"georep {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def status(home: Path) -> dict:
    return json.loads(ok(home, "status", "--json"))


def state(home: Path) -> dict:
    return json.loads((home / "state.json").read_text())


def plain_client(home: Path, region: str, aws_region: str):
    return sync_client("dynamodb", Endpoint(aws_region, state(home)["regions"][region]))


def force_down(home: Path) -> None:
    """Teardown that never leaks: `georep down`, else SIGKILL the supervisor (children follow),
    once it is verified to be this home's."""
    if georep(home, "down").returncode == 0:
        return
    pid = LabHome(home).supervisor_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_lab(tmp: Path):
    """A live lab (`georep up`) on free ports, its home in ``tmp``; always torn down."""
    home = tmp / "home"
    ok(home, "up", "--regions", str(make_regions(tmp)))
    try:
        yield home
    finally:
        force_down(home)


def item(home: Path, region: str, key: str, table: str = "users"):
    """The item as `georep get --json` prints it, or None if absent."""
    proc = georep(home, "get", region, table, key, "--json")
    return json.loads(proc.stdout) if proc.returncode == 0 else None
