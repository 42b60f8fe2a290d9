"""georep.analysis on a real short run (deterministic, vclock register, two partitions), its
numbers checked against what the run itself recorded; and ``georep report`` on it."""

from __future__ import annotations

import json

import pytest

from georep import analysis
from georep.analysis.compare import feed_entries, sibling_keys
from georep.analysis.report import write_report

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


def copy_run(run_, tmp_path, name="copy"):
    target = tmp_path / name
    target.mkdir()
    for f in ("events.jsonl", "history.jsonl", "results.json", "run.json"):
        (target / f).write_bytes((run_.path / f).read_bytes())
    return target


def _edit_results(target, **fields):
    results = json.loads((target / "results.json").read_text())
    results.update(fields)
    (target / "results.json").write_text(json.dumps(results))


def _append(target, name, line):
    with (target / name).open("a") as f:
        f.write(line + "\n")


CORRUPTIONS = {
    "results config not an object": lambda t: _edit_results(t, config=[1]),
    "a fault period not an object": lambda t: _edit_results(t, faults=["x"]),
    "a checker's result not an object": lambda t: _edit_results(t, checkers={"lost": 3}),
    "history time a string": lambda t: _append(t, "history.jsonl", json.dumps(
        {"index": 10**6, "time": "x", "process": 1, "type": "invoke", "f": "read",
         "value": {"key": "r0"}})),
    "history line a list": lambda t: _append(t, "history.jsonl", "[1]"),
    "a feed entry not an object": lambda t: _append(t, "history.jsonl", json.dumps(
        {"index": 10**6, "time": 1, "process": "final", "type": "ok", "f": "conflicts",
         "value": ["x"]})),
    "a final read without items": lambda t: _append(t, "history.jsonl", json.dumps(
        {"index": 10**6, "time": 1, "process": "final", "type": "ok", "f": "final-read",
         "region": "eu-west", "value": {"table": "t", "items": [1]}})),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_run_directory_is_a_run_dir_error(loaded, tmp_path, corruption):
    """What ``georep check`` refuses in a history, or a results.json of the wrong shape, is a
    RunDirError (georep report's one-line error), not a traceback from deep in the frames."""
    run_, _ = loaded
    target = copy_run(run_, tmp_path)
    CORRUPTIONS[corruption](target)
    with pytest.raises(analysis.RunDirError):
        analysis.load(target)


def test_malformed_event_lines_are_skipped_and_the_report_is_written(loaded, tmp_path):
    run_, _ = loaded
    target = copy_run(run_, tmp_path)
    t = run_.t0 + 1
    for event in ({"time": t}, {"time": t, "kind": "heal", "table": ["x"]},
                  {"time": t, "kind": "redrive", "link": "eu-west>us-east", "delivered": "x"},
                  {"time": float("nan"), "kind": "dlq", "link": "eu-west>us-east"}):
        _append(target, "events.jsonl", json.dumps(event))
    again = analysis.load(target)
    assert len(again.raw_events) == len(run_.raw_events) + 1  # the redrive is well formed
    assert again.dlq_depth()["depth"].tolist() == run_.dlq_depth()["depth"].tolist()
    write_report([again], tmp_path / "rep")


def test_each_heal_instant_is_one_convergence_row(loaded, tmp_path):
    """Healing an isolated region is one heal event per pair, at one instant: one row."""
    run_, _ = loaded
    target = copy_run(run_, tmp_path)
    heal = next(e for e in run_.raw_events if e["kind"] == "heal")
    _append(target, "events.jsonl", json.dumps(heal))
    again = analysis.load(target)
    assert again.convergence()["heal_s"].tolist() == run_.convergence()["heal_s"].tolist()
    assert len(again.convergence()) == len({e["time"] for e in run_.raw_events
                                            if e["kind"] == "heal"})


def test_the_reports_summary_is_strict_json_and_names_each_run(loaded, tmp_path):
    """A run with no cut has no time to converge: null in the JSON, never NaN."""
    run_, _ = loaded
    target = copy_run(run_, tmp_path)
    _edit_results(target, faults=[])
    written = write_report([analysis.load(target)], tmp_path / "rep")
    (row,) = json.loads(json.dumps(written, allow_nan=False))["summary"]
    assert row["converge_s"] is None and row["run"] == "copy"


def test_lag_is_measured_from_the_write_event_on_the_labs_clock(tmp_path):
    """A skewed region's HLC (and stream record time) moves an apply's ``lag_ms``: seconds
    off, even below zero. The version's write event is on the lab's clock: the lag is from
    it, and so is the phase; an apply whose write the log lacks keeps its ``lag_ms``."""
    t0 = 1000.0
    events = [{"time": t0, "kind": "lab-start", "regions": {"a": "", "b": ""}},
              {"time": t0 + 1, "kind": "write", "region": "a", "table": "t", "key": "k",
               "hlc": 7},
              {"time": t0 + 3, "kind": "apply", "link": "a>b", "table": "t",
               "key": {"id": "k"}, "hlc": 7, "origin": "a", "lag_ms": -5000.0},
              {"time": t0 + 4, "kind": "apply", "link": "a>b", "table": "t",
               "key": {"id": "j"}, "hlc": 9, "origin": "a", "lag_ms": 250.0}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / "run.json").write_text(json.dumps({"started_at": t0}))
    (tmp_path / "results.json").write_text(json.dumps({"faults": [
        {"kind": "partition", "target": {}, "start_s": 0.5, "stop_s": 2.5}]}))
    lag = analysis.load(tmp_path).lag()
    assert lag["lag_ms"].tolist() == [2000.0, 250.0]
    assert lag["phase"].tolist() == ["during", "after"]


def test_two_runs_of_one_policy_are_told_apart_in_the_comparison(loaded):
    run_, _ = loaded
    table = analysis.compare([run_, run_])
    assert len(set(table.index)) == 1  # the same run twice: one name, honestly
    other = analysis.Run(run_.path.parent / "other", {**run_.results, "seed": 99}, run_.facts,
                         run_.raw_events, run_.ops, run_.t0, run_.regions)
    names = list(analysis.compare([run_, other]).index)
    assert len(set(names)) == 2 and all(n.startswith("vclock (register, ") for n in names)
