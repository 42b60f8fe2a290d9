"""The pytest plugin's pieces for a user's own tests: ``georep_history`` (a History of the
user's operations, checked by georep's checkers) and ``partitioned`` (heal and settle on
leaving the block, whatever happened in it)."""

from __future__ import annotations

import pytest

from georep.errors import ConfigError
from georep.testing import partitioned


async def test_lab_errors_become_completions_and_mistakes_propagate(georep_lab, georep_history):
    lab, history = georep_lab, georep_history
    async with history.op(0, "write", {"key": "k", "value": "a"}, region="us-east") as op:
        await lab.put("us-east", "users", "k", {"v": "a"})
        op.ok({"key": "k", "value": "a", "replaced": None})
    async with history.op(1, "read", {"key": "k", "value": None}, region="eu-west"):
        raise TimeoutError("the region did not answer")  # a read that failed: nothing changed
    async with history.op(1, "write", {"key": "k", "value": "b"}, region="eu-west"):
        raise TimeoutError("no reply")  # a write that timed out: unknown
    with pytest.raises(ConfigError, match="unknown table"):
        async with history.op(2, "write", {"key": "k", "value": "c"}, region="us-east"):
            await lab.put("us-east", "no_such_table", "k", {"v": "c"})
    done = [(op["f"], op["type"]) for op in history.ops if op["type"] != "invoke"]
    assert done[:3] == [("write", "ok"), ("read", "fail"), ("write", "info")]
    assert "the region did not answer" in history.ops[3]["error"]


async def test_partitioned_heals_and_settles_even_when_the_block_fails(georep_lab,
                                                                       georep_history):
    lab, history = georep_lab, georep_history
    with pytest.raises(AssertionError):
        async with partitioned(lab, "us-east", "eu-west"):
            assert set(lab.link_state().values()) == {"cut"}
            await lab.put("us-east", "users", "k", {"v": "during"})
            raise AssertionError("the test's own assertion")
    assert set(lab.link_state().values()) == {"open"}
    assert await lab.get("eu-west", "users", "k") == {"id": "k", "v": "during"}  # settled
    await history.final_reads(lab, "users", ["k"])
    finals = [op for op in history.ops if op["f"] == "final-read" and op["type"] == "ok"]
    assert sorted(op["region"] for op in finals) == ["eu-west", "us-east"]
    assert all(op["value"]["items"]["k"]["v"] == "during" for op in finals)
