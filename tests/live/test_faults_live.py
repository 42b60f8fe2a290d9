"""Faults on a live lab through its control API: one lab for the module (live labs are slow).

The supervisor's routes /isolate, /latency, /skew, /flap and /heal, the ``faults`` in
``/status``, the faults file the CLI's writers read their clock skew from, and every refused
request as a one-line 400.
"""

from __future__ import annotations

import json
import math
import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from georep.runtime.control import ControlClient
from georep.runtime.home import LabHome
from georep.testing import wait_until

from ..support.live import running_lab, state

A, B = "us-east", "eu-west"
AB, BA = f"{A}>{B}", f"{B}>{A}"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("faults-live")) as home:
        yield home


def post(home: Path, path: str, body: dict) -> dict:
    return ControlClient(LabHome(home)).call("POST", path, body)


def status(home: Path) -> dict:
    return ControlClient(LabHome(home)).call("GET", "/status")


def events(home: Path, *kinds: str) -> list[dict]:
    lines = (Path(state(home)["run_path"]) / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] in kinds]


def link_up(home: Path, link: str) -> float:
    text = ControlClient(LabHome(home)).call("GET", "/metrics")
    [line] = [x for x in text.splitlines() if x.startswith(f'georep_link_up{{link="{link}"}}')]
    return float(line.rsplit(" ", 1)[1])


def test_isolate_then_heal(home):
    answer = post(home, "/isolate", {"region": A})
    assert answer == {"isolated": A, "links": {AB: "cut", BA: "cut"}}
    s = status(home)
    assert s["faults"]["cuts"] == f"{B} ↔ {A}"
    assert {name: link["state"] for name, link in s["links"].items()} == {AB: "cut", BA: "cut"}
    assert link_up(home, AB) == 0
    assert sorted(post(home, "/heal", {})["healed"]) == [BA, AB]
    assert status(home)["faults"]["grudge"] == {"v": 1, "flows": []}
    assert link_up(home, AB) == 1
    [event] = events(home, "isolate")
    assert event["region"] == A and event["links"] == {AB: "cut", BA: "cut"}


def test_latency_and_one_way_partition_show_in_status(home):
    post(home, "/latency", {"a": A, "b": B, "ms": 50, "jitter": 5, "one_way": True})
    assert status(home)["faults"]["latency"] == [{"from": A, "to": B, "ms": 50, "jitter": 5}]
    assert post(home, "/partition", {"a": B, "b": A, "one_way": True}) == {
        "cut": {BA: "cut", AB: "responses dropped"}}
    s = status(home)
    assert s["faults"]["cuts"] == f"{B} → {A}"
    assert s["links"][AB]["state"] == "responses dropped"
    post(home, "/heal", {"a": A, "b": B})
    assert status(home)["faults"]["latency"] == []
    [event] = events(home, "latency")
    assert event == {**event, "a": A, "b": B, "ms": 50, "jitter": 5, "one_way": True,
                     "links": [AB, BA]}


def test_skew_is_kept_in_the_faults_file_for_the_cli_writers(home):
    assert post(home, "/skew", {"region": B, "ms": 1234}) == {"region": B, "skew_ms": 1234}
    lab = LabHome(home)
    assert lab.skew_ms(B) == 1234 and lab.skew_ms(A) == 0
    assert stat.S_IMODE(os.stat(lab.faults_file).st_mode) == 0o600
    assert status(home)["faults"]["skew_ms"] == {B: 1234}
    post(home, "/heal", {})  # heal leaves the clock alone
    assert lab.skew_ms(B) == 1234
    post(home, "/skew", {"region": B, "ms": 0})
    assert lab.skew_ms(B) == 0 and status(home)["faults"]["skew_ms"] == {}
    assert [e["offset_ms"] for e in events(home, "skew")] == [1234, 0]


def test_a_flap_toggles_until_its_pair_is_healed(home):
    answer = post(home, "/flap", {"a": A, "b": B, "period": 0.2})
    assert answer["flapping"][0]["period"] == 0.2
    wait_until(lambda: len(events(home, "flap-heal")) >= 2, what="the flap to toggle")
    kinds = [e["kind"] for e in events(home, "flap", "flap-cut", "flap-heal")]
    assert kinds[:4] == ["flap", "flap-cut", "flap-heal", "flap-cut"]
    assert status(home)["faults"]["flaps"][0]["a"] == A
    post(home, "/heal", {"a": B, "b": A})
    s = status(home)
    assert s["faults"]["flaps"] == [] and s["faults"]["cuts"] == "no cuts"
    assert {link["state"] for link in s["links"].values()} == {"open"}


