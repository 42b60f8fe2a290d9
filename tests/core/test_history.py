"""The history helpers (georep.core.history): parsing JSON lines with one-line errors, pairing
invocations with completions, picking out the final reads and the conflict feed. Also the
:class:`History` builder the checker tests use (a client's operations, one call each)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from georep.core.history import conflict_feed, final_reads, pairs, parse_lines

REGIONS = ("us-east", "eu-west")


class History:
    """A history under construction: every call appends operations with the next index."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def emit(self, process: Any, type_: str, f: str, value: Any = None, **fields: Any) -> int:
        self.ops.append({"index": len(self.ops), "time": len(self.ops) * 1000,
                         "process": process, "type": type_, "f": f, "value": value, **fields})
        return len(self.ops) - 1

    def invoke(self, process: Any, f: str, value: Any, region: str = "us-east") -> int:
        return self.emit(process, "invoke", f, value, region=region)

    def op(self, process: Any, f: str, value: dict, type_: str | None = "ok",
           result: dict | None = None, region: str = "us-east") -> int:
        """An invocation and its completion (none when ``type_`` is None: outstanding); the
        completion's value is ``result``, or the invocation's value. The last index."""
        at = self.invoke(process, f, value, region)
        if type_ is None:
            return at
        done = value if result is None else result
        return self.emit(process, type_, f, done, region=region,
                        **({"error": "timeout"} if type_ in ("fail", "info") else {}))

    def final(self, table: str, items: dict, siblings: dict | None = None,
              regions: tuple[str, ...] = REGIONS) -> None:
        """The same final read of ``table`` from each region."""
        for region in regions:
            self.emit("final", "ok", "final-read", {"table": table, "items": items,
                                                   "siblings": siblings or {}}, region=region)

    def conflicts(self, *entries: dict) -> None:
        self.emit("final", "ok", "conflicts", list(entries))

    # The workloads' operations (the table of docs/harness.md); each returns the last index.

    def write(self, p: int, key: str, value: str, replaced: str | None = None,
              type_: str | None = "ok") -> int:
        return self.op(p, "write", {"key": key, "value": value}, type_,
                       {"key": key, "value": value, "replaced": replaced} if type_ == "ok"
                       else None)

    def add(self, p: int, key: str, delta: int, type_: str | None = "ok") -> int:
        return self.op(p, "add", {"key": key, "delta": delta}, type_)

    def member(self, p: int, f: str, key: str, element: str, type_: str = "ok") -> int:
        return self.op(p, f, {"key": key, "element": element}, type_)

    def order(self, p: int, idem: str, order_id: str | None, type_: str = "ok") -> int:
        asked = {"key": idem, "amount": 5, "attempt": 1}
        return self.op(p, "order", asked, type_, {**asked, "order": order_id,
                                                  "deduplicated": False} if type_ == "ok" else None)

    def read(self, p: int, key: str, value: Any) -> int:
        return self.op(p, "read", {"key": key, "value": None}, "ok", {"key": key, "value": value})

    def deposit(self, key: str, amount: int) -> int:
        return self.op("setup", "deposit", {"key": key, "amount": amount})

    def withdraw(self, p: int, key: str, amount: int, type_: str | None = "ok") -> int:
        return self.op(p, "withdraw", {"key": key, "amount": amount, "id": f"w{len(self.ops)}"},
                       type_)


def lines(*ops: Any) -> list[str]:
    return [op if isinstance(op, str) else json.dumps(op) for op in ops]


OK = {"process": 0, "type": "ok", "f": "read", "value": {"key": "a", "value": 1}}


def test_lines_parse_with_blank_lines_skipped_and_index_filled_from_the_position():
    parsed = parse_lines(lines({**OK, "type": "invoke"}, "", "   ", {**OK, "time": 12},
                               {**OK, "index": 40, "process": "nemesis"}))
    assert [op["index"] for op in parsed] == [0, 1, 40]
    assert parsed[1]["time"] == 12 and "time" not in parsed[0]
    assert parsed[2]["process"] == "nemesis"


