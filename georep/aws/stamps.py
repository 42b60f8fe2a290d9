"""The memory of plain-write stamps that did not reach their own item, kept in the source region.

Place in the data flow: the replicator stamps a plain client's write from its stream record and
writes the stamp back to the item. When a later write landed first, the stamp never sits on the
item it describes, yet the later write's record (its OldImage: the earlier write, unstamped)
must name it as the version it replaced. The replicator remembers such stamps in memory; this
store keeps them across restarts, in the region's checkpoint table.

Item: ``id = "stamp|<table>|<key id>"``, ``stamps`` = {sequence number: the stamped version
(user attributes plus metadata)}, the ``KEEP`` latest. Several are kept, not one: a replicator
that restarts replays records from its checkpoint, and each replayed record must find the stamp
of the write before *it*, not a later one, to get the stamp it got the first time. The
replicators of every link out of the region save the same stamps (each record's stamp depends
only on the record and the stamps before it), so they can all save.
"""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ClientError

from ..core.meta import MetadataError, Version, is_stamped, split
from .tables import CHECKPOINT_TABLE, checkpoint_rows

KEEP = 8


def _id(table: str, kid: str) -> dict:
    return {"id": {"S": f"stamp|{table}|{kid}"}}


def _ccf(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class StampStore:
    def __init__(self, client, table: str) -> None:
        self.client = client
        self.table = table

    async def save(self, kid: str, seq: int, version: Version) -> None:
        key = _id(self.table, kid)
        names = {"#st": "stamps", "#s": str(seq)}
        entry = {":v": {"M": version.item()}}
        try:  # the map exists: add this stamp to it
            resp = await self.client.update_item(
                TableName=CHECKPOINT_TABLE, Key=key, UpdateExpression="SET #st.#s = :v",
                ConditionExpression="attribute_exists(#st)", ExpressionAttributeNames=names,
                ExpressionAttributeValues=entry, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if not _ccf(exc):
                raise
            try:  # the first stamp of this key
                await self.client.put_item(
                    TableName=CHECKPOINT_TABLE,
                    Item={**key, "stamps": {"M": {str(seq): entry[":v"]}}},
                    ConditionExpression="attribute_not_exists(id)")
                return
            except ClientError as again:
                if not _ccf(again):
                    raise
                return await self.save(kid, seq, version)  # another link made it meanwhile
        kept = sorted(resp["Attributes"]["stamps"]["M"], key=int)
        if len(kept) > KEEP:
            old = kept[:-KEEP]
            await self.client.update_item(
                TableName=CHECKPOINT_TABLE, Key=key,
                UpdateExpression="REMOVE " + ", ".join(f"#st.#o{i}" for i in range(len(old))),
                ExpressionAttributeNames={"#st": "stamps",
                                          **{f"#o{i}": s for i, s in enumerate(old)}})

    async def recall(self, kids: Iterable[str]) -> dict[str, dict[int, Version]]:
        """The remembered stamps of these keys, by sequence number (a key with none: absent)."""
        rows = await checkpoint_rows(
            self.client, {k: _id(self.table, k)["id"]["S"] for k in dict.fromkeys(kids)})
        out: dict[str, dict[int, Version]] = {}
        for kid, row in rows.items():
            found = {}
            for seq, value in row.get("stamps", {}).get("M", {}).items():
                try:
                    attrs, meta = split(value.get("M"))
                except MetadataError:
                    continue  # not ours: ignored, never a base for a stamp
                if is_stamped(attrs, meta) and seq.isdigit():
                    found[int(seq)] = Version(attrs, meta)
            out[kid] = found
        return out


def latest_before(stamps: dict[int, Version], seq: int) -> Version | None:
    """The stamp with the greatest sequence number below ``seq``."""
    earlier = [s for s in stamps if s < seq]
    return stamps[max(earlier)] if earlier else None
