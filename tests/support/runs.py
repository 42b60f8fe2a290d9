"""``georep test`` in a process of its own, for the deterministic-run tests: another
``PYTHONHASHSEED`` per run shows any result that depends on a set's iteration order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def georep(*args: str, hash_seed: int = 0, env: dict | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONHASHSEED": str(hash_seed), **(env or {})}
    return subprocess.run([sys.executable, "-m", "georep", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


def run(tmp: Path, *args: str, hash_seed: int = 0, env: dict | None = None,
        code: int | None = 0) -> dict:
    proc = georep("test", *args, "--json", "--regions", str(ROOT / "regions"),
                  "--runs", str(tmp), hash_seed=hash_seed, env=env)
    assert proc.stdout.strip(), proc.stderr
    if code is not None:
        assert proc.returncode == code, proc.stderr[-2000:]
    return json.loads(proc.stdout)
