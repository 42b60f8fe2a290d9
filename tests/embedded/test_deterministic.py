"""Deterministic runs (issue: the same seed gives a byte-identical history).

``georep test`` on the embedded lab runs client operations, replicator steps and faults one at
a time on a virtual clock, in an order drawn from the seed, against real moto regions. Each run
here is the CLI in its own process, with another ``PYTHONHASHSEED`` each time (a set iterated in
hash order would show up as a difference), and the files are compared byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from georep.harness.replay import compare

from ..support.runs import run

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


def test_realtime_is_still_there(tmp_path):
    r = run(tmp_path, "--workload", "register", "--policy", "lww", "--nemesis", "partition",
            "--duration", "4", "--seed", "5", "--realtime")
    assert r["mode"] == "realtime" and "virtual_s" not in r
    assert r["config"]["realtime"] is True
    assert r["valid"] is True
