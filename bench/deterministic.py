"""Deterministic-run benchmark: virtual seconds per wall second of a simulated ``georep test``,
and whether the run replays byte for byte.

Runs the register workload (policy lww, nemesis partition, default rate 10 operations per
second) for 60 virtual seconds on the embedded lab, in the deterministic mode, twice with the
same seed, and prints for each run the wall seconds (the whole run: lab start, workload, heal,
reconcile, final reads, plots), the virtual seconds, their ratio, the scheduler's turns, and
whether the two histories and results are byte-identical. The target: a 60-second virtual run
in well under a minute. ``--json`` prints one object.
Run: ``make bench`` or ``.venv/bin/python bench/deterministic.py [--duration S] [--seed K]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from georep.harness.replay import compare
from georep.harness.session import RunSpec, run_test

ROOT = Path(__file__).resolve().parents[1]


async def one(runs: Path, duration: float, seed: int) -> dict:
    spec = RunSpec(workload="register", policy="lww", seed=seed, nemeses=("partition",),
                   duration=duration, regions=ROOT / "regions", runs=runs)
    t = time.perf_counter()
    r = await run_test(spec)
    wall = time.perf_counter() - t
    return {"run_dir": r["run_dir"], "valid": r["valid"], "operations": r["operations"],
            "wall_s": round(wall, 2), "virtual_s": r["virtual_s"], "turns": r["turns"],
            "virtual_per_wall": round(r["virtual_s"] / wall, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [asyncio.run(one(Path(tmp) / str(n), args.duration, args.seed)) for n in (1, 2)]
        a, b = (Path(r["run_dir"]) for r in runs)
        same = all(compare(a / f, b / f)["identical"] for f in ("history.jsonl", "results.json"))
    out = {"duration_s": args.duration, "runs": runs, "byte_identical": same,
           "target": "wall < 60 s for 60 virtual s",
           "met": all(r["wall_s"] < 60 for r in runs)}
    if args.json:
        print(json.dumps(out))
    else:
        for r in runs:
            print(f"register lww partition, {r['virtual_s']:.1f} virtual s "
                  f"({r['operations']} operations, {r['turns']} turns): {r['wall_s']:.1f} wall s, "
                  f"{r['virtual_per_wall']:.2f} virtual s per wall s")
        print(f"same seed twice: history and results {'identical' if same else 'DIFFERENT'}")
        print(f"target (a 60 s virtual run in well under a minute): "
              f"{'met' if out['met'] else 'NOT met'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
