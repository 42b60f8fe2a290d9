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
from georep.harness.runner import execute

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
