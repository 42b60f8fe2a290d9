"""Creating the lab's tables in a region: user tables with streams, and the checkpoint table
(which also holds the stamp store's and the tombstone rows); reading rows of the latter.

Place in the data flow: run once per region when a lab starts, before any replicator.
"""

from __future__ import annotations

import asyncio

from botocore.exceptions import ClientError

from ..config import Table
from .batches import reads

CHECKPOINT_TABLE = "georep_checkpoints"


def table_request(table: Table) -> dict:
    keys = [{"AttributeName": table.hash_key.name, "KeyType": "HASH"}]
    defs = [{"AttributeName": table.hash_key.name, "AttributeType": table.hash_key.type}]
    if table.range_key:
        keys.append({"AttributeName": table.range_key.name, "KeyType": "RANGE"})
        defs.append({"AttributeName": table.range_key.name, "AttributeType": table.range_key.type})
    return {
        "TableName": table.name,
        "KeySchema": keys,
        "AttributeDefinitions": defs,
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def checkpoint_request() -> dict:
    return {
        "TableName": CHECKPOINT_TABLE,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


async def ensure_table(client, request: dict, timeout_s: float = 30.0) -> str | None:
    """Create a table unless it exists; wait until ACTIVE. Returns its latest stream ARN."""
    name = request["TableName"]
    try:
        await client.create_table(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = 0.01
    while True:
        desc = (await client.describe_table(TableName=name))["Table"]
        if desc["TableStatus"] == "ACTIVE":
            return desc.get("LatestStreamArn")
        if loop.time() > deadline:
            raise TimeoutError(f"table {name} not ACTIVE after {timeout_s}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def stream_of(client, table: str) -> tuple[str, bool]:
    """The table's latest stream ARN, and whether that stream is enabled (one DescribeTable)."""
    desc = (await client.describe_table(TableName=table))["Table"]
    arn = desc.get("LatestStreamArn")
    if not arn:
        raise LookupError(f"table {table} has no stream (enable NEW_AND_OLD_IMAGES)")
    return arn, bool(desc.get("StreamSpecification", {}).get("StreamEnabled"))


async def stream_arn(client, table: str) -> str:
    return (await stream_of(client, table))[0]


async def checkpoint_rows(client, ids: dict[str, str]) -> dict[str, dict]:
    """Rows of the checkpoint table, consistently read: {name: row id} -> {name: raw row}
    (a name without a row is absent from the answer)."""
    wanted = list(ids.items())
    out: dict[str, dict] = {}
    for start in range(0, len(wanted), 100):
        chunk = dict(wanted[start:start + 100])
        by_id = {row_id: name for name, row_id in chunk.items()}
        request = {CHECKPOINT_TABLE: {"Keys": [{"id": {"S": i}} for i in chunk.values()],
                                      "ConsistentRead": True}}
        async for resp in reads(client, request):
            for row in resp.get("Responses", {}).get(CHECKPOINT_TABLE, []):
                out[by_id[row["id"]["S"]]] = row
    return out


def unfit(desc: dict, request: dict) -> str | None:
    """Why an existing table (its DescribeTable ``Table``) cannot serve as the table
    ``request`` would create, in a few words; None when it can: the same key schema and key
    types, and, for a table georep replicates, a stream with NEW_AND_OLD_IMAGES."""
    def keys(d: dict) -> list[tuple[str, str, str]]:
        types = {a["AttributeName"]: a["AttributeType"]
                 for a in d.get("AttributeDefinitions", [])}
        return [(k["KeyType"], k["AttributeName"], types.get(k["AttributeName"], "?"))
                for k in d.get("KeySchema", [])]

    def said(ks: list[tuple[str, str, str]]) -> str:
        return ", ".join(f"{kind.lower()} key {name} ({t})" for kind, name, t in ks)

    if keys(desc) != keys(request):
        return f"its key is {said(keys(desc))}; georep needs {said(keys(request))}"
    if "StreamSpecification" in request:
        spec = desc.get("StreamSpecification") or {}
        if not spec.get("StreamEnabled"):
            return "its stream is off; enable a stream with NEW_AND_OLD_IMAGES"
        if spec.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
            return (f"its stream shows {spec.get('StreamViewType')}; georep needs "
                    "NEW_AND_OLD_IMAGES")
    return None


async def create_or_adopt(client, request: dict, *, adopt: bool) -> str:
    """Create the table ``request`` describes, or use the one that exists: ``created``,
    ``adopted`` or ``existing`` (georep's own tables, which any earlier lab may have created).
    An existing user table is used only with ``adopt``, and only when it fits (:func:`unfit`)
    and is empty (one Scan of one item says so); ValueError says why not. georep never
    deletes a table, created or adopted."""
    name = request["TableName"]
    try:
        desc = (await client.describe_table(TableName=name))["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        await ensure_table(client, request)
        return "created"
    own = name.startswith("georep_")
    if not adopt and not own:
        raise ValueError(f"table {name} already exists; `georep up --adopt` uses it, after "
                         "checking its key schema and its stream")
    why = unfit(desc, request)
    if why is not None:
        raise ValueError(f"table {name} cannot be used: {why}")
    if not own and (await client.scan(TableName=name, Limit=1, Select="COUNT",
                                      ConsistentRead=True))["Count"]:
        # Its items carry no metadata this lab can trust (written before it, or by an
        # earlier lab with another secret), and no stream record will ever stamp them: every
        # replicated write to one of their keys would wait for a stamp forever.
        raise ValueError(f"table {name} holds items; georep adopts empty tables only (items "
                         "written before this lab carry no metadata it can trust); empty it, "
                         "or name another table in lab.toml")
    await ensure_table(client, request)  # waits until it is ACTIVE
    return "existing" if own else "adopted"
