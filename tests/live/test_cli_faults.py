"""Every fault from the command line of a live lab, as a Toxiproxy or Blockade user drives it,
shown by `georep status` while active and gone after `georep heal`."""

from __future__ import annotations

import json
import time

import pytest

from georep.core.hlc import Timestamp
from georep.runtime.events import read_events

from ..support.live import georep, ok, running_lab, state, status

A, B = "us-east", "eu-west"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One live lab for the module: each test leaves it healed, with no skew."""
    with running_lab(tmp_path_factory.mktemp("cli-faults")) as home:
        yield home


def test_faults_from_the_cli_show_in_status_and_heal(lab):
    assert "eu-west → us-east: cut" in ok(lab, "partition", B, A, "--one-way")
    f = status(lab)["faults"]
    assert f["cuts"] == f"{B} → {A}"
    assert status(lab)["links"][f"{B}>{A}"]["state"] == "cut"
    assert status(lab)["links"][f"{A}>{B}"]["state"] == "responses dropped"
    ok(lab, "latency", A, B, "--ms", "40", "--jitter", "5", "--one-way")
    ok(lab, "skew", B, "--ms", "-1500")
    ok(lab, "flap", A, B, "--period", "30")
    text = ok(lab, "status")
    assert f"cuts: {B} ↔ {A}" in text or f"cuts: {B} → {A}" in text  # the flap cuts too
    assert f"latency {A} → {B}: 40 ± 5 ms" in text
    assert f"flapping {A} ↔ {B} every 30 s" in text
    assert f"clock skew {B}: -1500 ms" in text
    healed = ok(lab, "heal")
    assert "healed" in healed
    f = status(lab)["faults"]
    assert f["cuts"] == "no cuts" and f["latency"] == [] and f["flaps"] == []
    assert f["skew_ms"] == {B: -1500}  # a clock is not a link: heal leaves it
    assert "clock skew" in ok(lab, "status") and "cuts:" not in ok(lab, "status")
    ok(lab, "skew", B, "--ms", "0")
    assert status(lab)["faults"]["skew_ms"] == {}
    assert "fault" not in ok(lab, "status")
    kinds = [e["kind"] for e in read_events(_events(lab))]  # this module's lab: its events
    for kind in ("partition", "latency", "skew", "flap", "heal"):
        assert kind in kinds, kind


def test_isolate_cuts_every_link_of_the_region(lab):
    out = ok(lab, "isolate", A)
    assert f"{A} → {B}: cut" in out and f"{B} → {A}: cut" in out
    assert {link["state"] for link in status(lab)["links"].values()} == {"cut"}
    ok(lab, "heal", A, B)
    assert {link["state"] for link in status(lab)["links"].values()} == {"open"}


def test_a_skewed_region_stamps_cli_writes_with_its_clock(lab):
    ok(lab, "skew", A, "--ms", "3600000")
    before = int(time.time() * 1000)
    try:
        ok(lab, "put", A, "users", "ahead", "v=1")
    finally:
        ok(lab, "skew", A, "--ms", "0")
    [write] = [e for e in read_events(_events(lab)) if e["kind"] == "write"
               and e["key"] == "ahead"]
    assert write["region"] == A
    assert Timestamp.unpack(write["hlc"]).physical >= before + 3_600_000
    got = json.loads(ok(lab, "get", A, "users", "ahead", "--json"))
    assert got == {"id": "ahead", "v": "1"}


def test_bad_fault_arguments_are_one_line_errors(lab):
    cases = [
        (("latency", A, B, "--ms", "-5"), "ms"),
        (("latency", A, A, "--ms", "5"), "itself"),
        (("flap", A, B, "--period", "0"), "--period"),
        (("isolate", "mars"), "mars"),
        (("skew", "mars", "--ms", "5"), "mars"),
        (("heal", A), "two regions"),
    ]
    for args, word in cases:
        proc = georep(lab, *args)
        assert proc.returncode != 0, args
        assert word in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)


def _events(lab):
    from pathlib import Path

    return Path(state(lab)["run_path"]) / "events.jsonl"
