"""The run's figures: the divergence count from hand-made events, and the PNG files."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from georep.harness.plots import (
    divergence_series,
    event_regions,
    fault_label,
    label_lanes,
    latencies,
    plot_run,
    rates,
)

T0 = 1_000.0
REGIONS = ["eu-west", "us-east"]
PNG = b"\x89PNG\r\n\x1a\n"


def write(t, region, key, hlc, table="orders"):
    return {"time": T0 + t, "kind": "write", "region": region, "table": table, "key": key,
            "hlc": hlc}


def held(kind, t, src, dst, key, hlc, table="orders"):
    return {"time": T0 + t, "kind": kind, "link": f"{src}>{dst}", "table": table, "key": key,
            "hlc": hlc}


@pytest.mark.parametrize("kind", ["apply", "suppress"])
def test_a_write_in_one_region_diverges_until_an_apply_or_a_suppress_into_the_other(kind):
    """A suppress (the destination already had the version) counts as holding it too."""
    events = [write(1.0, "us-east", "k1", 10), held(kind, 1.5, "us-east", "eu-west", "k1", 10)]
    assert divergence_series(events, REGIONS, T0) == [(1.0, 1), (1.5, 0)]


def test_two_keys_count_separately():
    events = [write(1, "us-east", "k1", 10), write(2, "eu-west", "k2", 11),
              held("apply", 3, "us-east", "eu-west", "k1", 10),
              held("apply", 4, "eu-west", "us-east", "k2", 11)]
    assert divergence_series(events, REGIONS, T0) == [(1, 1), (2, 2), (3, 1), (4, 0)]


def test_a_region_that_receives_an_older_version_after_a_newer_one_still_holds_the_newer():
    events = [write(1, "us-east", "k1", 10), write(2, "us-east", "k1", 20),
              held("apply", 3, "us-east", "eu-west", "k1", 20),
              held("apply", 4, "us-east", "eu-west", "k1", 10)]
    # the late, older apply (a redelivery) changes nothing: no point at t=4
    assert divergence_series(events, REGIONS, T0) == [(1, 1), (3, 0)]


def test_a_key_that_only_arrives_by_replication_or_lives_in_the_conflict_table_never_counts():
    events = [held("apply", 1, "us-east", "eu-west", "never-written", 5),
              write(2, "us-east", "c1", 7, table="georep_conflicts")]
    assert divergence_series(events, REGIONS, T0) == []


def test_a_dict_key_is_one_key_whatever_its_order_and_events_are_taken_in_time_order():
    events = [held("apply", 2, "us-east", "eu-west", {"pk": "a", "sk": 1}, 10),
              write(1, "us-east", {"sk": 1, "pk": "a"}, 10)]
    assert divergence_series(events, REGIONS, T0) == [(1, 1), (2, 0)]


def test_a_client_write_naming_the_key_as_given_meets_the_apply_naming_its_attributes():
    """A client's write event names the key as the client gave it ("r0"); the replicator's
    apply names the item's key attributes ({"id": "r0"}): one key."""
    events = [write(1, "us-east", "r0", 10), held("apply", 2, "us-east", "eu-west",
                                                   {"id": "r0"}, 10)]
    assert divergence_series(events, REGIONS, T0) == [(1, 1), (2, 0)]


def test_event_regions_are_where_writes_happen_and_links_deliver():
    events = [write(1, "us-east", "k", 1), held("apply", 2, "us-east", "eu-west", "k", 1),
              {"time": T0, "kind": "partition", "a": "us-east", "b": "ap-south"}]
    assert event_regions(events) == ["eu-west", "us-east"]


def test_fault_labels_name_the_kind_and_the_target():
    assert fault_label({"kind": "partition", "target": {"a": "us-east", "b": "eu-west"}}) \
        == "partition us-east↔eu-west"
    assert fault_label({"kind": "one-way", "target": {"a": "us-east", "b": "eu-west"}}) \
        == "one-way us-east→eu-west"
    assert fault_label({"kind": "kill", "target": {"src": "us-east", "dst": "eu-west"}}) \
        == "kill us-east→eu-west"
    assert fault_label({"kind": "isolate", "target": {"region": "eu-west"}}) == "isolate eu-west"


