"""``georep test --replay`` reads a run's configuration back from its results.json: every
results file that is not one georep wrote (or was edited into nonsense) is a LabError naming
it, raised before any lab starts, never a traceback from deep inside a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from georep.errors import LabError
from georep.harness.replay import spec_of

GOOD = {"workload": "register", "policy": "lww", "seed": 11, "nemeses": ["partition", "kill"],
        "duration": 5.0, "rate": 10.0, "concurrency": None, "options": {"writers": "mixed"},
        "regions": "regions", "live": False, "home": None, "realtime": False}


def write(tmp: Path, config) -> Path:
    (tmp / "results.json").write_text(json.dumps({"valid": True, "config": config}))
    return tmp


def test_a_good_configuration_reads_back(tmp_path):
    spec = spec_of(write(tmp_path, GOOD))
    assert spec.nemeses == ("partition", "kill") and spec.duration == 5.0


@pytest.mark.parametrize("config", [
    "register",                                  # not an object
    ["register"],
    {**GOOD, "nemeses": "partition"},            # a string, not a list (read as p,a,r,...)
    {**GOOD, "nemeses": ["nope"]},
    {**GOOD, "workload": "nope"},
    {**GOOD, "duration": 1e9},                   # no plan can be drawn for it
    {**GOOD, "rate": -1},
    {**GOOD, "duration": "NaN"},
    {**GOOD, "concurrency": 0},
    {**GOOD, "concurrency": "two"},
    {**GOOD, "options": ["writers=mixed"]},
    {**GOOD, "options": {"writers": 3}},
    {**GOOD, "regions": 7},
])
def test_a_bad_configuration_is_one_labError(tmp_path, config):
    with pytest.raises(LabError, match=r"results\.json"):
        spec_of(write(tmp_path, config))


def test_a_run_directory_without_its_history_is_refused_before_running(tmp_path, monkeypatch):
    """The replay compares the new history with the recorded one: without it there is nothing
    to compare, and that is said before a lab runs the whole test (not as a missing file once
    it has)."""
    import asyncio

    from georep.harness import replay as replay_module

    async def no_run(spec, **kw):
        raise AssertionError("the test ran")

    monkeypatch.setattr(replay_module, "run_test", no_run)
    write(tmp_path, GOOD)
    with pytest.raises(LabError, match=r"history\.jsonl"):
        asyncio.run(replay_module.replay(tmp_path))


def test_the_regions_folder_the_run_loaded_wins_over_the_relative_path(tmp_path):
    """``--regions regions`` is relative: replayed from another directory it would name another
    folder. run.json keeps the folder the run loaded (resolved); the configuration as typed
    stays in results.json (so the replay's results compare byte for byte)."""
    loaded = tmp_path / "elsewhere" / "regions"
    loaded.mkdir(parents=True)
    run = write(tmp_path, GOOD)
    (run / "run.json").write_text(json.dumps({"regions_dir": str(loaded)}))
    spec = spec_of(run)
    assert spec.regions == "regions" and spec.regions_at == str(loaded)
    assert spec.describe()["regions"] == "regions" and "regions_at" not in spec.describe()
    loaded.rmdir()  # moved away since: the path as typed, as before
    assert spec_of(run).regions_at is None