@pytest.mark.parametrize(("line", "problem"), [
    ('{"type": "ok",', "invalid JSON"),
    ('{"value": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid JSON: nested too deeply"),
    ("[1, 2]", "not a JSON object but list"),
    ('{"type": "ok", "f": "read", "process": 0, "time": NaN}', "NaN is not JSON"),
    (json.dumps({"type": "ok", "f": "read"}), "missing field 'process'"),
    (json.dumps({**OK, "type": "done"}), "'type' is 'done'"),
    (json.dumps({**OK, "f": 3}), "'f' is int, not a string"),
    (json.dumps({**OK, "process": True}), "'process' is bool"),
    (json.dumps({**OK, "process": 1.5}), "'process' is float"),
    (json.dumps({**OK, "index": "7"}), "'index' is str"),
    (json.dumps({**OK, "time": "now"}), "'time' is str"),
])
def test_a_bad_line_is_a_one_line_error_naming_its_number(line, problem):
    with pytest.raises(ValueError) as e:
        parse_lines(lines(OK, "", line))
    message = str(e.value)
    assert message.startswith("line 3: ") and problem in message
    assert "\n" not in message


def test_pairs_match_each_invoke_with_the_next_completion_of_its_process():
    h = History()
    a = h.invoke(1, "write", {"key": "k", "value": "a"})
    b = h.invoke(2, "write", {"key": "k", "value": "b"})
    h.emit("nemesis", "info", "partition", {"cut": ["us-east", "eu-west"]})
    b_done = h.emit(2, "ok", "write", {"key": "k", "value": "b", "replaced": None})
    a_done = h.emit(1, "info", "write", None)
    s = h.invoke("setup", "deposit", {"key": "x", "amount": 5})
    c = h.invoke(2, "read", {"key": "k", "value": None})
    h.final("t", {"k": None})
    got = [(i["index"], d and d["index"]) for i, d in pairs(h.ops)]
    assert got == [(a, a_done), (b, b_done), (s, None), (c, None)]


def test_a_completion_without_an_invoke_names_its_index():
    h = History()
    h.op(1, "read", {"key": "k", "value": None})
    stray = h.emit(1, "ok", "read", {"key": "k", "value": 3})
    wanted = rf"op {stray}: a completion \(ok\) of process 1 without an invoke"
    with pytest.raises(ValueError, match=wanted):
        pairs(h.ops)


def test_a_second_invoke_while_one_is_outstanding_is_an_error():
    h = History()
    first = h.invoke(3, "read", {"key": "k", "value": None})
    second = h.invoke(3, "read", {"key": "k", "value": None})
    with pytest.raises(ValueError, match=f"op {second}: .* invoke at index {first} is"):
        pairs(h.ops)


def test_a_completion_of_another_f_is_an_error():
    h = History()
    h.invoke(3, "read", {"key": "k", "value": None})
    done = h.emit(3, "ok", "write", {"key": "k", "value": "v", "replaced": None})
    with pytest.raises(ValueError, match=f"op {done}: completes 'write' but its invoke"):
        pairs(h.ops)


def test_final_reads_by_table_and_region_the_last_read_winning():
    h = History()
    h.final("t", {"k": {"id": "k", "v": "a"}}, {"k": [{"v": "a"}, {"v": "b"}]})
    h.emit("final", "ok", "final-read", {"table": "u", "items": {"j": None}}, region="us-east")
    h.emit("final", "ok", "final-read", {"table": "u", "items": {"j": {"id": "j"}}},
          region="us-east")
    reads = final_reads(h.ops)
    assert sorted(reads) == ["t", "u"] and sorted(reads["t"]) == sorted(REGIONS)
    assert reads["t"]["eu-west"]["siblings"]["k"] == [{"v": "a"}, {"v": "b"}]
    assert reads["u"] == {"us-east": {"items": {"j": {"id": "j"}}, "siblings": {}}}


def test_a_final_read_without_a_table_names_its_index():
    h = History()
    h.op(1, "read", {"key": "k", "value": None})
    at = h.emit("final", "ok", "final-read", {"items": {}}, region="us-east")
    with pytest.raises(ValueError, match=f"op {at}: a final-read value needs a 'table'"):
        final_reads(h.ops)


def test_the_conflict_feed_is_none_when_absent_and_concatenated_when_split():
    h = History()
    h.final("t", {})
    assert conflict_feed(h.ops) is None
    h.conflicts()
    assert conflict_feed(h.ops) == []
    h.conflicts({"table": "t", "key": "a"}, {"table": "t", "key": "b"})
    h.conflicts({"table": "u", "key": "c"})
    assert [e["key"] for e in conflict_feed(h.ops)] == ["a", "b", "c"]
