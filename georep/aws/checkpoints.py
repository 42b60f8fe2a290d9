"""Checkpoints and the link's lease: how far a link has replicated, and who may move it.

Place in the data flow: stored in the source region, one item per link and table. A replicator
takes the lease when it starts (epoch + 1, its own owner id) and saves a checkpoint after every
batch whose apply succeeded (at-least-once: a crash between apply and save replays that batch,
which the idempotent apply suppresses). Every save is conditional on the epoch still being its
own, so a zombie (an older replicator of the same link that kept running) cannot move the
checkpoint: its save fails with :class:`~georep.errors.Fenced` and it stops itself.

Item: ``id = "<src>><dst>|<table>"``, ``owner``, ``epoch``, ``shards = {shard: {seq, finished}}``.
(The table also holds the stamp store's ``stamp|...`` and the tombstones' ``tomb|...`` rows,
and in an external region the lab's ``claim`` row (:mod:`georep.runtime.claims`); only
``<link>|<table>`` rows are checkpoints.) An item that does not have this shape (a
sequence number that is not one, an epoch that is not a number) raises
:class:`~georep.errors.CheckpointUnreadable`: the link stops with that reason until
:func:`reset` rewrites the item.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..errors import CheckpointUnreadable, Fenced, LabError
from .streams import StreamReader
from .tables import CHECKPOINT_TABLE

SEQUENCE = re.compile(r"[0-9]{1,40}")  # DynamoDB Streams sequence numbers are decimal
RESET_TO = ("trim-horizon", "latest")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    shard_id: str
    seq: str | None  # last sequence number applied; None: nothing yet
    finished: bool = False  # the shard is closed and fully applied


def _ccf(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class CheckpointStore:
    def __init__(self, client, link: str, table: str) -> None:
        self.client = client
        self.id = {"id": {"S": f"{link}|{table}"}}
        self.owner = uuid.uuid4().hex
        self.epoch: int | None = None

    async def acquire(self) -> dict[str, Checkpoint]:
        """Take the lease (epoch + 1) and return the checkpoints it guards."""
        while True:
            resp = await self.client.get_item(TableName=CHECKPOINT_TABLE, Key=self.id,
                                              ConsistentRead=True)
            item = resp.get("Item")
            checkpoints = self._parse(item)  # before the update: a corrupt item stays as it is
            current = self._epoch(item)
            epoch = (current or 0) + 1
            kw = {"TableName": CHECKPOINT_TABLE, "Key": self.id,
                  "UpdateExpression": "SET #o = :o, #e = :e"
                                      + ("" if item and "shards" in item else ", #s = :empty"),
                  "ExpressionAttributeNames": {"#o": "owner", "#e": "epoch"},
                  "ExpressionAttributeValues": {":o": {"S": self.owner}, ":e": {"N": str(epoch)}}}
            if not (item and "shards" in item):
                kw["ExpressionAttributeNames"]["#s"] = "shards"
                kw["ExpressionAttributeValues"][":empty"] = {"M": {}}
            if current is None:
                kw["ConditionExpression"] = "attribute_not_exists(#e)"
            else:
                kw["ConditionExpression"] = "#e = :seen"
                kw["ExpressionAttributeValues"][":seen"] = {"N": str(current)}
            try:
                await self.client.update_item(**kw)
            except ClientError as exc:
                if _ccf(exc):
                    continue  # another replicator took it in between: go one higher
                raise
            self.epoch = epoch
            return checkpoints

    def _unreadable(self, why: str) -> CheckpointUnreadable:
        return CheckpointUnreadable(f"checkpoint unreadable: {self.id['id']['S']}: {why}")

    def _epoch(self, item: dict | None) -> int | None:
        if not item or "epoch" not in item:
            return None
        value = item["epoch"]
        if not isinstance(value, dict) or not SEQUENCE.fullmatch(str(value.get("N", ""))):
            raise self._unreadable(f"epoch is {_shown(value)}, not a number")
        return int(value["N"])

    def _parse(self, item: dict | None) -> dict[str, Checkpoint]:
        shards = (item or {}).get("shards", {"M": {}})
        if not isinstance(shards, dict) or not isinstance(shards.get("M"), dict):
            raise self._unreadable(f"shards is {_shown(shards)}, not a map")
        out = {}
        for shard, value in shards["M"].items():
            m = value.get("M") if isinstance(value, dict) else None
            if not isinstance(m, dict):
                raise self._unreadable(f"shard {shard}: {_shown(value)} is not a map")
            seq = m.get("seq")
            if seq is not None and not (isinstance(seq, dict) and isinstance(seq.get("S"), str)
                                        and SEQUENCE.fullmatch(seq["S"])):
                raise self._unreadable(f"shard {shard}: seq {_shown(seq)} is not a sequence "
                                       "number")
            finished = m.get("finished", {"BOOL": False})
            if not isinstance(finished, dict) or not isinstance(finished.get("BOOL"), bool):
                raise self._unreadable(f"shard {shard}: finished {_shown(finished)} is not "
                                       "true or false")
            out[shard] = Checkpoint(shard, seq and seq["S"], finished["BOOL"])
        return out

    async def load(self) -> dict[str, Checkpoint]:
        """The stored checkpoints, without taking the lease."""
        resp = await self.client.get_item(TableName=CHECKPOINT_TABLE, Key=self.id,
                                          ConsistentRead=True)
        return self._parse(resp.get("Item"))

    async def save(self, cp: Checkpoint) -> None:
        if self.epoch is None:
            raise RuntimeError("save() before acquire()")
        value: dict = {"finished": {"BOOL": cp.finished}}
        if cp.seq is not None:
            value["seq"] = {"S": cp.seq}
        try:
            await self.client.update_item(
                TableName=CHECKPOINT_TABLE, Key=self.id,
                UpdateExpression="SET #s.#shard = :cp",
                ConditionExpression="#e = :mine",
                ExpressionAttributeNames={"#s": "shards", "#shard": cp.shard_id, "#e": "epoch"},
                ExpressionAttributeValues={":cp": {"M": value}, ":mine": {"N": str(self.epoch)}})
        except ClientError as exc:
            if _ccf(exc):
                raise Fenced(f"{self.id['id']['S']}: lease epoch {self.epoch} was taken over; "
                             "this replicator is a zombie and stops") from None
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                # The epoch matched, so the item's shape is what the update cannot use.
                message = exc.response["Error"].get("Message", "")
                raise self._unreadable(f"cannot be updated ({message[:200]})") from None
            raise

    async def reset(self) -> None:
        """Forget every checkpoint of this link and table (the next start replays the stream)."""
        await self.client.delete_item(TableName=CHECKPOINT_TABLE, Key=self.id)

    async def rewrite(self, checkpoints: dict[str, Checkpoint]) -> None:
        """Replace the item, whatever it holds, with these checkpoints and a new epoch (one
        above the old one if it is readable), so that no earlier lease holder can save."""
        resp = await self.client.get_item(TableName=CHECKPOINT_TABLE, Key=self.id,
                                          ConsistentRead=True)
        try:
            epoch = (self._epoch(resp.get("Item")) or 0) + 1
        except CheckpointUnreadable:
            epoch = 1  # every holder of the old lease fails its next save: the epoch is no N
        shards = {}
        for cp in checkpoints.values():
            value: dict = {"finished": {"BOOL": cp.finished}}
            if cp.seq is not None:
                value["seq"] = {"S": cp.seq}
            shards[cp.shard_id] = {"M": value}
        await self.client.put_item(TableName=CHECKPOINT_TABLE, Item={
            **self.id, "owner": {"S": "reset"}, "epoch": {"N": str(epoch)},
            "shards": {"M": shards}})


def checked(to: str) -> str:
    """``to`` if it names a reset (trim-horizon or latest); else a one-line LabError."""
    if to not in RESET_TO:
        raise LabError(f"a checkpoint is reset to trim-horizon or latest, not {to!r}")
    return to


def _shown(value: object) -> str:
    return repr(value)[:80]


async def reset(client, reader: StreamReader, link: str, table: str,
                to: str) -> dict[str, Checkpoint]:
    """Rewrite a link's checkpoint of one table; the link's replicator must not be running.

    ``trim-horizon``: no checkpoint, the next start replays the whole stream (safe: applies are
    idempotent, replays are suppressed duplicates). ``latest``: every shard's checkpoint at its
    last record now, so what the stream holds is skipped, never replicated.
    """
    checked(to)
    checkpoints = await _latest(reader) if to == "latest" else {}
    await CheckpointStore(client, link, table).rewrite(checkpoints)
    return checkpoints


async def _latest(reader: StreamReader) -> dict[str, Checkpoint]:
    """Each shard's last sequence number, read to its end (finished if the shard is closed)."""
    out = {}
    for shard in await reader.shards():
        seq, it = None, await reader.iterator(shard.shard_id, None)
        while it is not None:
            page = await reader.page(it, 1000)
            if page.records:
                seq = page.records[-1]["dynamodb"]["SequenceNumber"]
            elif page.next_iterator is not None:
                break  # an open shard, read to its end
            it = page.next_iterator
        out[shard.shard_id] = Checkpoint(shard.shard_id, seq, it is None)
    return out
