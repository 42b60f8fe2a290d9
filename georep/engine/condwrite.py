"""The one conditional write georep makes to a user's table: "replace what I read, or nothing".

Place in the data flow: the last step of every georep write to a user's table (the write path,
the apply step, reconcile's repair). DynamoDB has no "item equals" condition, so
:func:`write_if_unchanged` builds one from what the writer read:

* absent: the key must still be absent;
* present: the metadata must be unchanged and every attribute read must still hold the value
  read (a plain client's UpdateItem leaves the metadata as it was, so the metadata alone would
  not notice it).

The write to an existing item is an UpdateItem that sets the new version's attributes and
removes the ones it dropped, never a PutItem. An attribute the write sets but did not read is
conditioned on its absence: a plain client that added it in the window between the read and
the write wrote a value the merge never saw (the SET would replace it), so the write loses the
race, re-reads and merges again. Any other attribute a plain client *added* in the window (no
condition can name an attribute nobody mentions) survives the UpdateItem. The item then
holds attributes its metadata does not describe, and the region's replicator treats it as a
plain write made after this one (:func:`georep.core.records.local_write`), which is what it is.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..config import Table
from ..core.meta import META, Version, key_of

# An expression string may not exceed 4 KB; past this many attributes the condition covers the
# metadata and the attribute names only (an UpdateItem still keeps concurrent additions).
MAX_ATTRS = 60


def _update_request(table: Table, version: Version, raw: dict) -> dict[str, Any]:
    """UpdateItem arguments: set ``version``'s attributes, remove those of ``raw`` it dropped,
    on condition that the item still holds ``raw``'s metadata and attribute values."""
    item = version.item()
    names: dict[str, str] = {}
    values: dict[str, Any] = {}

    def name(attr: str) -> str:
        names[f"#n{len(names)}"] = attr
        return f"#n{len(names) - 1}"

    def value(v: Any) -> str:
        values[f":v{len(values)}"] = v
        return f":v{len(values) - 1}"

    keys = set(table.key_names)
    sets, added = [], []
    for a, v in item.items():
        if a in keys:
            continue
        n = name(a)
        sets.append(f"{n} = {value(v)}")
        if a not in raw and a != META:
            added.append(n)
    removes = [name(a) for a in raw if a not in item and a not in keys]
    checked = [a for a in raw if a not in keys]
    compare = len(checked) <= MAX_ATTRS
    conds = [f"attribute_exists({name(table.hash_key.name)})"]
    if META not in raw:
        conds.append(f"attribute_not_exists({name(META)})")
    # An attribute this write sets and did not read must still be absent: a plain client that
    # added it in the window wrote a value this merge never saw, and the SET would replace it.
    conds.extend(f"attribute_not_exists({n})" for n in added)
    for a in checked:
        if compare or a == META:
            conds.append(f"{name(a)} = {value(raw[a])}")
        else:
            conds.append(f"attribute_exists({name(a)})")
    expr = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {"TableName": table.name, "Key": key_of(item, table.key_names),
            "UpdateExpression": expr, "ConditionExpression": " AND ".join(conds),
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


async def write_if_unchanged(client, table: Table, version: Version, raw: dict | None) -> bool:
    """Write ``version`` if the item is still ``raw`` (None: still absent). False if not."""
    try:
        if raw is None:
            # A PutItem: moto's UpdateItem of an absent item streams two INSERT records, the
            # first with the key alone, which would read as a plain client's write.
            await client.put_item(
                TableName=table.name, Item=version.item(),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": table.hash_key.name})
        else:
            await client.update_item(**_update_request(table, version, raw))
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
