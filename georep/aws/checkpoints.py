"""Checkpoints and the link's lease: how far a link has replicated, and who may move it.

Place in the data flow: stored in the source region, one item per link and table. A replicator
takes the lease when it starts (epoch + 1, its own owner id) and saves a checkpoint after every
batch whose apply succeeded (at-least-once: a crash between apply and save replays that batch,
which the idempotent apply suppresses). Every save is conditional on the epoch still being its
own, so a zombie (an older replicator of the same link that kept running) cannot move the
checkpoint: its save fails with :class:`~georep.errors.Fenced` and it stops itself.

Item: ``id = "<src>><dst>|<table>"``, ``owner``, ``epoch``, ``shards = {shard: {seq, finished}}``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..errors import Fenced
from .tables import CHECKPOINT_TABLE


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
            current = int(item["epoch"]["N"]) if item and "epoch" in item else None
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
            return self._parse(item)

    @staticmethod
    def _parse(item: dict | None) -> dict[str, Checkpoint]:
        out = {}
        for shard, value in ((item or {}).get("shards", {}).get("M", {})).items():
            m = value["M"]
            out[shard] = Checkpoint(shard, m.get("seq", {}).get("S"),
                                    m.get("finished", {}).get("BOOL", False))
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
            raise

    async def reset(self) -> None:
        """Forget every checkpoint of this link and table (the next start replays the stream)."""
        await self.client.delete_item(TableName=CHECKPOINT_TABLE, Key=self.id)
