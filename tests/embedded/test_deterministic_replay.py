"""Deterministic runs, replayed and shrunk (issue: the same seed gives a byte-identical
history): a bug planted through a test-only knob is found by a seeded run, replayed from its run
directory with the same verdict, and shrunk to a smaller run that still fails. Each run is the
CLI in its own process (:mod:`tests.support.runs`)."""

from __future__ import annotations

import json
from pathlib import Path

from georep.engine.apply import SKIP_MERGE_ENV
from georep.harness.replay import command_line, spec_of

from ..support.runs import georep, run


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
