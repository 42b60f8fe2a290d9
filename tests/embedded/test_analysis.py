"""georep.analysis on a real short run (deterministic, vclock register, two partitions), its
numbers checked against what the run itself recorded; and ``georep report`` on it."""

from __future__ import annotations

import json

import pytest

from georep import analysis
from georep.analysis.compare import feed_entries, sibling_keys

from ..support.runs import georep, run


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analysis")
    out = run(tmp, "--workload", "register", "--policy", "vclock", "--nemesis", "partition",
              "--seed", "5", "--duration", "6", code=None)
    return analysis.load(out["run_dir"]), out


def test_the_frames_hold_what_the_files_hold(loaded):
    run_, out = loaded
    lines = (run_.path / "history.jsonl").read_text().splitlines()
    assert len(run_.history()) == len(lines)
    events = run_.events()
    kinds = events["kind"].value_counts()
    ok_writes = out["counts"]["write"]["ok"]
    assert out["counts"]["write"]["info"] == 0  # else a write event may lack its ok
    assert kinds["write"] == ok_writes
    assert run_.regions == ["eu-west", "us-east"]
    # times are seconds since the history's 0: the first operation's invoke is close to it
    assert 0 <= run_.history()["t"].iloc[0] < 1
    assert (events["t"] <= run_.end).all()


def test_lag_is_one_row_per_apply_and_its_phases_follow_the_cuts(loaded):
    run_, _ = loaded
    lag = run_.lag()
    applies = [e for e in run_.raw_events if e["kind"] == "apply"]
    assert len(lag) == len(applies) > 0
    assert (lag["lag_ms"] >= 0).all()
    assert set(lag["phase"]) <= {"before", "during", "after"}
    table = run_.lag_percentiles()
    assert (table["p50"] <= table["p99"]).all() and table["n"].sum() == len(lag)
    # a version written during a cut waits in the DLQ until the heal: longer than the
    # longest lag of a version written before any cut
    if {"before", "during"} <= set(lag["phase"]):
        assert (lag[lag.phase == "during"]["lag_ms"].min()
                > lag[lag.phase == "before"]["lag_ms"].max())


def test_dlq_depth_and_breaker_follow_the_partitions(loaded):
    run_, _ = loaded
    cuts = run_.cuts()
    assert cuts, "the run had no partition"
    depth = run_.dlq_depth()
    dead = [e for e in run_.raw_events if e["kind"] == "dlq"]
    assert len(dead) > 0 and depth["depth"].max() <= len(dead)
    assert depth["t"].min() >= cuts[0][0]  # nothing dead-lettered before the first cut
    for _, rows in depth.groupby("link"):
        assert rows["depth"].iloc[-1] == 0  # the redrive emptied every queue
    breaker = run_.breaker()
    opened = breaker[breaker.state == "open"]
    assert not opened.empty and opened["t"].min() >= cuts[0][0]
    assert (breaker.groupby("link")["state"].last() == "closed").all()


def test_divergence_rises_in_a_cut_and_is_zero_after_the_verified_reconcile(loaded):
    run_, out = loaded
    assert out["reconcile"]["verified"] is True
    div = run_.divergence()
    start, stop = run_.cuts()[0]
    assert div[(div.t >= start) & (div.t <= stop)]["divergent"].max() > 0
    assert div["divergent"].iloc[-1] == 0
    reconciled = max(e["time"] for e in run_.raw_events if e["kind"] == "reconcile") - run_.t0
    assert div["t"].iloc[-1] <= reconciled
    conv = run_.convergence()
    final_heal = conv.iloc[-1]
    assert 0 <= final_heal["converge_s"] <= run_.end - final_heal["heal_s"]
    last_cut = max(stop for _, stop in run_.cuts())
    after = run_.converge_after_cuts()
    assert after > 0 and last_cut + after == pytest.approx(div["t"].iloc[-1])


def test_the_comparison_row_is_the_checkers_and_the_final_reads(loaded):
    run_, out = loaded
    row = analysis.summary(run_)
    lu = out["checkers"]["lost-updates"]
    assert row["writes"] == out["counts"]["write"]["ok"]
    assert row["lost_silent"] == lu["lost_count"] == 0
    assert row["lost_recorded"] == lu["accounted"]["in_feed"]
    assert row["siblings"] == sibling_keys(run_) > 0  # vclock: concurrent writes both kept
    assert row["conflicts"] == feed_entries(run_) > 0
    assert row["valid"] == "valid"
    withdrawn = sum(e["kind"] == "conflict-withdrawn" for e in run_.raw_events)
    recorded = sum(e["kind"] == "conflict" for e in run_.raw_events)
    assert len(run_.conflicts()) == recorded - withdrawn


def test_report_writes_the_figures_and_a_page(loaded, tmp_path):
    run_, _ = loaded
    proc = georep("report", str(run_.path), "--out", str(tmp_path / "rep"), "--json")
    assert proc.returncode == 0, proc.stderr
    written = json.loads(proc.stdout)
    assert sorted(written["files"]) == ["divergence.png", "dlq.png", "index.html", "lag.png"]
    for name in written["files"]:
        data = (tmp_path / "rep" / name).read_bytes()
        assert data.startswith(b"\x89PNG") if name.endswith(".png") else b"<img" in data
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "vclock" in page and "Time to converge" in page


def test_report_refuses_a_directory_that_is_not_a_run_in_one_line(tmp_path):
    proc = georep("report", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not a run directory" in proc.stderr
    assert "Traceback" not in proc.stderr
