"""Faults on an embedded lab with real parts: moto over HTTP, real link proxies, replicators.

One-way cuts, isolation of one region of three, latency and flaps, each through the lab's public
fault methods (which all go through georep.engine.faults). Waits have deadlines; timing is only
asserted from below.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from georep import Lab
from georep.config import load
from georep.errors import GeorepError
from georep.testing import wait_for

from ..support.helpers import LAB, region_toml

A, B, C = "us-east", "eu-west", "ap-south"


def lab_of(config, tmp_path, **kw) -> Lab:
    return Lab.embedded(config, run_dir=tmp_path / "runs", seed=1, moto="thread", **kw)


def three_regions(tmp_path, fast):
    d = tmp_path / "regions3"
    d.mkdir()
    for port, (name, aws) in enumerate(((A, "us-east-1"), (B, "eu-west-1"),
                                        (C, "ap-south-1")), start=9101):
        (d / f"{name}.toml").write_text(region_toml(name, aws, port))  # the lab picks free ones
    (d / "lab.toml").write_text(LAB)
    return replace(load(d), replicator=fast)


def retried(lab, mark: int, link: str) -> bool:
    return any(e["kind"] == "retry" and e["link"] == link for e in lab.events.events[mark:])


async def test_one_way_cut_writes_on_both_sides_heal_converges_with_the_loser_in_the_feed(
        georep_config, tmp_path):
    async with lab_of(georep_config, tmp_path) as lab:
        await lab.put(A, "users", "k", {"v": "before"})
        await lab.settle()
        lab.partition(A, B, one_way=True)
        assert lab.link_state() == {f"{A}>{B}": "cut", f"{B}>{A}": "responses dropped"}
        assert lab.faults()["grudge"] == {"v": 1, "flows": [[A, B]]}
        mark = len(lab.events.events)
        await lab.update(A, "users", "k", {"v": "east"})
        await lab.update(B, "users", "k", {"v": "west"})
        # B's bytes still reach A: its write lands there although B sees only timeouts.
        await wait_for(lambda: retried(lab, mark, f"{A}>{B}") and retried(lab, mark, f"{B}>{A}"),
                       timeout=20, what="both replicators to time out")
        assert await lab.get(B, "users", "k") == {"id": "k", "v": "west"}  # A's never left
        lab.heal()
        assert lab.faults()["cuts"] == "no cuts"
        await lab.settle()
        assert await lab.diverged("users") == {}
        assert await lab.get(A, "users", "k") == {"id": "k", "v": "west"}
        feed = await lab.conflicts("users", "k")
        assert feed and all([lo["value"]["v"] for lo in e["losers"]] == ["east"] for e in feed)


async def test_isolating_one_region_of_three_cuts_it_off_and_the_others_go_on(
        georep_config, tmp_path):
    config = three_regions(tmp_path, georep_config.replicator)
    async with lab_of(config, tmp_path) as lab:
        lab.isolate(C)
        [event] = lab.events.of_kind("isolate")
        assert event["region"] == C
        assert {name for name, s in lab.link_state().items() if s != "open"} == {
            f"{x}>{y}" for x, y in config.links if C in (x, y)}
        await lab.put(A, "users", "from-a", {"v": 1})
        await lab.put(C, "users", "from-c", {"v": 3})
        await wait_for(lambda: lab.get(B, "users", "from-a"), timeout=20, what="A's write at B")
        assert await lab.get(C, "users", "from-a") is None
        assert await lab.get(A, "users", "from-c") is None
        assert await lab.get(B, "users", "from-c") is None
        lab.heal()
        await lab.settle(60)
        assert await lab.diverged("users") == {}
        assert await lab.get(C, "users", "from-a") == {"id": "from-a", "v": 1}


async def test_latency_makes_an_apply_take_at_least_the_delay(georep_config, tmp_path):
    slow_ok = replace(georep_config.replicator, read_timeout_s=10.0)
    async with lab_of(replace(georep_config, replicator=slow_ok), tmp_path) as lab:
        lab.latency(A, B, 300, 0)
        [event] = lab.events.of_kind("latency")
        assert event == {**event, "a": A, "b": B, "ms": 300, "jitter": 0, "one_way": False}
        started = time.monotonic()
        await lab.put(A, "users", "k", {"v": 1})
        await wait_for(lambda: lab.get(B, "users", "k"), timeout=30, what="the apply at B")
        # The apply reads at B, then writes: its read request, the answer and the write
        # request each cross the link once, each held 300 ms.
        assert time.monotonic() - started >= 0.9
        assert lab.link_state() == {f"{A}>{B}": "open", f"{B}>{A}": "open"}
        lab.heal(A, B)  # heal lifts latency too
        assert lab.faults()["latency"] == []


async def test_a_flap_cuts_and_heals_until_healed(georep_config, tmp_path):
    async with lab_of(georep_config, tmp_path) as lab:
        def toggles():
            return [e for e in lab.events.events if e["kind"] in ("flap-cut", "flap-heal")]

        lab.flap(A, B, 0.2)
        assert lab.link_state() == {f"{A}>{B}": "cut", f"{B}>{A}": "cut"}
        await wait_for(lambda: len(toggles()) >= 4, timeout=20, what="four toggles")
        seen = toggles()[:4]
        assert [e["kind"] for e in seen] == ["flap-cut", "flap-heal", "flap-cut", "flap-heal"]
        assert seen[0]["links"] == {f"{A}>{B}": "cut", f"{B}>{A}": "cut"}
        assert seen[1]["links"] == {f"{A}>{B}": "open", f"{B}>{A}": "open"}
        [flap] = lab.faults()["flaps"]
        assert (flap["a"], flap["b"], flap["period"]) == (A, B, 0.2)
        lab.heal(A, B)
        assert lab.faults()["flaps"] == []
        assert lab.link_state() == {f"{A}>{B}": "open", f"{B}>{A}": "open"}
        count = len(toggles())
        await lab.put(A, "users", "after", {"v": 1})
        await lab.settle()
        assert await lab.get(B, "users", "after") == {"id": "after", "v": 1}
        assert len(toggles()) == count  # it stopped
        lab.flap(B, A, 30)  # heal() stops it too; so does stopping the lab
        lab.heal()
        assert lab.faults()["flaps"] == [] and lab.link_state()[f"{A}>{B}"] == "open"
        lab.flap(A, B, 30)


@pytest.mark.parametrize("call, message", [
    (lambda lab: lab.isolate("mars"), "unknown region 'mars'"),
    (lambda lab: lab.latency(A, A, 5), "a link joins two different regions"),
    (lambda lab: lab.flap(A, B, -1), "period must not be negative"),
    (lambda lab: lab.skew(A, float("inf")), "ms must be a finite number"),
])
async def test_the_lab_refuses_bad_faults_in_one_line(georep_config, tmp_path, call, message):
    lab = lab_of(georep_config, tmp_path)  # not started: the checks come first
    with pytest.raises(GeorepError, match=message):
        call(lab)
