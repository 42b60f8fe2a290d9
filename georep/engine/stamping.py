"""Stamping plain-client writes at their source: the write-back of a replicator-made stamp.

Place in the data flow: the replicator stamps a plain AWS client's write from its stream record
(:func:`georep.core.records.stamp_plain`) and, before shipping it, stores the stamp on the source
item so that the source and every destination order that write the same way.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..config import Table
from ..core.meta import META, encode, is_stamped, key_of, split
from ..core.records import LocalWrite


async def write_back(source, table: Table, lw: LocalWrite, region: str) -> bool:
    """Store ``lw``'s stamp on the source item. True if it now stamps the item's attributes;
    False if it could not be stored, or landed on a later plain write's attributes.

    Conditional: only if the item still carries the metadata the record saw, or none, or an
    older write-back of this region (writer ``stamp``, a smaller sequence number): a later
    plain write keeps the metadata it found, so the stamp may land on its attributes, and it
    then names exactly the version that write replaced. It sets the metadata only, so it never
    overwrites a value; and a version georep wrote (an apply, a repair) never matches.

    A plain delete's stamp (a tombstone) has no item to land on: False, and the replicator
    records it in the key's tombstone row instead.
    """
    v = lw.version.written_by("stamp")
    if v.meta.tombstone:
        return False  # a plain delete has no item to carry it: see Replicator._write_back
    try:
        names = {"#m": META, "#k": table.hash_key.name, "#o": "o", "#q": "q", "#w": "w"}
        values = {":meta": encode(v.meta), ":origin": {"S": region},
                  ":seq": {"N": str(lw.seq)}, ":stamp": {"S": "stamp"}}
        seen = ""
        if lw.seen is not None:
            values[":seen"] = lw.seen
            seen = "#m = :seen OR "
        resp = await source.update_item(
            TableName=table.name, Key=key_of(v.attrs, table.key_names),
            UpdateExpression="SET #m = :meta",
            ConditionExpression=(
                f"attribute_exists(#k) AND ({seen}attribute_not_exists(#m) OR "
                "(#m.#w = :stamp AND #m.#o = :origin AND #m.#q < :seq))"),
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW")
        attrs, meta = split(resp.get("Attributes"))
        return is_stamped(attrs, meta)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
