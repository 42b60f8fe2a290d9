"""Small helpers shared by the integration tests (plain functions, no fixtures)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

# A lab.toml with one table, and a region file: the config tests' smallest valid lab.
LAB = """
[tables.users]
hash_key = { name = "id", type = "S" }
policy = "lww"
"""


def region_toml(name: str, aws_region: str, port: int | str = 9000) -> str:
    port_text = f'"{port}"' if isinstance(port, str) else str(port)
    return f'name = "{name}"\naws_region = "{aws_region}"\nport = {port_text}\n'


def at(path: Path, rest: str) -> str:
    """A ``match=`` pattern: the message starts with the file, then ``rest`` (a regex)."""
    return "^" + re.escape(f"{path}: ") + rest


def stream_records(lab, region: str, table: str = "users") -> list[dict]:
    """Every record in the region's stream for ``table`` (read with a plain boto3 client)."""
    ddb = lab.client(region)
    streams = lab.client(region, "dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    out = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it, Limit=1000)
            out.extend(page["Records"])
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    return out


def raw_items(lab, region: str, table: str = "users") -> dict[str, dict]:
    """Raw items (metadata included) by hash-key string value."""
    ddb = lab.client(region)
    items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["id"]["S"]: item for item in items}


class RaceAfterRead:
    """The destination's real client, with a local write slipped in right after the apply's read.

    Not a mock: every call goes to the real moto server; only the timing is arranged.
    """

    def __init__(self, client, local_write) -> None:
        self._client = client
        self._local_write = local_write
        self.fired = 0

    async def batch_get_item(self, **kw):
        resp = await self._client.batch_get_item(**kw)
        if not self.fired:
            self.fired += 1
            await self._local_write()
        return resp

    def __getattr__(self, name):
        return getattr(self._client, name)


async def write_stamped(lab, region: str, items: dict[str, int], pace_s: float = 0.02) -> None:
    """Write {key: n} to ``region`` as georep's write path stamps new keys, 25 per
    BatchWriteItem with a pause between batches: a fast, steady stream of client writes."""
    import asyncio

    from georep.core.meta import stamp

    clock = lab.writers[region].clock
    client = lab.writers[region].client
    batch = []
    for key, n in items.items():
        attrs = {"id": {"S": key}, "n": {"N": str(n)}}
        batch.append(stamp(attrs, None, origin=region, ts=clock.now(lab.physical_ms(region))))
        if len(batch) == 25:
            await client.batch_write_item(RequestItems={"users": [
                {"PutRequest": {"Item": v.item()}} for v in batch]})
            batch = []
            await asyncio.sleep(pace_s)
    if batch:
        await client.batch_write_item(RequestItems={"users": [
            {"PutRequest": {"Item": v.item()}} for v in batch]})


def with_policy(config, policy: str, crdt: dict[str, str] | None = None):
    """``config`` with every table under ``policy`` (and, for crdt, these attribute types): what
    a test's ``georep_config`` override returns."""
    tables = tuple(replace(t, policy=policy, crdt=dict(crdt or {})) for t in config.tables)
    return replace(config, tables=tables)
