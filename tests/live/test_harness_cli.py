"""``georep test`` and ``georep check`` from the command line: the seed and run directory
printed, the same schedule from the same seed, the verdict as the exit code, hand-edited
histories turned invalid, bad arguments refused in one line, and a run against a live lab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..support.live import ROOT, running_lab


def georep(*args: str, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "georep", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_run(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = georep("test", *args, "--json", "--regions", str(ROOT / "regions"),
                  "--runs", str(tmp / "runs"))
    assert proc.stdout.strip(), proc.stderr
    return proc, json.loads(proc.stdout)


test_run.__test__ = False  # a helper, not a test


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def schedule(run_dir: Path) -> list[tuple]:
    """What the seed decides: each process's invoked operations in order, the faults."""
    ops = lines(run_dir / "history.jsonl")
    invokes = [(op["process"], op["f"], json.dumps(op["value"], sort_keys=True))
               for op in ops if op["type"] == "invoke" and op["process"] != "final"]
    return sorted(invokes, key=lambda t: str(t[0]))


@pytest.fixture(scope="module")
def register_runs(tmp_path_factory):
    """The issue's command, run twice with the same seed (shortened to 8 s)."""
    tmp = tmp_path_factory.mktemp("harness-cli")
    return [test_run(tmp / str(n), "--workload", "register", "--policy", "lww",
                     "--nemesis", "partition", "--seed", "7", "--duration", "8")
            for n in (1, 2)]


def test_the_verdict_the_seed_and_the_run_directory_are_printed(register_runs):
    proc, results = register_runs[0]
    assert proc.returncode == 0, proc.stderr
    assert results["valid"] is True and results["seed"] == 7
    assert "seed 7" in proc.stderr
    assert f"run directory {results['run_dir']}" in proc.stderr
    run_dir = Path(results["run_dir"])
    assert {"history.jsonl", "plan.json", "results.json", "latency.png", "rate.png",
            "divergence.png"} <= {p.name for p in run_dir.iterdir()}
    assert json.loads((run_dir / "results.json").read_text())["valid"] is True


def test_the_same_seed_gives_the_same_schedule_of_operations_and_faults(register_runs):
    (_, a), (_, b) = register_runs
    da, db = Path(a["run_dir"]), Path(b["run_dir"])
    assert (da / "plan.json").read_bytes() == (db / "plan.json").read_bytes()
    assert schedule(da) == schedule(db)
    assert [(f["kind"], f["target"]) for f in a["faults"]] == \
        [(f["kind"], f["target"]) for f in b["faults"]]


def test_check_gives_the_same_verdict_and_a_removed_write_makes_it_invalid(register_runs,
                                                                         tmp_path):
    run_dir = Path(register_runs[0][1]["run_dir"])
    again = georep("check", str(run_dir), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["valid"] is True
    ops = lines(run_dir / "history.jsonl")
    written = {op["value"]["key"] for op in ops if op["f"] == "write" and op["type"] == "ok"}
    key = sorted(written)[0]
    for op in ops:  # the key's acknowledged write is gone from every region's final read
        if op["f"] == "final-read" and op["type"] == "ok":
            op["value"]["items"][key] = None
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(op) + "\n" for op in ops))
    proc = georep("check", str(edited), "--json")
    verdict = json.loads(proc.stdout)
    assert proc.returncode == 1 and verdict["valid"] is False
    assert verdict["checkers"]["lost"]["valid"] is False
    assert key in json.dumps(verdict["checkers"]["lost"])


def test_a_run_with_no_operation_is_unknown_not_valid(tmp_path):
    proc, results = test_run(tmp_path, "--rate", "0.1", "--duration", "2", "--nemesis", "none",
                             "--seed", "1")
    assert results["operations"] == 0
    assert proc.returncode == 2 and results["valid"] == "unknown"
    assert "no client operation" in results["reason"]


