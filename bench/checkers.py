"""Checker benchmark: how long ``check`` takes on a synthetic history, and whether that time
grows linearly with the history's length.

Builds a valid register + counter history of N operations (interleaved clients, ok / fail /
info outcomes, a few writes that lose a conflict and are named by the conflict feed, reads,
then three regions' final reads and the conflicts operation), times
``georep.core.checkers.check`` on it at each size (default 100,000 and 1,000,000 operations;
the best of ``--repeat`` runs, default 2) and prints the seconds per 100,000 operations at each
size, their ratio (about 1 when the checkers are linear) and whether 1,000,000 operations were
checked within 10 s (the target). ``--json`` prints one object.
Run: ``make bench`` or ``.venv/bin/python bench/checkers.py [--sizes N,N] [--repeat N]``."""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time

from georep.core.checkers import check

REGIONS = ("us-east", "eu-west", "ap-south")
PROCESSES, REGISTERS, COUNTERS = 50, 1000, 100
TARGET_OPS, TARGET_S = 1_000_000, 10.0


class Builder:
    """A register + counter workload run against a perfect store, recorded as a history."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.ops: list[dict] = []
        self.registers: dict[str, str | None] = {f"r{i}": None for i in range(REGISTERS)}
        self.counters: dict[str, int] = {f"c{i}": 0 for i in range(COUNTERS)}
        self.feed: list[dict] = []
        self.pending: dict[int, dict] = {}  # process -> its outstanding invoke

    def emit(self, process, type_: str, f: str, value, **fields) -> dict:
        op = {"index": len(self.ops), "time": len(self.ops) * 1000, "process": process,
              "type": type_, "f": f, "value": value, **fields}
        self.ops.append(op)
        return op

    def invoke(self, p: int) -> None:
        r = self.rnd.random()
        if r < 0.45:
            value = {"key": self.rnd.choice(list(self.registers)), "value": f"{p}-{len(self.ops)}"}
            f = "write"
        elif r < 0.9:
            value, f = {"key": f"c{self.rnd.randrange(COUNTERS)}",
                        "delta": self.rnd.randint(-3, 5)}, "add"
        else:
            value, f = {"key": f"r{self.rnd.randrange(REGISTERS)}", "value": None}, "read"
        self.pending[p] = self.emit(p, "invoke", f, value, region=self.rnd.choice(REGIONS))

    def complete(self, p: int) -> None:
        invoke = self.pending.pop(p)
        f, arg, r = invoke["f"], invoke["value"], self.rnd.random()
        how = "ok" if r < 0.95 else "fail" if r < 0.98 else "info"
        if f == "read":
            how = "ok"
        self.emit(p, how, f, self.apply(f, arg, how), region=invoke["region"],
                  **({"error": "timeout"} if how != "ok" else {}))

    def apply(self, f: str, arg: dict, how: str) -> dict | None:
        """The store's effect and the completion's value. An info write never takes effect
        (so it reads nothing); an info add does half the time."""
        key = arg["key"]
        if f == "read":
            return {"key": key, "value": self.registers[key]}
        if f == "add":
            if how == "ok" or (how == "info" and self.rnd.random() < 0.5):
                self.counters[key] += arg["delta"]
            return arg if how == "ok" else None
        if how != "ok":
            return None
        replaced = self.registers[key]
        if replaced is not None and self.rnd.random() < 0.01:  # loses to a concurrent write
            self.feed.append({"table": "georep_register", "key": {"id": key},
                              "winner": {"id": key, "v": replaced},
                              "losers": [{"id": key, "v": arg["value"]}], "siblings": []})
        else:
            self.registers[key] = arg["value"]
        return {**arg, "replaced": replaced}

    def build(self, n: int) -> list[dict]:
        while len(self.ops) < n - len(REGIONS) * 2 - 1:
            p = self.rnd.randrange(PROCESSES)
            (self.complete if p in self.pending else self.invoke)(p)
        for region in REGIONS:
            for table, items in (
                    ("georep_register", {k: v and {"id": k, "v": v}
                                         for k, v in self.registers.items()}),
                    ("georep_counter", {k: {"id": k, "n": n} for k, n in self.counters.items()})):
                self.emit("final", "ok", "final-read", {"table": table, "items": items,
                                                        "siblings": {}}, region=region)
        self.emit("final", "ok", "conflicts", self.feed)
        return self.ops


def measure(n: int, repeat: int) -> dict:
    """The best of ``repeat`` timed checks of one n-operation history."""
    history = Builder(seed=n).build(n)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        verdict = check(history)
        best = min(best, time.perf_counter() - t0)
    seconds = best
    return {"ops": len(history), "seconds": round(seconds, 3),
            "s_per_100k": round(seconds / len(history) * 100_000, 4),
            "valid": verdict["valid"],
            "checkers": {name: r["valid"] for name, r in verdict["checkers"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="history lengths, comma-separated")
    ap.add_argument("--repeat", type=int, default=2, help="timed checks per size (the best)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) < 2 or min(sizes) < 1000 or args.repeat < 1:
        sys.exit("error: --sizes needs two or more lengths, each >= 1000; --repeat >= 1")
    runs = [measure(n, args.repeat) for n in sizes]
    big = next((r for r in runs if r["ops"] >= TARGET_OPS), None)
    out = {"runs": runs, "ratio": round(runs[-1]["s_per_100k"] / runs[0]["s_per_100k"], 3),
           "target_met": None if big is None else big["seconds"] <= TARGET_S,
           "targets": {"ratio": "about 1 (linear)", "1M ops": f"<= {TARGET_S:g} s"}}
    if args.json:
        print(json.dumps(out))
        return
    for r in runs:
        print(f"check, {r['ops']:>9} ops     {r['seconds']:>7.3f} s   "
              f"{r['s_per_100k']:.4f} s per 100k ops   verdict {r['valid']}")
    print(f"    ratio per 100k (last/first) {out['ratio']:>6}   (linear: about 1)")
    if big is not None:
        print(f"    {big['ops']} ops within {TARGET_S:g} s   {out['target_met']}")
    if any(r["valid"] is not True for r in runs):
        print(f"    not valid: {[r['checkers'] for r in runs if r['valid'] is not True]}")


if __name__ == "__main__":
    main()
