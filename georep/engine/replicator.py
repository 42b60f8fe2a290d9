"""The replicator: one per directed link src→dst, streaming src's local writes into dst.

Place in the data flow: reads src's DynamoDB Streams directly (checkpoints live in src too),
keeps only local writes (:mod:`georep.core.records`), stamps plain-client writes and writes the
stamp back to src, applies to dst through the link proxy (:mod:`georep.engine.apply`), page by
page (:mod:`georep.engine.batch`), and only then advances the checkpoint. A crash between
apply and checkpoint replays the batch; the apply is idempotent, so replays are counted as
suppressed duplicates and change nothing. Each batch read, and each version applied or
suppressed (from the stream or a DLQ redrive), is an event
(:mod:`georep.engine.outcomes`).

Polling is adaptive: re-poll at once while records arrive, back off to ``idle_poll_max_ms``;
a shard's next page is read while the last is applied (:mod:`georep.engine.shardreads`).
Applies go through :mod:`georep.engine.delivery` (bounded retries, a circuit breaker, the DLQ);
every other call (stream reads, the lease, checkpoints, stamps, the conflict feed) is retried
with exponential backoff and full jitter until it succeeds. A lost lease stops the link
(``fenced``), and so does an unreadable checkpoint (``stats.stopped`` says why). Clock, sleep
and random source are injected.

``serial`` is the deterministic mode's (:mod:`georep.runtime.sim`): write-backs and applies go
one key at a time, in order, and each batch is followed by a short sleep drawn from ``rng``
(one poll and one apply is one step; the sleep is where the simulation lets another actor in).
``created_ms`` says when a record was written (default: its ``ApproximateCreationDateTime``,
the source's wall clock; the deterministic mode reads the version's HLC instead), for the lag.
``record_clock`` (the deterministic mode's, given the table's name and a record) replaces each
record's ``ApproximateCreationDateTime`` (moto's wall clock) by a virtual time: a plain write's
stamp, a dead letter and the lag then depend on virtual time only. It must give one record the
same time whichever link of the region reads it, and however often (a restart reads it again),
as the real field does: the stamp of a plain write is derived from it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..aws.checkpoints import Checkpoint, CheckpointStore
from ..aws.dlq import DeadLetterQueue
from ..aws.errors import classify
from ..aws.stamps import StampStore
from ..aws.streams import StreamReader
from ..config import ReplicatorSettings, Table
from ..core.backoff import full_jitter
from ..core.breaker import BreakerState
from ..core.lineage import ShardLineage
from ..core.meta import Version
from ..core.records import record_ms
from ..errors import CheckpointUnreadable, Fenced, ReplicationError
from .apply import Applier, ApplyResult
from .batch import process
from .delivery import Delivery
from .linkstats import LinkStats
from .outcomes import journal, redriven, unjournal
from .plainstamps import PlainStamps
from .redrive import Redriver
from .shardreads import ShardReads

REDISCOVER_S = 10.0
STEP_PAUSE_S = (0.001, 0.010)  # serial mode: the pause after a batch, drawn uniformly
# serial mode: an idle poll waits a uniform draw in this range (AWS Lambda polls a stream shard
# four times a second; every empty poll is a real request, and a simulated run's wall time is
# mostly requests)
SERIAL_IDLE_MS = (250.0, 750.0)


@dataclass
class TableLink:
    """One table's pieces for one link."""

    table: Table
    reader: StreamReader
    checkpoints: CheckpointStore
    applier: Applier  # writes to the destination, through the link proxy
    local: Applier  # writes to the source region itself: merges a stamped plain write back
    stamps: StampStore  # plain-write stamps that did not reach their item, in the source