def test_a_duplicate_order_added_to_a_final_read_makes_it_invalid(tmp_path):
    proc, results = test_run(tmp_path, "--workload", "orders", "--policy", "lww",
                             "--option", "idempotency=home", "--nemesis", "none",
                             "--seed", "3", "--duration", "4")
    assert proc.returncode == 0 and results["checkers"]["duplicates"]["valid"] is True
    ops = lines(Path(results["run_dir"]) / "history.jsonl")
    final = next(op for op in ops if op["f"] == "final-read" and op["type"] == "ok")
    order = next(iter(final["value"]["items"].values()))
    final["value"]["items"]["o-copy"] = {**order, "id": "o-copy"}
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(op) + "\n" for op in ops))
    proc = georep("check", str(edited))
    assert proc.returncode == 1, proc.stdout
    assert "INVALID" in proc.stdout and order["idem"] in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["test", "--workload", "queue"], "unknown workload 'queue'"),
    (["test", "--nemesis", "partition,meteor"], "unknown nemesis 'meteor'"),
    (["test", "--option", "idempotency"], "write it as NAME=VALUE"),
    (["test", "--workload", "bank", "--option", "colour=red"], "has no option 'colour'"),
    (["test", "--workload", "counter", "--policy", "lww"], "runs on policy crdt"),
    (["test", "--policy", "crdt", "--option", "writers=plain"], "writers is georep on policy"),
    (["test", "--duration", "-1"], "--duration must be a positive"),
    (["test", "--rate", "0"], "--rate must be a positive, finite number of operations"),
    (["test", "--rate", "1e7"], "at most 100000 operations"),
    (["test", "--regions", "/nonexistent"], "no such regions folder"),
    (["check", "/nonexistent/history.jsonl"], "no such history file"),
    (["test", "--live", "--home", "/nonexistent-home"], "no lab is running"),
])
def test_bad_arguments_are_one_line_errors(args, message):
    proc = georep(*args, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2


INVOKE = '{"process": 0, "type": "invoke", "f": "read", "value": null}\n'


@pytest.mark.parametrize(("text", "message"), [
    (INVOKE + "not json\n", "line 2"),
    (INVOKE + INVOKE, "process 0 invokes while its invoke at index 0 is outstanding"),
])
def test_a_malformed_history_is_named_in_one_line(tmp_path, text, message):
    bad = tmp_path / "h.jsonl"
    bad.write_text(text)
    proc = georep("check", str(bad))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_run_against_a_live_lab_with_a_replicator_killed(tmp_path):
    with running_lab(tmp_path) as home:
        proc = georep("test", "--live", "--home", str(home), "--workload", "register",
                      "--nemesis", "partition,kill", "--seed", "5", "--duration", "6",
                      "--runs", str(tmp_path / "runs"), "--json")
        results = json.loads(proc.stdout)
        assert proc.returncode == 0, (proc.stderr, results["checkers"])
        assert {f["kind"] for f in results["faults"]} == {"partition", "kill"}
        assert all("error" not in f for f in results["faults"])
        events = lines(Path(json.loads((home / "state.json").read_text())["run_path"])
                       / "events.jsonl")
        assert any(e["kind"] == "replicator-kill" for e in events)
        # the run directory keeps this run's part of the lab's events, and plots it
        ours = lines(Path(results["run_dir"]) / "events.jsonl")
        writes = [e for e in ours if e["kind"] == "write"]
        assert writes and all(e["key"].startswith("test-") for e in writes)
        assert "divergence.png" in results["plots"]


def test_the_live_lab_needs_a_table_for_the_workload(tmp_path):
    with running_lab(tmp_path) as home:
        proc = georep("test", "--live", "--home", str(home), "--workload", "counter",
                      "--policy", "crdt", "--duration", "2")
        assert proc.returncode == 2
        assert "no table for the workload's counter" in proc.stderr
        assert "[tables.georep_test_counter]" in proc.stderr


