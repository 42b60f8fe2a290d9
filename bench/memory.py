"""The replicator's memory with a long backlog: RSS while it catches up on N records.

Loads N items (default 200,000) as georep writes them into the source region with the
replicators stopped (so they wait in the source's stream: a backlog), then starts the
replicator of one link and samples this process's resident memory (``VmRSS``) every half
second while it works through the backlog, for at most ``--seconds``. The regions are moto
child processes, so this process holds the replicator, the lab's clients and proxies, and
nothing of the emulator. Prints the RSS before the start, the peak while catching up, and how
many records were applied meanwhile; ``--json`` prints one object.

Run: ``make bench`` or ``.venv/bin/python bench/memory.py [--items N] [--seconds S] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

from georep import Lab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replication import DST, SRC, batch_write, items_for

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 150
CHUNK = 5000  # items made and written at a time: the load must not set the peak


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def run(n: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        async with Lab.embedded(ROOT / "regions", run_dir=Path(tmp), seed=8) as lab:
            for link in list(lab.replicators):
                await lab.stop_replicator(*link)
            t = time.perf_counter()
            for start in range(0, n, CHUNK):
                await batch_write(lab.clients[SRC], "users",
                                  items_for(lab, min(CHUNK, n - start), f"m{start:07d}-"))
            load_s = time.perf_counter() - t
            lab.events.events.clear()  # the load's events are not the replicator's memory
            gc.collect()
            before = rss_mb()
            rep = await lab.start_replicator(SRC, DST)
            peak, t0 = before, time.perf_counter()
            while time.perf_counter() - t0 < seconds and rep.stats.applied < n:
                await asyncio.sleep(0.5)
                peak = max(peak, rss_mb())
            elapsed = time.perf_counter() - t0
            applied = rep.stats.applied
    return {"backlog_records": n, "load_s": round(load_s, 1),
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1),
            "rss_growth_mb": round(peak - before, 1), "applied": applied,
            "seconds": round(elapsed, 1), "caught_up": applied >= n,
            "target": {"rss_peak_mb": f"<= {TARGET_MB}"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200_000, help="records in the backlog")
    ap.add_argument("--seconds", type=float, default=120.0,
                    help="how long to sample while it catches up")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if args.items < 1000 or args.seconds <= 0:
        sys.exit("error: --items must be >= 1000 and --seconds positive")
    r = asyncio.run(run(args.items, args.seconds))
    if args.json:
        print(json.dumps(r))
        return
    print(f"backlog                {r['backlog_records']} records (loaded in {r['load_s']} s)")
    print(f"RSS before the start   {r['rss_before_mb']} MB (this process: the lab, no moto)")
    print(f"RSS peak, catching up  {r['rss_peak_mb']} MB (+{r['rss_growth_mb']} MB; "
          f"target <= {TARGET_MB} MB)")
    print(f"applied meanwhile      {r['applied']} in {r['seconds']} s"
          + ("" if r["caught_up"] else " (sampling stopped before it caught up)"))


if __name__ == "__main__":
    main()