def test_overlapping_fault_labels_get_different_lanes_and_a_later_one_reuses_a_free_lane():
    periods = [{"kind": "partition", "target": None, "start_s": 0, "stop_s": 10},
               {"kind": "latency", "target": None, "start_s": 5, "stop_s": 8},
               {"kind": "skew", "target": None, "start_s": 50, "stop_s": 60}]
    assert label_lanes(periods, x_range=100) == [0, 1, 0]


def history():
    """Two processes: an ok write, a fail, an info; a nemesis op (not plotted)."""
    ops = [(0, 0.1, "invoke"), (0, 0.15, "ok"), (1, 0.2, "invoke"), (1, 1.4, "fail"),
           ("nemesis", 1.5, "invoke"), ("nemesis", 1.5, "info"),
           (0, 1.6, "invoke"), (0, 3.2, "info")]
    return [{"index": i, "time": int(t * 1e9), "process": p, "type": ty, "f": "write",
             "value": {"key": "k", "value": i}} for i, (p, t, ty) in enumerate(ops)]


def test_latencies_pair_each_completion_with_its_invoke():
    lat = latencies(history())
    assert [(round(x, 3), round(ms, 3)) for x, ms in lat["ok"]] == [(0.1, 50.0)]
    assert [(round(x, 3), round(ms, 3)) for x, ms in lat["fail"]] == [(0.2, 1200.0)]
    assert [(round(x, 3), round(ms, 3)) for x, ms in lat["info"]] == [(1.6, 1600.0)]


def test_rates_count_completions_per_second_of_the_run():
    assert rates(history()) == {"ok": [1, 0, 0, 0], "fail": [0, 1, 0, 0], "info": [0, 0, 0, 1]}


def results(faults=True):
    return {"started_at": T0, "config": {"workload": "register", "policy": "lww", "seed": 7},
            "faults": [{"kind": "partition", "target": {"a": "us-east", "b": "eu-west"},
                        "start_s": 0.5, "stop_s": 2.0},
                       {"kind": "kill", "target": {"src": "us-east", "dst": "eu-west"},
                        "start_s": 1.0, "stop_s": 1.5}] if faults else []}


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > len(PNG) and data.startswith(PNG)


def test_plot_run_writes_the_three_figures_as_png_and_leaves_no_figure_open(tmp_path):
    events = [write(0.2, "us-east", "k", 10), held("apply", 2.5, "us-east", "eu-west", "k", 10),
              {"time": T0 + 0.5, "kind": "partition", "a": "us-east", "b": "eu-west"}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events)
                                           + '{"time": 3, "kind": "wri')  # a line being written
    open_before = plt.get_fignums()
    names = plot_run(tmp_path, history(), results())
    assert names == ["latency.png", "rate.png", "divergence.png"]
    assert all(is_png(tmp_path / n) for n in names)
    assert plt.get_fignums() == open_before


def test_without_an_events_file_there_is_no_divergence_figure(tmp_path):
    names = plot_run(tmp_path, history(), results(faults=False))
    assert names == ["latency.png", "rate.png"]
    assert all(is_png(tmp_path / n) for n in names)
    assert not (tmp_path / "divergence.png").exists()


def test_an_events_file_without_writes_gives_no_divergence_figure(tmp_path):
    (tmp_path / "events.jsonl").write_text(json.dumps({"time": T0, "kind": "lab-start"}) + "\n")
    assert plot_run(tmp_path, history(), results()) == ["latency.png", "rate.png"]
    assert not (tmp_path / "divergence.png").exists()


def test_an_empty_history_still_gives_the_two_figures(tmp_path):
    names = plot_run(tmp_path, [], {"faults": []})
    assert names == ["latency.png", "rate.png"]
    assert all(is_png(tmp_path / n) for n in names)


def test_importing_the_plots_leaves_the_users_backend_alone():
    """A notebook that imports georep keeps its own backend (the figures use no pyplot)."""
    import importlib

    import matplotlib

    import georep.harness.plots as plots

    before = matplotlib.get_backend()
    try:
        matplotlib.use("svg")
        importlib.reload(plots)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
