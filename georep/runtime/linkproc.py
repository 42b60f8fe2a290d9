"""One replicator as an OS process: the live lab runs one per directed link.

Place in the data flow: spawned by the supervisor (``python -m georep.runtime.linkproc``). It
reads src's stream directly, writes to dst through the link proxy's port, appends to the run's
events.jsonl, records Prometheus metrics into the lab's multiprocess folder, and every half
second writes its stats to ``<home>/links/<src>_<dst>.json`` for ``georep status``.
Killing it (SIGKILL) is a real crash: it resumes from its checkpoint when started again.
A link that stops for good (an unreadable checkpoint) writes its reason as ``stopped`` in the
stats file and exits with code 3.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from pathlib import Path

from aiobotocore.session import AioSession

from ..aws.clients import Endpoint, async_client, endpoint_of, routed
from ..config import load
from ..core.records import record_ms
from ..engine.replicator import Replicator
from .events import EventLog
from .home import LabHome

STATS_EVERY_S = 0.5
PENDING_EVERY_S = 1.0
PENDING_CAP = 1000
EXIT_STOPPED = 3  # the link stopped for good: the reason is in its stats file


def stats_path(home: LabHome, src: str, dst: str) -> Path:
    return home.links_dir / f"{src}_{dst}.json"


async def backlog(rep: Replicator, cap: int) -> tuple[int, float | None]:
    """Stream records after the link's checkpoints (up to ``cap``) and the oldest one's time
    (s). Reads the source stream with its own iterators: the replication loop is undisturbed."""
    count, oldest = 0, None
    for tl in rep.tables:
        for shard in await tl.reader.shards():
            after = rep.positions.get((tl.table.name, shard.shard_id))
            it = await tl.reader.iterator(shard.shard_id, after)
            while it and count < cap:
                page = await tl.reader.page(it, min(1000, cap - count))
                if not page.records:
                    break
                if oldest is None:
                    oldest = record_ms(
                        page.records[0]["dynamodb"]["ApproximateCreationDateTime"]) / 1000
                count += len(page.records)
                it = page.next_iterator
    return count, oldest


async def run(args: argparse.Namespace) -> str | None:
    """Replicate until SIGTERM; returns why the link stopped for good, if it did."""
    from . import metrics  # after PROMETHEUS_MULTIPROC_DIR is set by the supervisor

    home = LabHome(args.home)
    home.use_meta_secret()
    config = load(args.regions)
    s = config.replicator
    src, dst = args.src, args.dst
    events = EventLog(Path(args.events), time.time, keep=False)
    session = AioSession()
    src_region = config.region(src)
    url = args.source_url or None  # empty: an external region (its file says where)

    def src_ep(service: str) -> Endpoint:
        return endpoint_of(src_region, service, url)

    dst_ep = routed(config.region(dst), args.dest_url)  # the link proxy, faults included
    from .wiring import build_replicator

    async with contextlib.AsyncExitStack() as stack:
        source = await stack.enter_async_context(
            async_client(session, "dynamodb", src_ep("dynamodb")))
        streams = await stack.enter_async_context(
            async_client(session, "dynamodbstreams", src_ep("dynamodbstreams")))
        sqs = await stack.enter_async_context(async_client(session, "sqs", src_ep("sqs")))
        s = config.settings_for(src, dst)
        dest = await stack.enter_async_context(async_client(
            session, "dynamodb", dst_ep, connect_s=s.connect_timeout_s, read_s=s.read_timeout_s))
        rep = await build_replicator(
            config, src, dst, source=source, source_streams=streams, source_sqs=sqs, dest=dest,
            emit=events.emit, clock=time.time, metrics=metrics.ReplicatorMetrics(f"{src}>{dst}"),
            rng=random.Random(f"{args.seed}/{src}>{dst}/{os.getpid()}"))
        events.emit("replicator-start", link=rep.name, pid=os.getpid(), duplicate=False)
        link_key = rep.name
        out = stats_path(home, src, dst)

        def write(**fields) -> None:
            home.write_json(out, {**rep.stats.as_dict(), **fields, "pid": os.getpid(),
                                  "updated": time.time()})

        async def report() -> None:
            pending, oldest, counted, pending_at = None, None, 0.0, None
            while True:
                if time.monotonic() - counted >= PENDING_EVERY_S:
                    # Counting reads the backlog itself: keep it small and infrequent, so a
                    # long backlog does not slow down the replication it measures.
                    counted = time.monotonic()
                    pending_at = time.time()  # the count covers what was written before this
                    try:
                        pending, oldest = await backlog(rep, PENDING_CAP)
                    except Exception as exc:
                        pending, oldest = None, None
                        rep.stats.last_error = f"pending: {exc}"
                # Consumer lag: the age of the oldest record not yet replicated (0 when none).
                lag = (time.time() - oldest) * 1000 if pending and oldest is not None else 0.0
                try:
                    depth = await rep.delivery.dlq.depth()
                except Exception as exc:
                    depth = None
                    rep.stats.last_error = f"dlq: {exc}"
                breaker = rep.delivery.breaker.state.value
                metrics.PENDING.labels(link_key).set(pending or 0)
                metrics.BREAKER.labels(link_key).set(metrics.BREAKER_VALUES[breaker])
                metrics.DLQ_DEPTH.labels(link_key).set(depth or 0)
                write(pending=pending, pending_at=pending_at, lag_ms=lag, breaker=breaker,
                      dlq_depth=depth,
                      pending_capped=pending is not None and pending >= PENDING_CAP)
                await asyncio.sleep(STATS_EVERY_S)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        tasks = [asyncio.create_task(rep.run()), asyncio.create_task(report()),
                 asyncio.create_task(stop.wait())]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        events.emit("replicator-stop", link=rep.name, pid=os.getpid())
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()
        if rep.stats.stopped:
            write(pending=None, lag_ms=None, breaker=None, dlq_depth=None)
        return rep.stats.stopped


def main() -> None:
    ap = argparse.ArgumentParser(description="georep: one link's replicator process")
    for name in ("home", "regions", "src", "dst", "source-url", "dest-url", "events", "seed"):
        ap.add_argument(f"--{name}", required=True)
    if asyncio.run(run(ap.parse_args())):
        sys.exit(EXIT_STOPPED)


if __name__ == "__main__":
    main()