class Replicator:
    def __init__(
        self,
        src: str,
        dst: str,
        *,
        source_client,
        tables: list[TableLink],
        settings: ReplicatorSettings,
        dlq: DeadLetterQueue,
        emit: Callable[..., Any],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        metrics=None,
        serial: bool = False,
        created_ms: Callable[[dict, Version], float] | None = None,
        record_clock: Callable[[str, dict], float] | None = None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.source = source_client
        self.tables = tables
        self.settings = settings
        self.emit = emit
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.serial = serial
        self.created_ms = created_ms or _record_created_ms
        self.record_clock = record_clock
        self.stats = LinkStats()
        self.fenced = False  # a newer replicator took the lease; this one stopped
        self.delivery = Delivery(self.name, settings, dlq, emit=emit, clock=clock, sleep=sleep,
                                 rng=self.rng, on_retry=self._on_retry)
        self.redriver = Redriver(dlq, src, {tl.table.name: tl for tl in tables}, emit,
                                 self._redriven)
        # the stamps of this link's plain writes, by key
        self.stamps = PlainStamps(settings.max_clock_offset_ms)
        for tl in tables:  # conflicts reach the feed before the write that resolves them
            tl.applier.journal = journal(self, tl, self.dst)
            tl.local.journal = journal(self, tl, src)
            tl.applier.unjournal = tl.local.unjournal = unjournal(self)
            if serial:
                tl.applier.in_flight = tl.local.in_flight = 1
        self.metrics = metrics  # optional: observe(kind, link, value) for Prometheus
        self.positions: dict[tuple[str, str], str | None] = {}  # (table, shard) -> last seq
        self._tick = 0
        self._quiet: dict[str, int] = {}  # table -> mark of the latest poll that found nothing
        self._changed = asyncio.Condition()
        self._gate = asyncio.Event()  # cleared: paused (see pause)
        self._gate.set()
        self.holding = 0  # records of a batch read and held while paused

    @property
    def name(self) -> str:
        return f"{self.src}>{self.dst}"

    def table(self, name: str | None = None) -> TableLink:
        """Table ``name``'s pieces on this link (the first table's when not named)."""
        return self.tables[0] if name is None else {t.table.name: t for t in self.tables}[name]

    def lease(self, table: str | None = None) -> tuple[int | None, str | None]:
        """The epoch and owner of the lease taken on ``table`` (None, None until taken)."""
        cps = self.table(table).checkpoints
        return cps.epoch, cps.owner

    @property
    def paused(self) -> bool:
        return not self._gate.is_set()

    def pause(self) -> None:
        """Hold the next batch this replicator reads, unapplied, until :meth:`resume`: what a
        process frozen between its read and its write holds (a GC pause, a SIGSTOP). Meanwhile
        another replicator may take the link's lease; on waking this one is a zombie."""
        self._gate.clear()

    def resume(self) -> None:
        self._gate.set()

    @property
    def dlq(self) -> DeadLetterQueue:
        return self.delivery.dlq

    @property
    def breaker_state(self) -> BreakerState:
        return self.delivery.breaker.state

    def diagnosis(self) -> dict[str, Any]:
        """What :meth:`wait_quiet` waits on (the breaker, a redrive due, each table's latest
        quiet poll against the current mark): for the report of a link that never goes quiet."""
        return {"breaker": self.breaker_state.value, "redrive_due": self.delivery.redrive_due,
                "quiet": dict(self._quiet), "mark": self._tick}

    def mark(self) -> int:
        """A point in this replicator's poll sequence; see :meth:`wait_quiet`."""
        self._tick += 1
        return self._tick

    def quiet_since(self, mark: int) -> bool:
        """For every table, a poll that started after ``mark`` found nothing new."""
        return all(self._quiet.get(t.table.name, -1) > mark for t in self.tables)

    async def wait_quiet(self, mark: int) -> None:
        """Wait until :meth:`quiet_since` ``mark``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.quiet_since(mark))

    async def run(self, only: list[TableLink] | None = None) -> None:
        """Replicate (every table, or ``only`` these) until cancelled or fenced. Other errors
        propagate to the caller."""
        try:
            async with asyncio.TaskGroup() as tg:
                for tl in only if only is not None else self.tables:
                    tg.create_task(self._run_table(tl), name=f"{self.name}/{tl.table.name}")
        except* Fenced as group:
            self.fenced = True
            self.emit("fenced", link=self.name, error=str(group.exceptions[0]))
        except* CheckpointUnreadable as group:
            self.stats.stopped = str(group.exceptions[0])
            self.emit("link-stopped", link=self.name, reason=self.stats.stopped)

    async def retrying(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        attempt = 0
        while True:
            try:
                return await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified below; nothing is swallowed silently
                err = classify(exc)
                if isinstance(err, Fenced | CheckpointUnreadable):
                    raise err from exc
                await self._backoff(what, attempt, err)
                attempt += 1

    def observe(self, name: str, value: float = 1) -> None:
        if self.metrics is not None:
            self.metrics.observe(name, self.name, value)

    def _on_retry(self, what: str, attempt: int, err: ReplicationError, delay_s: float) -> None:
        self.observe("retries")
        self.stats.retries += 1
        self.stats.last_error = str(err)
        self.emit("retry", link=self.name, op=what, attempt=attempt + 1,
                  retriable=err.retriable, error=str(err)[:300], delay_ms=round(delay_s * 1e3, 1))

    async def _backoff(self, what: str, attempt: int, err: ReplicationError) -> None:
        delay_ms = full_jitter(attempt, self.settings.retry_base_ms, self.settings.retry_cap_ms,
                               self.rng)
        self._on_retry(what, attempt, err, delay_ms / 1000)
        await self.sleep(delay_ms / 1000)

    async def redrive(self):
        """Apply what the link's DLQ holds (idempotent); returns the RedriveReport."""
        self.delivery.redrive_due = False
        report = await self.redriver.redrive()
        if report.stopped or report.blocked:  # dead letters left: again after a cool-down
            self.delivery.redrive_after = self.clock() + self.settings.breaker_cooldown_s
        self.stats.applied += report.delivered
        self.stats.suppressed += report.suppressed
        self.observe("applied", report.delivered)
        self.observe("suppressed", report.suppressed)
        return report

    async def _run_table(self, tl: TableLink) -> None:
        lineage = ShardLineage()
        cps = await self.retrying("acquire-lease", tl.checkpoints.acquire)
        self.emit("lease", link=self.name, table=tl.table.name, epoch=tl.checkpoints.epoch,
                  owner=tl.checkpoints.owner)
        for cp in cps.values():
            self.positions[(tl.table.name, cp.shard_id)] = cp.seq
            if cp.finished:
                lineage.finish(cp.shard_id)
        shards = ShardReads(lineage, cps)
        saved_at = self.clock()
        idle_ms = 0.0
        last_discovery = -REDISCOVER_S
        try:
            while True:
                # first: a fresh replicator's DLQ (its predecessor's dead letters) is redriven
                # before it reads, or a kill during a later redrive would hide them
                if self.delivery.wants_redrive(self.clock()):
                    await self.redrive()
                started = self.mark()
                now = self.clock()
                if now - last_discovery >= REDISCOVER_S or not lineage.readable():
                    lineage.discover(await self.retrying("describe-stream", tl.reader.shards))
                    last_discovery = now
                got, clean = 0, True
                for shard in lineage.readable():
                    n, finished, fresh = await self._step(tl, shard.shard_id, shards)
                    got += n
                    clean = clean and fresh
                    if finished:
                        last_discovery = -REDISCOVER_S  # children may be listed now
                # Checkpoints are saved at most every checkpoint_interval_ms while records
                # flow, and at once when the stream goes quiet: a crash replays at most that
                # much, which the idempotent apply suppresses, and a busy link saves a round
                # trip per batch.
                if shards.unsaved and (not got or self.clock() - saved_at
                                       >= self.settings.checkpoint_interval_ms / 1000):
                    await self._save(tl, shards.unsaved)
                    saved_at = self.clock()
                if got:
                    idle_ms = 0.0
                    if self.serial:
                        await self.sleep(self.rng.uniform(*STEP_PAUSE_S))
                    continue
                await self.delivery.probe(tl)
                # quiet: every shard's read was asked after ``started`` and answered empty
                if clean and self.delivery.breaker.state is BreakerState.CLOSED \
                        and not self.delivery.redrive_due:
                    self._quiet[tl.table.name] = started
                async with self._changed:
                    self._changed.notify_all()
                idle_ms = min(max(idle_ms * 2, 5.0), float(self.settings.idle_poll_max_ms))
                if self.serial:
                    idle_ms = self.rng.uniform(*SERIAL_IDLE_MS)
                await self.sleep(idle_ms / 1000)
        finally:
            shards.drop_reads()

    async def _step(self, tl: TableLink, sid: str,
                    shards: ShardReads) -> tuple[int, bool, bool]:
        """One page of one shard, applied: the records it held, whether the shard ended, and
        whether the read was fresh (asked in this step, and answered): a page read ahead was
        asked before the poll began, and a failed read saw nothing, so neither may call the
        link quiet. While a page is applied the shard's next page is read (never in the serial
        mode, whose requests keep one order): the destination then waits for no stream read."""
        if shards.iterators.get(sid) is None:
            after = shards.cps[sid].seq if sid in shards.cps else None
            shards.iterators[sid] = await self.retrying(
                "get-iterator", lambda: tl.reader.iterator(sid, after))
        ahead = shards.ahead.pop(sid, None)
        try:
            page = await (ahead if ahead is not None
                          else tl.reader.page(shards.iterators[sid], self.settings.batch_size))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            shards.iterators[sid] = None  # re-open from the checkpoint (expired iterators too)
            await self._backoff("get-records", 0, classify(exc))
            return 0, False, False
        if page.records:
            if self.paused:  # the batch is held, not applied, until resumed
                self.holding = len(page.records)
                await self._gate.wait()
                self.holding = 0
            if self.record_clock is not None:  # epoch seconds, as record_ms reads
                for r in page.records:
                    r["dynamodb"]["ApproximateCreationDateTime"] = self.record_clock(
                        tl.table.name, r)
            if page.next_iterator is not None and not self.serial:
                shards.ahead[sid] = asyncio.ensure_future(
                    tl.reader.page(page.next_iterator, self.settings.batch_size))
            shards.cps[sid] = shards.unsaved[sid] = await process(self, tl, sid, page.records)
        shards.iterators[sid] = page.next_iterator
        if page.next_iterator is not None:
            return len(page.records), False, ahead is None
        shards.cps[sid] = shards.unsaved[sid] = Checkpoint(
            sid, shards.cps[sid].seq if sid in shards.cps else None, True)
        await self._save(tl, shards.unsaved)
        shards.lineage.finish(sid)
        return len(page.records), True, ahead is None

    async def _save(self, tl: TableLink, unsaved: dict[str, Checkpoint]) -> None:
        """Store the checkpoints of batches already applied (at-least-once: after the apply)."""
        for sid, cp in list(unsaved.items()):
            await self.retrying("checkpoint", lambda c=cp: tl.checkpoints.save(c))
            self.positions[(tl.table.name, sid)] = cp.seq
            del unsaved[sid]

    async def _redriven(self, tl: TableLink, result: ApplyResult,
                        records: dict[str, dict]) -> None:
        """Record what a DLQ redrive applied (its conflicts reached the feed via the journal)."""
        redriven(self, tl, result, records)


def _record_created_ms(rec: dict, version: Version) -> float:
    return record_ms(rec["dynamodb"]["ApproximateCreationDateTime"])