@pytest.mark.parametrize("path", ["/isolate", "/latency", "/skew", "/flap"])
def test_the_fault_routes_need_the_lab_token(home, path):
    req = urllib.request.Request(
        f"http://127.0.0.1:{state(home)['control_port']}{path}", method="POST",
        data=b'{"region": "us-east", "ms": 1}', headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 401
    assert status(home)["faults"]["skew_ms"] == {}


INF, NAN = math.inf, math.nan


@pytest.mark.parametrize("path, body, message", [
    ("/isolate", {}, "missing field 'region'"),
    ("/isolate", {"region": 5}, "'region' must be a region's name, not 5"),
    ("/isolate", {"region": "mars"}, "unknown region 'mars'"),
    ("/latency", {"a": A, "b": A, "ms": 5},
     "a link joins two different regions, not us-east with itself"),
    ("/latency", {"a": "mars", "b": B, "ms": 5}, "unknown region 'mars'"),
    ("/latency", {"a": A, "b": B}, "missing field 'ms'"),
    ("/latency", {"a": A, "b": B, "ms": -5}, "ms must not be negative, not -5"),
    ("/latency", {"a": A, "b": B, "ms": INF},
     "ms must be a finite number of milliseconds, not inf"),
    ("/latency", {"a": A, "b": B, "ms": "5"}, "ms must be a number of milliseconds, not '5'"),
    ("/latency", {"a": A, "b": B, "ms": True}, "ms must be a number of milliseconds, not True"),
    ("/latency", {"a": A, "b": B, "ms": 5, "jitter": -1}, "jitter must not be negative, not -1"),
    ("/latency", {"a": A, "b": B, "ms": 5, "jitter": 6},
     "jitter (6 ms) must not exceed ms (5 ms): a delay cannot be negative"),
    ("/latency", {"a": A, "b": B, "ms": 5, "one_way": 1}, "'one_way' must be true or false, not 1"),
    ("/skew", {"ms": 5}, "missing field 'region'"),
    ("/skew", {"region": A}, "missing field 'ms'"),
    ("/skew", {"region": "mars", "ms": 5}, "unknown region 'mars'"),
    ("/skew", {"region": A, "ms": NAN}, "ms must be a finite number of milliseconds, not nan"),
    ("/skew", {"region": A, "ms": False}, "ms must be a number of milliseconds, not False"),
    ("/flap", {"a": A, "b": B}, "missing field 'period'"),
    ("/flap", {"a": A, "b": A, "period": 1}, "a link joins two different regions"),
    ("/flap", {"a": A, "b": B, "period": 0}, "period must be more than 0 seconds, not 0"),
    ("/flap", {"a": A, "b": B, "period": -1}, "period must not be negative, not -1"),
    ("/flap", {"a": A, "b": B, "period": INF},
     "period must be a finite number of seconds, not inf"),
    ("/flap", {"a": A, "b": B, "period": "1"}, "period must be a number of seconds, not '1'"),
    ("/flap", {"a": A, "b": B, "period": True}, "period must be a number of seconds, not True"),
    ("/partition", {"a": A, "b": B, "one_way": "yes"},
     "'one_way' must be true or false, not 'yes'"),
    ("/heal", {"a": A}, "heal takes two regions, or none to heal every link"),
    ("/heal", {"a": 5, "b": B}, "'a' must be a region's name, not 5"),
])
def test_a_bad_fault_request_is_a_one_line_400_and_changes_nothing(home, path, body, message):
    before = status(home)["faults"]
    req = urllib.request.Request(
        f"http://127.0.0.1:{state(home)['control_port']}{path}", method="POST",
        data=json.dumps(body).encode(),  # inf and nan as JavaScript's Infinity and NaN
        headers={"Authorization": f"Bearer {LabHome(home).token()}",
                 "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 400
    error = json.loads(refused.value.read())["error"]
    assert error.startswith(message) and "\n" not in error, error
    assert status(home)["faults"] == before
