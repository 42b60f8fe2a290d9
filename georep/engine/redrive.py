"""Redrive: read a link's dead-letter queue back and apply what it holds.

Place in the data flow: run by the replicator when its circuit breaker closes, by
``georep dlq redrive`` and by ``georep reconcile``. Each message's stream record is interpreted
again (:func:`georep.core.records.local_write`) and applied through the link like any batch; the
apply is idempotent, so a redrive that runs twice, or races the replicator, changes nothing.

A poison message (non-retriable at the destination) stays in the queue with its reason; a
malformed one is reported and skipped. Neither stops the rest. A retriable failure (the link
still down) stops the redrive and leaves the messages for later. Each message counts once per
redrive: one met again (the copy that records a poison message's real reason, or one whose
visibility ran out) is left for the next redrive.

What it applied is recorded by the caller's ``on_result`` (the replicator's ``apply`` and
``suppress`` events, ``via: redrive``); the ``redrive`` event's ``removed`` is the net number of
messages it took out of the queue, so a link's DLQ depth is its ``dlq`` events less the
``removed`` of its redrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..aws.dlq import DeadLetterQueue, MalformedMessage, Message
from ..aws.errors import classify
from ..core.meta import Version, is_stamped, key_id, key_of, split
from ..core.records import local_write, record_ms
from ..errors import PermanentError, ReplicationError
from .apply import ApplyResult


@dataclass
class RedriveReport:
    received: int = 0
    delivered: int = 0  # written at the destination
    suppressed: int = 0  # already there (a duplicate): removed from the queue all the same
    blocked: int = 0  # the destination holds a plain write not stamped yet: kept for later
    # messages this redrive took out of the queue, net: deleted, less those sent in their
    # place (a poison message re-sent with its real reason)
    removed: int = 0
    poison: list[dict[str, Any]] = field(default_factory=list)  # kept, with their reason
    malformed: list[dict[str, Any]] = field(default_factory=list)  # kept, reported
    stopped: str | None = None  # the retriable error that stopped the redrive

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


RECEIVES = 10  # receives (of ten messages at most) gathered into one apply


class Redriver:
    def __init__(self, dlq: DeadLetterQueue, src: str, tables: Mapping[str, Any],
                 emit: Callable[..., Any],
                 on_result: Callable[[Any, ApplyResult, dict[str, dict]], Awaitable[None]]
                 ) -> None:
        # records applies like any batch's: on_result(table link, result, key id -> the
        # stream record of the version applied)
        self.on_result = on_result
        self.dlq = dlq
        self.src = src
        self.tables = tables  # table name -> TableLink (applier to dst, local applier to src)
        self.emit = emit
        self._running = asyncio.Lock()

    async def _version(self, tl, message: dict[str, Any]) -> Version | None:
        d = message["record"]["dynamodb"]
        if message.get("truncated"):
            # Only the keys survived: ship the source's current item (at least as new).
            resp = await tl.local.client.get_item(TableName=tl.table.name, Key=d["Keys"],
                                                  ConsistentRead=True)
            attrs, meta = split(resp.get("Item"))
            if not is_stamped(attrs, meta):
                raise PermanentError("truncated record, and the source item is not stamped")
            return Version(attrs, meta)
        if isinstance(message.get("version"), dict):
            attrs, meta = split(message["version"])
            if not is_stamped(attrs, meta):
                raise PermanentError("the message's version does not match its metadata")
            return Version(attrs, meta)
        lw = local_write(
            event=message["record"].get("eventName", "MODIFY"), keys=d["Keys"],
            old_image=d.get("OldImage"), new_image=d.get("NewImage"), origin=self.src,
            record_ms=record_ms(d["ApproximateCreationDateTime"]),
            seq=int(d["SequenceNumber"]), key_names=tl.table.key_names,
            crdt=tl.table.policy == "crdt")
        return lw.version if lw is not None else None

    async def redrive(self, visibility_s: int = 30) -> RedriveReport:
        """Redrive the queue until it is empty or holds only what this redrive met; one at a
        time per link in this process (the replicator's own and reconcile's would otherwise
        meet each other's messages once a long round outlasts their visibility, and both
        count them)."""
        async with self._running:
            return await self._redrive(visibility_s)

    async def _redrive(self, visibility_s: int) -> RedriveReport:
        report = RedriveReport()
        kept: dict[str, Message] = {}  # by id: the latest receipt is the one to release with
        met: set[str] = set()  # ids received, or sent, by this redrive
        try:
            while True:
                batch = await self._round(visibility_s, met, kept)
                if not batch:
                    return report  # the queue is empty, or holds only what this one met
                report.received += len(batch)
                alone = await self._together(batch, report, kept)
                for i, m in enumerate(alone):  # one at a time: find the poison, keep the rest
                    outcome = await self._one(m, report, met)
                    if outcome == "keep":
                        kept[m.id] = m
                    elif outcome == "stop":
                        kept.update((n.id, n) for n in alone[i:])
                        return report
        finally:
            for m in kept.values():
                await self._release(m)
            if report.received or report.stopped:  # an empty queue's redrive is no event
                self.emit("redrive", link=self.dlq.link, received=report.received,
                          delivered=report.delivered, suppressed=report.suppressed,
                          poison=len(report.poison), malformed=len(report.malformed),
                          stopped=report.stopped, removed=report.removed)

    async def _round(self, visibility_s: int, met: set[str],
                     kept: dict[str, Message]) -> list[Message]:
        """Up to ``RECEIVES`` receives' worth of messages this redrive has not met: applied
        together, a backlog's many versions of one key collapse to its latest (a chaos run's
        final redrive held 870 messages for 5 keys, and one apply per ten messages took a
        minute)."""
        batch: list[Message] = []
        at: dict[str, int] = {}  # id -> place in this round's batch
        for _ in range(RECEIVES):
            received = await self.dlq.receive(visibility_s=visibility_s)
            fresh = []
            for m in received:
                if m.id in at:  # met again inside its own round: delete it by its latest receipt
                    batch[at[m.id]] = m
                elif m.id in met:  # met before: visible again at the end, with this receipt
                    kept[m.id] = m
                else:
                    fresh.append(m)
            if not fresh:
                break
            for m in fresh:
                at[m.id] = len(batch)
                batch.append(m)
            met.update(m.id for m in fresh)
        return batch

    async def _collect(self, batch: list[Message]):
        """Each table's latest version of each key in ``batch`` (by stream sequence number:
        the later record of a key has seen the earlier), where each message stands ((table,
        key id), key id None for a message with nothing to ship), and the messages that must
        go one by one (not well-formed, or failing to interpret)."""
        per_table: dict[str, dict[str, tuple[Version, int, dict]]] = {}
        where: dict[str, tuple[str, str | None]] = {}  # message id -> (table, key id or None)
        alone: list[Message] = []
        for m in batch:
            try:
                message = m.decoded()
                if message["link"] != self.dlq.link or message["table"] not in self.tables:
                    raise MalformedMessage("another link's")
                tl = self.tables[message["table"]]
                version = await self._version(tl, message)
            except Exception:  # reported, or kept, by the one-by-one pass
                alone.append(m)
                continue
            if version is None:
                where[m.id] = (message["table"], None)
                continue
            seq = int(message["record"]["dynamodb"]["SequenceNumber"])
            kid = key_id(key_of(version.attrs, tl.table.key_names))
            where[m.id] = (message["table"], kid)
            keep = per_table.setdefault(message["table"], {})
            if kid not in keep or keep[kid][1] < seq:
                keep[kid] = (version, seq, message["record"])
        return per_table, where, alone

    async def _together(self, batch: list[Message], report: RedriveReport,
                        kept: dict[str, Message]) -> list[Message]:
        """Apply a round's messages in one go, each key's latest version only; the messages
        left to go one by one: those :meth:`_collect` set apart, and a failed key's (the
        writes of the others are reported as this redrive's)."""
        per_table, where, alone = await self._collect(batch)
        results, failing = {}, set()
        for t, keep in per_table.items():
            names = self.tables[t].table.key_names
            failed: list = []
            try:
                results[t] = await self.tables[t].applier.apply(
                    [v for v, _, _ in keep.values()], failed=failed)
            except Exception:  # nothing written (the read failed): each key on its own
                failing.update((t, kid) for kid in keep)
                continue
            failing.update((t, key_id(key_of(v.attrs, names))) for v, _ in failed)
        blocked = {(t, key_id(key_of(v.attrs, self.tables[t].table.key_names)))
                   for t, r in results.items() for v in r.blocked}
        for t, r in results.items():
            report.delivered += r.applied
            await self.on_result(self.tables[t], r,
                                 {kid: rec for kid, (_, _, rec) in per_table[t].items()})
        done = []
        for m in batch:
            spot = where.get(m.id)
            if spot is None:
                continue  # already in ``alone``
            if spot in failing:
                alone.append(m)
            elif spot in blocked:
                report.blocked += 1
                kept[m.id] = m
            else:
                done.append(m)
        await self.dlq.delete_many(done)
        report.removed += len(done)
        report.suppressed += len(done) - sum(r.applied for r in results.values())
        return alone

    async def _one(self, m: Message, report: RedriveReport, met: set[str]) -> str:
        try:
            message = m.decoded()
            if message["link"] != self.dlq.link or message["table"] not in self.tables:
                raise MalformedMessage(f"belongs to {message['link']}/{message['table']}")
        except MalformedMessage as exc:
            report.malformed.append({"id": m.id, "error": str(exc)})
            self.emit("dlq-malformed", link=self.dlq.link, id=m.id, error=str(exc))
            return "keep"
        tl = self.tables[message["table"]]
        try:
            version = await self._version(tl, message)
            if version is None:  # nothing to ship (a replicated write): done
                await self._delete(m, report)
                report.suppressed += 1
                return "done"
            result = await tl.applier.apply([version])
        except Exception as exc:  # classified: poison stays, a failing link stops the redrive
            err = exc if isinstance(exc, ReplicationError) else classify(exc)
            if err.retriable:
                report.stopped = str(err)
                return "stop"
            report.poison.append({"id": m.id, "error": str(err)})
            if message.get("retriable", True):
                # Stored as retriable (sent while the link was down): record the real reason.
                sent = await self.dlq.send([{
                    **message, "reason": "non-retriable", "error": str(err), "retriable": False,
                    "last_failure": time.time()}])
                met.update(sent)  # the same message: not counted again
                report.removed -= len(sent)
                await self._delete(m, report)
                return "done"
            return "keep"
        await self.on_result(tl, result, {key_id(key_of(version.attrs, tl.table.key_names)):
                                          message["record"]})
        if result.blocked:  # the destination's plain write is not stamped yet: later
            report.blocked += 1
            return "keep"
        if result.applied:
            report.delivered += 1
        else:
            report.suppressed += 1
        await self._delete(m, report)
        return "done"

    async def _release(self, m: Message) -> None:
        """Make a kept message visible again; one that is gone (deleted in the round that met
        it first, under an older receipt) needs nothing, and one failure stops no other."""
        try:
            await self.dlq.release(m)
        except Exception as exc:
            self.emit("dlq-release-failed", link=self.dlq.link, id=m.id,
                      error=str(exc)[:200])

    async def _delete(self, m: Message, report: RedriveReport) -> None:
        await self.dlq.delete(m)
        report.removed += 1
