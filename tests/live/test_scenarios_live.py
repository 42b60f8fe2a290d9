"""The scenarios on a running live lab (`georep up` with the tables `georep scenario tables`
prints), through the CLI as a user runs them, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from georep.config import load
from georep.errors import LabError
from georep.runtime.waits import wait_until
from georep.scenarios import get
from georep.scenarios.run import live_tables, tables_toml

from ..support.live import ROOT, force_down, make_regions, ok


def scenario(home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "georep", "scenario", *args, "--home", str(home)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scenarios-live")
    regions = make_regions(tmp)
    with (regions / "lab.toml").open("a") as f:
        f.write("\n" + tables_toml())
    home = tmp / "home"
    ok(home, "up", "--regions", str(regions))
    try:
        yield home
    finally:
        force_down(home)


@pytest.mark.parametrize("name", ["atm", "ecommerce", "global-tables", "payment-gateway",
                                  "zombie-replicator"])
def test_each_scenario_runs_on_the_live_lab_with_its_documented_outcome(home, name):
    proc = scenario(home, "run", name, "--live", "--json", "--expect")
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    out = json.loads(proc.stdout)
    assert out["lab"] == "live" and out["differences"] == []
    assert [r["variant"] for r in out["rows"]] == list(get(name).variants)
    keys = json.dumps([r["evidence"] for r in out["rows"]])
    assert "-" in keys  # tagged keys: this run's items, apart from earlier runs'


def test_a_second_run_on_the_same_lab_keeps_its_items_apart(home):
    first = json.loads(scenario(home, "run", "ecommerce", "--live", "--json").stdout)
    again = scenario(home, "run", "ecommerce", "--live", "--json", "--expect")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert set(first["rows"][0]["evidence"]["orders"]).isdisjoint(
        second["rows"][0]["evidence"]["orders"])


def test_the_lab_tables_a_scenario_needs_are_named_in_one_line():
    config = load(ROOT / "regions")  # the default lab: users (lww) only
    assert live_tables(config, get("ecommerce").needs(["local"])) == {"lww": "users"}
    with pytest.raises(LabError, match=r"no table for the scenario's scenario_crdt: add the "
                                       r"blocks `georep scenario tables` prints"):
        live_tables(config, get("atm").needs(list(get("atm").variants)))


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nosuch"], "no scenario 'nosuch' (available: global-tables, atm, ecommerce, "
                        "payment-gateway, zombie-replicator)"),
    (["run", "atm", "--policy", "vclock"], "scenario atm has no variant or policy 'vclock'"),
    (["run", "atm", "--regions", "/nonexistent"], "--regions /nonexistent: no such folder"),
    (["run", "atm", "--live"], "no lab"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, message):
    proc = scenario(tmp_path / "nohome", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_lab_with_active_faults_is_refused_and_its_faults_are_left_alone(home):
    ok(home, "latency", "us-east", "eu-west", "--ms", "5")
    try:
        proc = scenario(home, "run", "ecommerce", "--live")
        assert proc.returncode == 2, proc.stderr
        assert "the lab has active faults (latency eu-west>us-east; latency " in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert json.loads(ok(home, "status", "--json"))["faults"]["latency"]  # still there
    finally:
        ok(home, "heal")


def test_one_scenario_at_a_time_on_a_lab(home):
    from georep.runtime.home import LabHome
    from georep.scenarios.run import one_at_a_time

    with one_at_a_time(LabHome(home)):
        proc = scenario(home, "run", "ecommerce", "--live")
    assert proc.returncode == 2 and "another scenario runs on the lab" in proc.stderr


def test_sigterm_heals_what_the_scenario_cut(home):
    proc = subprocess.Popen([sys.executable, "-m", "georep", "scenario", "run", "atm", "--live",
                             "--json", "--home", str(home)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "cut" in json.loads(ok(home, "status", "--json"))["links"]
                   ["us-east>eu-west"]["state"], timeout=60, what="the scenario's partition")
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and "stopped by SIGTERM" in err, err
    links = json.loads(ok(home, "status", "--json"))["links"]
    assert {v["state"] for v in links.values()} == {"open"}
