"""Deterministic runs (issue: the same seed gives a byte-identical history).

``georep test`` on the embedded lab runs client operations, replicator steps and faults one at
a time on a virtual clock, in an order drawn from the seed, against real moto regions. Each run
here is the CLI in its own process, with another ``PYTHONHASHSEED`` each time (a set iterated in
hash order would show up as a difference), and the files are compared byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from georep.engine.apply import SKIP_MERGE_ENV
from georep.harness.replay import command_line, compare, spec_of

ROOT = Path(__file__).resolve().parents[2]

# each workload with the faults that exercise it most (kill: a replicator crash and restart;
# one-way: requests that arrive while their replies are lost; flap, skew, latency, isolate)
WORKLOADS = {
    "register": ["--policy", "lww", "--nemesis", "partition,kill", "--option", "writers=mixed"],
    "counter": ["--policy", "crdt", "--nemesis", "one-way,skew"],
    "set": ["--policy", "crdt", "--nemesis", "flap"],
    "bank": ["--policy", "crdt", "--option", "balance=bcounter", "--nemesis",
             "isolate,latency"],
    "orders": ["--policy", "lww", "--option", "idempotency=home", "--nemesis", "partition"],
}


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


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_the_same_seed_twice_gives_the_same_bytes(tmp_path, workload):
    args = ["--workload", workload, *WORKLOADS[workload], "--duration", "3", "--seed", "11"]
    a = run(tmp_path / "a", *args, hash_seed=1, code=None)
    b = run(tmp_path / "b", *args, hash_seed=2, code=None)
    da, db = Path(a["run_dir"]), Path(b["run_dir"])
    assert a["operations"] > 10 and a["faults"], "the run tested nothing"
    assert a["mode"] == "deterministic" and a["virtual_s"] >= 3
    for name in ("history.jsonl", "results.json", "plan.json"):
        assert compare(da / name, db / name)["identical"], name
    # the wall-clock facts are kept out of those files, in run.json
    results = (da / "results.json").read_text()
    assert a["run_id"] not in results and "started_at" not in results
    assert json.loads((da / "run.json").read_text())["run_id"] == a["run_id"]


def test_two_seeds_give_two_interleavings(tmp_path):
    args = ["--workload", "register", "--policy", "lww", "--nemesis", "partition",
            "--duration", "3"]
    a = run(tmp_path / "a", *args, "--seed", "1")
    b = run(tmp_path / "b", *args, "--seed", "2")
    ha = (Path(a["run_dir"]) / "history.jsonl").read_bytes()
    hb = (Path(b["run_dir"]) / "history.jsonl").read_bytes()
    assert ha != hb


def test_a_planted_bug_is_found_and_replayed_from_its_run_directory(tmp_path):
    """The apply step skips the merge for key r0 (a test-only knob): a version from the other
    region overwrites whatever r0 holds, unmerged and unrecorded. A deterministic run finds
    it; ``--replay`` re-runs the run directory and gets the same history and verdict."""
    planted = {SKIP_MERGE_ENV: "r0"}
    args = ["--workload", "register", "--policy", "lww", "--nemesis", "partition",
            "--duration", "4", "--seed", "1"]
    clean = run(tmp_path / "clean", *args)
    assert clean["valid"] is True  # the same run without the bug
    found = run(tmp_path / "found", *args, env=planted, code=1)
    lost = found["checkers"]["lost-updates"]
    assert lost["valid"] is False and {x["key"] for x in lost["lost"]} == {"r0"}

    proc = georep("test", "--replay", found["run_dir"], "--json", hash_seed=3, env=planted)
    assert proc.returncode == 1, proc.stderr[-2000:]  # matched: the run's verdict, invalid
    replayed = json.loads(proc.stdout)
    assert replayed["replay"]["matched"] is True
    assert replayed["replay"]["verdict"] == {"recorded": False, "replayed": False}
    assert replayed["checkers"]["lost-updates"]["lost"] == lost["lost"]

    # replayed without the bug, the history is another one: exit 3 says so
    proc = georep("test", "--replay", found["run_dir"], "--json", hash_seed=4)
    assert proc.returncode == 3, proc.stderr[-2000:]
    again = json.loads(proc.stdout)["replay"]
    assert again["matched"] is False and again["history"]["first_difference"] > 0
    assert again["verdict"] == {"recorded": False, "replayed": True}


def test_shrink_reports_a_smaller_failing_run_and_its_command(tmp_path):
    planted = {SKIP_MERGE_ENV: "r0"}
    r = run(tmp_path, "--workload", "register", "--policy", "lww", "--nemesis", "partition",
            "--duration", "4", "--seed", "1", "--shrink", "--shrink-runs", "1", env=planted,
            code=1)
    smallest = r["shrink"]["smallest"]
    assert r["shrink"]["runs"] == 1
    assert smallest["operations"] < r["operations"]
    assert "lost-updates" in smallest["checkers"]
    again = spec_of(Path(smallest["run_dir"]))
    assert command_line(again) == smallest["command"]
    assert json.loads((Path(smallest["run_dir"]) / "results.json").read_text())["valid"] is False


def test_replay_of_something_else_is_one_line(tmp_path):
    proc = georep("test", "--replay", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith("a run directory?)")
    assert "Traceback" not in proc.stderr


def test_realtime_is_still_there(tmp_path):
    r = run(tmp_path, "--workload", "register", "--policy", "lww", "--nemesis", "partition",
            "--duration", "4", "--seed", "5", "--realtime")
    assert r["mode"] == "realtime" and "virtual_s" not in r
    assert r["config"]["realtime"] is True
    assert r["valid"] is True
