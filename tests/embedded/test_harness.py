"""The harness's expected verdicts on short runs of an embedded lab (issue: Jepsen-style harness).

Each test runs ``georep.harness.session.run_test`` (what ``georep test`` runs) with a fixed seed
and asserts the verdict the workload and policy deserve, with the evidence behind it: the keys,
values and counts the checkers name. The runs are real: moto regions, link proxies, replicators;
deterministic (the default), so a seed that shows the behaviour shows it every time, but for the
outside tester's recipe, which is about races only real time produces.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from georep.aws.conflicts import MUTE_ENV
from georep.harness.session import RunSpec, run_test

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, **kw) -> dict:
    spec = RunSpec(regions=ROOT / "regions", runs=tmp_path / "runs", **kw)
    return asyncio.run(run_test(spec))


def history(results: dict) -> list[dict]:
    path = Path(results["run_dir"]) / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def plain_puts(results: dict) -> list[dict]:
    """The run's ``write`` events of plain AWS clients."""
    path = Path(results["run_dir"]) / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["kind"] == "write" and e["op"] == "plain-put"]


def feed(results: dict) -> list[dict]:
    return next(op["value"] for op in history(results)
                if op["f"] == "conflicts" and op["type"] == "ok")


def test_register_lww_partition_loses_updates_but_names_every_one(tmp_path):
    r = run(tmp_path, workload="register", policy="lww", seed=7, duration=8, rate=20)
    assert feed(r), "no concurrent write was overwritten: the run proves nothing"
    lost_updates = r["checkers"]["lost-updates"]
    assert lost_updates["valid"] is True
    assert lost_updates["accounted"]["in_feed"] > 0  # updates were lost, and every one named
    assert r["checkers"]["convergence"]["valid"] is True
    assert r["valid"] is True
    files = {p.name for p in Path(r["run_dir"]).iterdir()}
    assert {"history.jsonl", "plan.json", "results.json", "events.jsonl"} <= files


def test_plain_clients_beside_georep_one_way_cuts_and_kills_lose_nothing_silently(tmp_path):
    """The outside tester's recipe: writers in both regions, half of them plain AWS clients,
    symmetric and one-way partitions, replicators killed. In real time: the races it is about
    (a replicator's write landing between a plain client's read and its conditional write, a
    kill in the middle of a request) are what the deterministic mode cannot produce."""
    r = run(tmp_path, workload="register", policy="lww", seed=9, duration=10, rate=20,
            options={"writers": "mixed"}, nemeses=("partition", "one-way", "kill"),
            realtime=True)
    assert {f["kind"] for f in r["faults"]} >= {"kill"}
    lost_updates = r["checkers"]["lost-updates"]
    assert lost_updates["valid"] is True and lost_updates["accounted"]["in_feed"] > 0
    assert r["valid"] is True
    # every acknowledged plain write is a write event of the lab's, with no HLC
    acked = {(op["region"], op["value"]["key"], op["value"]["value"]) for op in history(r)
             if op["f"] == "write" and op["type"] == "ok" and op["process"] % 2 == 1}
    events = plain_puts(r)
    assert acked and acked <= {(e["region"], e["key"], e["values"]["v"]) for e in events}
    assert all(e["table"] and e["hlc"] is None for e in events)


def test_register_lww_with_the_feed_muted_is_invalid_and_names_the_keys(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv(MUTE_ENV, "1")
    r = run(tmp_path, workload="register", policy="lww", seed=7, duration=8, rate=20)
    lost = r["checkers"]["lost-updates"]
    assert lost["valid"] is False
    assert r["valid"] is False
    text = json.dumps(lost)
    assert any(f'"r{i}"' in text for i in range(4)), lost


def test_counter_crdt_under_partitions_and_kills_is_exact(tmp_path):
    r = run(tmp_path, workload="counter", policy="crdt", seed=11, duration=8, rate=20,
            nemeses=("partition", "kill"))
    assert {f["kind"] for f in r["faults"]} == {"partition", "kill"}
    assert r["checkers"]["counter"]["valid"] is True
    assert r["valid"] is True
    ops = history(r)
    adds = {}
    for op in ops:
        if op["f"] == "add" and op["type"] == "ok":
            adds[op["value"]["key"]] = adds.get(op["value"]["key"], 0) + op["value"]["delta"]
    assert not any(op["f"] == "add" and op["type"] == "info" for op in ops)
    finals = [op["value"]["items"] for op in ops
              if op["f"] == "final-read" and op["type"] == "ok"]
    for items in finals:  # exact: no operation's outcome was unknown
        for key, total in adds.items():
            assert items[key]["n"] == total


@pytest.mark.parametrize(("mode", "valid"), [("local", False), ("home", True)])
def test_orders_idempotency_record_local_duplicates_home_does_not(tmp_path, mode, valid):
    r = run(tmp_path, workload="orders", policy="lww", seed=5, duration=6, rate=10,
            options={"idempotency": mode})
    dup = r["checkers"]["duplicates"]
    assert dup["valid"] is valid
    assert r["valid"] is valid
    if mode == "home":
        assert r["counts"]["order"]["fail"] > 0, "no clear failure during the partition"
        assert r["checkers"]["lost"]["valid"] is True
        # each claim that won is a plain client's write in the home region
        claims = plain_puts(r)
        assert claims and len({e["region"] for e in claims}) == 1
        assert all(set(e["values"]) == {"order", "amount"} for e in claims)


@pytest.mark.parametrize(("balance", "valid"), [("pncounter", False), ("bcounter", True)])
def test_bank_overdraws_with_a_pn_counter_not_with_a_bounded_one(tmp_path, balance, valid):
    r = run(tmp_path, workload="bank", policy="crdt", seed=3, duration=6, rate=20,
            options={"balance": balance})
    assert r["checkers"]["bank"]["valid"] is valid
    assert r["valid"] is valid
