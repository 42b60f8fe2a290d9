"""Checkpoints: how far each link has replicated each shard, stored in the source region.

Place in the data flow: the replicator loads them at start and saves one after every batch
whose apply succeeded (at-least-once: a crash between apply and save replays that batch, which
the idempotent apply suppresses).
"""

from __future__ import annotations

from dataclasses import dataclass

from .tables import CHECKPOINT_TABLE


@dataclass(frozen=True, slots=True)
class Checkpoint:
    shard_id: str
    seq: str | None  # last sequence number applied; None: nothing yet
    finished: bool = False  # the shard is closed and fully applied


class CheckpointStore:
    def __init__(self, client, link: str, table: str) -> None:
        self.client = client
        self.prefix = f"{link}|{table}|"

    async def load(self) -> dict[str, Checkpoint]:
        out: dict[str, Checkpoint] = {}
        kw = {
            "TableName": CHECKPOINT_TABLE,
            "ConsistentRead": True,
            "FilterExpression": "begins_with(id, :p)",
            "ExpressionAttributeValues": {":p": {"S": self.prefix}},
        }
        while True:
            resp = await self.client.scan(**kw)
            for item in resp.get("Items", []):
                shard = item["id"]["S"][len(self.prefix):]
                seq = item.get("seq", {}).get("S")
                out[shard] = Checkpoint(shard, seq, item.get("finished", {}).get("BOOL", False))
            if "LastEvaluatedKey" not in resp:
                return out
            kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    async def save(self, cp: Checkpoint) -> None:
        item = {"id": {"S": self.prefix + cp.shard_id}, "finished": {"BOOL": cp.finished}}
        if cp.seq is not None:
            item["seq"] = {"S": cp.seq}
        await self.client.put_item(TableName=CHECKPOINT_TABLE, Item=item)
