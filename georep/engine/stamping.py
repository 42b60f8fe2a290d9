"""Stamping plain-client writes at their source: the write-back of a replicator-made stamp.

Place in the data flow: the replicator stamps a plain AWS client's write from its stream record
(:func:`georep.core.meta.stamp_plain`) and, before shipping it, stores the stamp on the source
item so that the source and every destination order that write the same way.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..config import Table
from ..core.meta import META, encode, key_of
from ..core.records import LocalWrite


async def write_back(source, table: Table, lw: LocalWrite, region: str) -> bool:
    """Store ``lw``'s stamp on the source item. False if the item changed since the record.

    Conditional: only if the item still carries the metadata the record saw (or an older
    write-back of this region), so a newer write is never overwritten.
    """
    v = lw.version.written_by("replicator")
    try:
        if v.meta.tombstone:
            await source.put_item(
                TableName=table.name, Item=v.item(),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": table.hash_key.name})
            return True
        names = {"#m": META, "#k": table.hash_key.name, "#o": "o", "#q": "q"}
        values = {":meta": encode(v.meta), ":origin": {"S": region},
                  ":seq": {"N": str(lw.seq)}, ":zero": {"N": "0"}}
        seen = ""
        if lw.seen is not None:
            values[":seen"] = lw.seen
            seen = "#m = :seen OR "
        await source.update_item(
            TableName=table.name, Key=key_of(v.attrs, table.key_names),
            UpdateExpression="SET #m = :meta",
            ConditionExpression=(
                f"attribute_exists(#k) AND ({seen}attribute_not_exists(#m) OR "
                "(#m.#o = :origin AND #m.#q > :zero AND #m.#q < :seq))"),
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
