"""Nemeses driving an embedded lab through its public fault methods: start and stop change
``lab.faults()`` and the link states, and each returns the completed op (type info)."""

from __future__ import annotations

import pytest

from georep import Lab, LabError
from georep.core.grudge import halves
from georep.engine.nemesis import (
    LatencyNemesis,
    Nemesis,
    NoopNemesis,
    PartitionNemesis,
    SkewNemesis,
)

A, B = "us-east", "eu-west"
OPEN = {f"{A}>{B}": "open", f"{B}>{A}": "open"}


@pytest.fixture
async def lab(georep_config, tmp_path):
    async with Lab.embedded(georep_config, run_dir=tmp_path / "runs", seed=1,
                            moto="thread") as lab:
        yield lab


async def run(nemesis: Nemesis, lab, f: str) -> dict:
    op = await nemesis.invoke(lab, {"f": f, "process": "nemesis"})
    assert op["type"] == "info" and op["f"] == f and op["process"] == "nemesis"
    return op


async def test_noop_does_nothing_and_says_so(lab):
    nemesis = NoopNemesis()
    await nemesis.setup(lab)
    before = lab.faults()
    assert (await run(nemesis, lab, "start"))["value"] is None
    assert lab.faults() == before and lab.link_state() == OPEN
    await nemesis.teardown(lab)
    with pytest.raises(LabError, match="'start' or 'stop', not 'pause'"):
        await nemesis.invoke(lab, {"f": "pause"})


async def test_partition_nemesis_cuts_halves_and_heals_what_it_cut(lab):
    nemesis = PartitionNemesis(halves)
    op = await run(nemesis, lab, "start")
    assert op["value"]["grudge"] == {"v": 1, "flows": [[B, A], [A, B]]}
    assert lab.link_state() == {f"{A}>{B}": "cut", f"{B}>{A}": "cut"}
    assert (await run(nemesis, lab, "stop"))["value"] == {"healed": [[B, A]]}
    assert lab.link_state() == OPEN and lab.faults()["cuts"] == "no cuts"


async def test_a_one_way_partition_nemesis_and_teardown_heals(lab):
    nemesis = PartitionNemesis.pair(A, B, one_way=True)
    assert (await run(nemesis, lab, "start"))["value"]["cuts"] == f"{A} → {B}"
    assert lab.link_state() == {f"{A}>{B}": "cut", f"{B}>{A}": "responses dropped"}
    [event] = lab.events.of_kind("partition")
    assert (event["a"], event["b"], event["one_way"]) == (A, B, True)
    await nemesis.teardown(lab)
    assert lab.link_state() == OPEN


async def test_latency_nemesis_sets_and_lifts_a_delay(lab):
    nemesis = LatencyNemesis(A, B, 40, 10, one_way=True)
    op = await run(nemesis, lab, "start")
    assert op["value"] == {"a": A, "b": B, "ms": 40, "jitter": 10, "one_way": True}
    assert lab.faults()["latency"] == [{"from": A, "to": B, "ms": 40, "jitter": 10}]
    assert lab.link_state() == OPEN  # slow, not cut
    await run(nemesis, lab, "stop")
    assert lab.faults()["latency"] == []


async def test_skew_nemesis_offsets_a_clock_and_sets_it_back(lab):
    nemesis = SkewNemesis(B, -1500)
    await run(nemesis, lab, "start")
    assert lab.faults()["skew_ms"] == {B: -1500}
    assert lab.physical_ms(B) < lab.physical_ms(A)
    await run(nemesis, lab, "stop")
    assert lab.faults()["skew_ms"] == {}
    assert [e["offset_ms"] for e in lab.events.of_kind("skew")] == [-1500, 0]
