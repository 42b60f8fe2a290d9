"""The tombstone rows: where a deleted item's last version lives, outside the user's table.

Place in the data flow: a plain client reads the user's data only, so a deleted item must be
absent from the user's table (issue 9, observation 9); yet a late replicated write must still
meet the delete it did not see. Every region therefore keeps, in its ``georep_checkpoints``
table, one row per deleted key: ``id = "tomb|<table>|<key id>"``, ``item`` = the tombstone
version (user key plus metadata, DynamoDB JSON) and ``n``, a counter that every write of the row
increments, so that a write is conditional on the row being what its writer read.

"The current version" of a key in a region is its item if present, else its row's version, else
nothing (:mod:`georep.engine.apply`, :mod:`georep.engine.burial`). A row that is not georep's
(malformed metadata, not a tombstone) is ignored: readers treat the key as never deleted, and
the next write of the row replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from botocore.exceptions import ClientError

from ..core.meta import MetadataError, Version, is_stamped, key_id, key_of, split
from .batches import reads
from .tables import CHECKPOINT_TABLE, checkpoint_rows

PREFIX = "tomb"


@dataclass(frozen=True, slots=True)
class Row:
    """A tombstone row as read: its write counter (None: no row) and version (None: none)."""

    n: int | None
    version: Version | None


ABSENT = Row(None, None)


def _id(table: str, kid: str) -> dict:
    return {"id": {"S": f"{PREFIX}|{table}|{kid}"}}


def row_key(table: str, kid: str) -> dict:
    """The row's key, for a BatchGetItem that reads items and rows at once."""
    return _id(table, kid)


def parse_rows(rows: Iterable[dict]) -> dict[str, Row]:
    """Rows as a BatchGetItem returned them, by key id."""
    return {row["id"]["S"].split("|", 2)[2]: _parse(row) for row in rows}


def _parse(row: dict) -> Row:
    try:
        n = int(row["n"]["N"])
    except (KeyError, TypeError, ValueError):
        n = -1  # a row georep did not write: replaced by the next write of it
    try:
        attrs, meta = split(row.get("item", {}).get("M"))
    except (MetadataError, AttributeError):
        return Row(n, None)
    if meta is None or not meta.tombstone or not is_stamped(attrs, meta):
        return Row(n, None)
    return Row(n, Version(attrs, meta))


READ_CHUNK = 50  # keys per BatchGetItem (its limit is 100: an item and a row per key)
# A key's state in a region: its raw item (None: absent) and, when absent, its tombstone row's
# version (None: never deleted, or a row georep did not write).
State = tuple[dict | None, Version | None]


async def read_states(client, table: str, key_names: Iterable[str],
                      keys: list[dict]) -> dict[str, State]:
    """Each key's state in the region, by key id: its raw item, else its tombstone row's
    version. One BatchGetItem reads both (the round trip is what costs). Its reads are not
    ordered, and keys left unprocessed are asked again in a later request: a burial's steps
    (b) and (c) may both land between the row's read and the item's, the window
    docs/design.md's "Limits of the design" names for a read and the write after it. Keys are
    matched to items by value (:func:`_same_key`)."""
    names = list(key_names)
    items: dict[str, dict] = {}
    rows: dict[str, Row] = {}
    for start in range(0, len(keys), READ_CHUNK):
        chunk = keys[start:start + READ_CHUNK]
        request = {
            table: {"Keys": chunk, "ConsistentRead": True},
            CHECKPOINT_TABLE: {"Keys": [row_key(table, key_id(k)) for k in chunk],
                               "ConsistentRead": True}}
        async for resp in reads(client, request):
            for item in resp.get("Responses", {}).get(table, []):
                items[_same_key(key_of(item, names))] = item
            rows.update(parse_rows(resp.get("Responses", {}).get(CHECKPOINT_TABLE, [])))
    out: dict[str, State] = {}
    for k in keys:
        kid = key_id(k)
        item = items.get(_same_key(k))
        out[kid] = (item, rows[kid].version if kid in rows and item is None else None)
    return out


def _same_key(key: dict) -> str:
    """A key as the region compares keys: a number by its value, so that an item stored as
    ``{"N": "1"}`` answers a request for ``{"N": "1.0"}`` (as GetItem's answer does)."""
    return key_id({k: {"N": _number(v["N"])} if "N" in v else v for k, v in key.items()})


def _number(text: str) -> str:
    try:
        return str(Decimal(text).normalize())
    except ArithmeticError:  # not a number: the region refuses the request itself
        return text


class TombstoneStore:
    def __init__(self, client, table: str) -> None:
        self.client = client
        self.table = table

    async def get_many(self, kids: Iterable[str]) -> dict[str, Row]:
        """The rows of these keys (a key without one: absent from the answer)."""
        rows = await checkpoint_rows(
            self.client, {k: _id(self.table, k)["id"]["S"] for k in dict.fromkeys(kids)})
        return {k: _parse(row) for k, row in rows.items()}

    async def get(self, kid: str) -> Row:
        return (await self.get_many([kid])).get(kid, ABSENT)

    async def put_if_unchanged(self, kid: str, version: Version, seen: Row) -> bool:
        """Store ``version`` if the row is still what was read (``seen``). False if not."""
        names = {"#i": "item", "#n": "n"}
        values = {":item": {"M": version.item()}, ":next": {"N": str(max(seen.n or 0, 0) + 1)}}
        if seen.n is None:
            cond = "attribute_not_exists(id)"
        elif seen.n < 0:
            cond = "attribute_exists(id) AND attribute_not_exists(#n)"
        else:
            cond = "#n = :n"
            values[":n"] = {"N": str(seen.n)}
        try:
            await self.client.update_item(
                TableName=CHECKPOINT_TABLE, Key=_id(self.table, kid),
                UpdateExpression="SET #i = :item, #n = :next", ConditionExpression=cond,
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
