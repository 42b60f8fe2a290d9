"""DynamoDB Streams: shard discovery, iterators and record pages.

Place in the data flow: the replicator's only way to read its source region's changes. Shard
lineage (which shard may be read now) is decided by :mod:`georep.core.lineage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.lineage import Shard


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    next_iterator: str | None  # None: the shard is closed and fully read


class StreamReader:
    def __init__(self, client, arn: str) -> None:
        self.client = client
        self.arn = arn

    async def shards(self) -> list[Shard]:
        out: list[Shard] = []
        start = None
        while True:
            kw = {"StreamArn": self.arn}
            if start:
                kw["ExclusiveStartShardId"] = start
            desc = (await self.client.describe_stream(**kw))["StreamDescription"]
            out.extend(Shard(s["ShardId"], s.get("ParentShardId")) for s in desc["Shards"])
            start = desc.get("LastEvaluatedShardId")
            if not start:
                return out

    async def iterator(self, shard_id: str, after_seq: str | None) -> str:
        kw = {"StreamArn": self.arn, "ShardId": shard_id}
        if after_seq is None:
            kw["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kw["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kw["SequenceNumber"] = after_seq
        return (await self.client.get_shard_iterator(**kw))["ShardIterator"]

    async def page(self, iterator: str, limit: int) -> Page:
        resp = await self.client.get_records(ShardIterator=iterator, Limit=limit)
        return Page(resp.get("Records", []), resp.get("NextShardIterator"))
