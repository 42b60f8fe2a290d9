"""Replication lag with the writer outside the replicator's process, on a live lab.

Starts a live lab (``georep up``: a supervisor, a moto process per region, a replicator process
per link) in a temporary home, writes through georep's write path from this process at a
steady offered rate (an open loop: each write starts on schedule, whatever the earlier ones
did), then pairs each acknowledged write (its ``write`` event, stamped once the source region
answered) with the destination's apply of the same version (the ``apply`` event the replicator
process records once its conditional write succeeded). Both events are on the machine's wall
clock, so the lag is the time from the source write's acknowledgement to the destination's
write. Prints p50, p99 and the mean; ``--json`` prints one object.

Then the same at a low rate (``--floor-rate``, default 20 writes/s), where the regions are not
saturated: the lag the replicator adds when the emulator keeps up (its stream poll interval,
at most ``idle_poll_max_ms``, and two requests), the floor beside the loaded figure. On this
machine's two cores, one moto process serving georep's write path (three requests for a new
key) and both replicators' reads saturates near 50 writes/s, so at 100 offered writes/s the
lag is mostly queueing in the emulator.

Run: ``make bench`` or ``.venv/bin/python bench/lag.py [--rate R] [--seconds S] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from georep.runtime.events import read_events
from georep.runtime.live import LiveLab
from georep.runtime.moto import free_port

ROOT = Path(__file__).resolve().parent.parent
SRC, DST = "us-east", "eu-west"
TARGET_P99_MS = 100


def regions_copy(tmp: Path) -> Path:
    """The repository's regions on free ports (the live lab binds them)."""
    d = tmp / "regions"
    d.mkdir()
    (d / "lab.toml").write_text((ROOT / "regions" / "lab.toml").read_text())
    for name, aws in ((SRC, "us-east-1"), (DST, "eu-west-1")):
        (d / f"{name}.toml").write_text(
            f'name = "{name}"\naws_region = "{aws}"\nport = {free_port()}\n')
    return d


def georep(home: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "georep", *args, "--home", str(home)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"error: georep {' '.join(args)}: {proc.stderr.strip()}")


async def offer(lab: LiveLab, rate: float, seconds: float,
                prefix: str = "lag") -> tuple[float, float]:
    """Write ``rate * seconds`` items on schedule: the rate they were started at and the rate
    they were acknowledged at (lower when the source region cannot keep up)."""
    total, start, pending = int(rate * seconds), time.perf_counter(), set()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(lab.put(SRC, "users", f"{prefix}{i:06d}",
                                           {"payload": "x" * 100, "n": i}))
        pending.add(task)
        task.add_done_callback(pending.discard)
    started = total / (time.perf_counter() - start)
    await asyncio.gather(*pending)
    return started, total / (time.perf_counter() - start)


def lags(events: list[dict], since: float = 0.0, until: float = float("inf")) -> list[float]:
    """ms from each write acknowledged in [since, until) to its apply on SRC>DST."""
    written = {(e["region"], e["hlc"]): e["time"] for e in events
               if e["kind"] == "write" and e.get("hlc") is not None
               and since <= e["time"] < until}
    return sorted((e["time"] - written[(SRC, e["hlc"])]) * 1000 for e in events
                  if e["kind"] == "apply" and e.get("link") == f"{SRC}>{DST}"
                  and (SRC, e["hlc"]) in written)


def summary(got: list[float]) -> dict:
    def pct(p: float) -> float:
        return round(got[min(len(got) - 1, int(p * len(got)))], 1)

    return {"samples": len(got), "lag_p50_ms": pct(0.5), "lag_p99_ms": pct(0.99),
            "lag_mean_ms": round(statistics.fmean(got), 1), "lag_max_ms": round(got[-1], 1)}


async def measure(home: Path, rate: float, seconds: float, floor_rate: float) -> dict:
    async with LiveLab.connect(home) as lab:
        await lab.settle(60)
        offered, acked = await offer(lab, rate, seconds)
        await lab.settle(120)
        split = time.time()
        floor_offered, floor_acked = await offer(lab, floor_rate, seconds, prefix="floor")
        await lab.settle(120)
        events = read_events(lab.run_path / "events.jsonl")
    floor = summary(lags(events, since=split))
    return {"offered_writes_per_s": round(offered, 1),
            "acknowledged_writes_per_s": round(acked, 1), "writes": int(rate * seconds),
            **summary(lags(events, until=split)),
            "floor": {"offered_writes_per_s": round(floor_offered, 1),
                      "acknowledged_writes_per_s": round(floor_acked, 1), **floor},
            "target": {"lag_p99_ms": f"<= {TARGET_P99_MS}"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=100.0, help="offered writes/s")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to write")
    ap.add_argument("--floor-rate", type=float, default=20.0,
                    help="offered writes/s of the second, unsaturated run")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if min(args.rate, args.seconds, args.floor_rate) <= 0:
        sys.exit("error: --rate, --floor-rate and --seconds must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        georep(home, "up", "--regions", str(regions_copy(Path(tmp))))
        try:
            r = asyncio.run(measure(home, args.rate, args.seconds, args.floor_rate))
        finally:
            georep(home, "down")
    if args.json:
        print(json.dumps(r))
        return
    print(f"live lab, writer in its own process: {r['offered_writes_per_s']} writes/s offered, "
          f"{r['acknowledged_writes_per_s']} acknowledged ({r['writes']} writes, "
          f"{r['samples']} applies paired)")
    print(f"lag  p50 {r['lag_p50_ms']} ms   p99 {r['lag_p99_ms']} ms   mean {r['lag_mean_ms']} "
          f"ms   max {r['lag_max_ms']} ms   (target p99 <= {TARGET_P99_MS} ms)")
    f = r["floor"]
    print(f"below saturation: {f['offered_writes_per_s']} writes/s offered, "
          f"{f['acknowledged_writes_per_s']} acknowledged: lag p50 {f['lag_p50_ms']} ms   "
          f"p99 {f['lag_p99_ms']} ms   max {f['lag_max_ms']} ms")


if __name__ == "__main__":
    main()
