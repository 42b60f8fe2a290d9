"""One test body, two runtimes: the embedded lab and a client of a live lab (`georep up`) both
satisfy the lab interface (georep.runtime.surface.LabSurface), so a partition test written
against it runs on either."""

from __future__ import annotations

import json
from pathlib import Path

from georep.runtime.events import read_events
from georep.runtime.surface import LabSurface

from ..support.live import ok

A, B = "us-east", "eu-west"


async def test_a_one_way_cut_heals_and_converges_with_the_loser_in_the_feed(any_lab):
    lab = any_lab
    assert isinstance(lab, LabSurface)
    lab.partition(A, B, one_way=True)
    assert lab.link_state()[f"{A}>{B}"] != "open"
    await lab.put(A, "users", "k", {"v": "from A"})
    await lab.put(B, "users", "k", {"v": "from B"})
    await lab.put(A, "users", "only-a", {"v": 1})
    await lab.put(B, "users", "only-b", {"v": 2})
    lab.heal()
    assert set(lab.link_state().values()) == {"open"}
    await lab.settle(60)
    assert await lab.diverged("users") == {}
    for region in (A, B):
        assert await lab.get(region, "users", "only-a") == {"id": "only-a", "v": 1}
        assert await lab.get(region, "users", "only-b") == {"id": "only-b", "v": 2}
    final = await lab.get(A, "users", "k")
    assert final["v"] in ("from A", "from B")
    feed = await lab.conflicts("users", "k")
    assert feed, "the overwritten write must be named in the conflict feed"
    losers = {json.dumps(lo["value"], sort_keys=True) for e in feed for lo in e["losers"]}
    lost = {"id": "k", "v": "from B" if final["v"] == "from A" else "from A"}
    assert json.dumps(lost, sort_keys=True) in losers
    writes = [e for e in lab.run_events() if e["kind"] == "write" and e["key"] == "k"]
    assert sorted(e["region"] for e in writes) == [B, A]
    report = await lab.reconcile(timeout=60)
    assert report["verified"]


async def test_a_killed_replicator_resumes_after_a_start(any_lab):
    lab = any_lab
    await lab.kill_replicator(A, B)
    await lab.put(A, "users", "while-dead", {"v": 1})
    await lab.start_replicator(A, B)
    await lab.settle(60)
    assert await lab.get(B, "users", "while-dead") == {"id": "while-dead", "v": 1}


def test_cli_writes_leave_write_events_in_the_live_runs_event_log(lab):
    from ..support.live import state

    ok(lab, "put", A, "users", "u1", "name=Ann", "n:=5")
    ok(lab, "delete", B, "users", "u1")
    events = read_events(Path(state(lab)["run_path"]) / "events.jsonl")
    writes = [e for e in events if e["kind"] == "write"]
    assert [(e["op"], e["region"], e["key"]) for e in writes] == [
        ("put", A, "u1"), ("delete", B, "u1")]
    assert writes[0]["values"] == {"name": "Ann", "n": 5} and writes[0]["hlc"]
