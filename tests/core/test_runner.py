"""The harness runner (georep.harness.runner) on a lab that only records its faults: whatever
goes wrong in a run (a client that raises, a fault that cannot be lifted), every other fault
is lifted before the run ends, and a fault that could not be is said in the history."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from georep.core.plan import FaultWindow, Plan, PlannedOp
from georep.harness.recorder import Recorder
from georep.harness.runner import execute, finish

A, B = "us-east", "eu-west"


class FaultLab:
    """The fault methods a nemesis calls; setting a clock back to 0 fails."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(regions=[SimpleNamespace(name=A), SimpleNamespace(name=B)])
        self.cut: set[tuple[str, str]] = set()
        self.skews: dict[str, int] = {}

    def partition(self, a: str, b: str, *, one_way: bool = False) -> None:
        self.cut.add((a, b))

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        self.cut.discard((a, b))

    def skew(self, region: str, ms: int) -> None:
        if ms == 0:
            raise ConnectionError("the lab's control endpoint did not answer")
        self.skews[region] = ms


class BuggyClient:
    """Process 0 raises; the others' operations are counted."""

    def __init__(self) -> None:
        self.done = 0

    async def invoke(self, lab: Any, rec: Recorder, op: PlannedOp) -> dict[str, Any]:
        if op.process == 0:
            raise RuntimeError("a bug in the client")
        self.done += 1
        return {}


def plan() -> Plan:
    """Two faults open for the whole run (skew first); process 0 invokes early on, process 1
    every 50 ms."""
    read = {"key": "r0", "value": None}
    return Plan(seed=1, workload="register", duration=30.0, rate=1.0, processes={0: A, 1: B},
                ops=(PlannedOp(0.05, 0, A, "read", read),
                     *(PlannedOp(0.05 * n, 1, B, "read", read) for n in range(1, 20))),
                faults=(FaultWindow(0.0, 30.0, "skew", {"region": A, "ms": 2000}),
                        FaultWindow(0.0, 30.0, "partition", {"a": A, "b": B})))


async def test_a_fault_that_cannot_be_lifted_does_not_leave_the_others_in_place():
    lab, rec, client = FaultLab(), Recorder(None), BuggyClient()
    with pytest.raises(RuntimeError, match="a bug in the client"):
        await execute(lab, plan(), client, rec)
    done = client.done
    await asyncio.sleep(0.3)
    assert client.done == done  # the run is over: no process goes on invoking
    assert lab.cut == set()  # the partition was lifted although the skew could not be
    failed = [op for op in rec.ops if op["process"] == "nemesis" and op.get("error")]
    assert [op["f"] for op in failed] == ["stop-skew"]
    assert "did not answer" in failed[0]["error"]
    lifted = [op for op in rec.ops if op["process"] == "nemesis" and op["type"] == "info"
              and op["f"] == "stop-partition"]
    assert lifted and "error" not in lifted[0]  # the history shows the fault lifted


class SettledLab(FaultLab):
    async def reconcile(self, timeout: float) -> dict[str, Any]:
        return {"verified": True, "redrive": {}}

    async def settle(self, timeout: float) -> None:
        return None

    async def conflicts(self) -> list:
        raise ConnectionError("the feed did not answer")


class HalfReadable:
    """Reads us-east; eu-west's final read fails."""

    def __init__(self) -> None:
        self.tables, self.hash_keys, self.prefix = {"register": "t"}, {"register": "id"}, ""

    async def final_read(self, lab: Any, region: str, keys: list[str]) -> list[dict]:
        if region == B:
            raise ConnectionError(f"{region} did not answer")
        return [{"table": "t", "items": {"r0": None}, "siblings": {}}]


async def test_a_final_read_that_fails_is_recorded_as_a_fail_not_as_an_empty_region():
    lab, rec = SettledLab(), Recorder(None)
    state = await execute(lab, Plan(1, "register", 1.0, 1.0, {}, (), ()), BuggyClient(), rec)
    await finish(lab, HalfReadable(), rec, ["r0"], state)
    done = [(op["f"], op.get("region"), op["type"]) for op in rec.ops if op["type"] != "invoke"]
    assert done == [("final-read", A, "ok"), ("final-read", B, "fail"), ("conflicts", None, "fail")]
    assert "did not answer" in rec.ops[3]["error"]
