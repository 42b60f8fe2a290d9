"""Deleting an item: its tombstone leaves the user's table for the region's tombstone row.

Place in the data flow: every georep write whose merge result is a tombstone without siblings
(a georep delete, the apply of a remote delete, a reconcile repair, a crdt delete) ends here,
instead of leaving a tombstone item that plain clients would read (issue 9, observation 9):

a. write the tombstone as an item, conditional on what was read
   (:func:`georep.engine.condwrite.write_if_unchanged`). Its stream record is how a georep
   delete replicates, and the condition orders it against every other writer of the item;
b. record it in the key's tombstone row (:mod:`georep.aws.tombstones`), merged with what the
   row holds (conditional; a lost race re-reads and merges again);
c. delete the item, on condition that it still holds that tombstone's metadata. The REMOVE
   record this makes carries a stamped tombstone as its old image, which the replicators skip
   (:func:`georep.core.records.local_write`). A plain update that landed on the tombstone item
   in between is put back (:func:`_put_back`); when it cannot be (the key was written again
   first, (c)'s answer was lost, a crash), the REMOVE's replicators name it in the region's
   feed (:func:`georep.core.records.swallowed`).

A crash between (a) and (c) leaves a stamped tombstone item: any later apply or reconcile that
finds one whose merge result is that tombstone finishes (b) and (c) (:func:`finish`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError

from ..aws.tombstones import Row, TombstoneStore
from ..config import Table
from ..core.meta import META, Version, encode, is_stamped, key_id, key_of, split
from ..core.policy import Conflict, ConflictPolicy
from ..errors import RetriableError
from .condwrite import write_if_unchanged

MAX_ROUNDS = 20

# Records a conflict in the region's feed before the write that resolves it.
Journal = Callable[[Conflict], Awaitable[Any]]


def kid_of(table: Table, attrs: dict) -> str:
    return key_id(key_of(attrs, table.key_names))


def gone(version: Version | None) -> bool:
    """A version that leaves no item behind: a tombstone without siblings."""
    return version is not None and version.meta.tombstone and not version.meta.siblings


def buried_item(raw: dict | None) -> Version | None:
    """The version of an item that is a stamped tombstone without siblings (a delete that did
    not finish), else None."""
    if raw is None or META not in raw:
        return None
    try:
        attrs, meta = split(raw)
    except ValueError:
        return None
    v = Version(attrs, meta) if is_stamped(attrs, meta) else None
    return v if gone(v) else None


async def record(tombs: TombstoneStore, policy: ConflictPolicy, kid: str,
                 version: Version, seen: Row | None = None, journal: Journal | None = None) -> None:
    """Step (b): merge ``version`` into the key's row. ``seen``: the row as already read.

    Two concurrent deletes meet here (a plain delete's stamp, or a tombstone whose row gained
    another region's tombstone since it was read): the key is absent either way, but the
    policy still chose between them, so the conflict goes to the feed through ``journal``,
    ahead of the write — a delete is an acknowledged write like any other."""
    for _ in range(MAX_ROUNDS):
        row = seen if seen is not None else await tombs.get(kid)
        seen = None
        merge = policy.merge(row.version, version)
        if merge.write is None:
            return
        if merge.conflict is not None and journal is not None:
            await journal(merge.conflict)
        if await tombs.put_if_unchanged(kid, merge.write, row):
            return
    raise RetriableError(f"{tombs.table} {kid}: a tombstone row kept racing writes")


async def finish(client, table: Table, tombs: TombstoneStore, policy: ConflictPolicy,
                 version: Version, item_meta: Any | None = None,
                 journal: Journal | None = None) -> None:
    """Steps (b) and (c) for a tombstone item holding ``version`` (metadata ``item_meta`` as
    stored, if known)."""
    await record(tombs, policy, kid_of(table, version.attrs), version, journal=journal)
    try:
        resp = await client.delete_item(
            TableName=table.name, Key=key_of(version.attrs, table.key_names),
            ConditionExpression="#m = :m", ExpressionAttributeNames={"#m": META},
            ExpressionAttributeValues={":m": item_meta or encode(version.meta)},
            ReturnValues="ALL_OLD")
    except ClientError as exc:
        # The item changed since (a): a writer that read the tombstone replaced it, or
        # another finisher deleted it. Either way the row holds the tombstone.
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return
    await _put_back(client, table, resp.get("Attributes") or {})


async def _put_back(client, table: Table, deleted: dict) -> None:
    """A plain UpdateItem that landed on the tombstone item between (a) and (c) kept its
    metadata, so (c) deleted it too (no condition can name attributes it does not know). Put
    the plain client's attributes back, without georep's metadata, unless the key was written
    since: (c)'s REMOVE then reads as a plain delete of that update, and the re-put as a plain
    write that follows it, so the update survives everywhere. When the put does not happen
    (the key was written since, (c)'s answer was lost, or a crash came first), the REMOVE's
    replicators name the update in the region's feed
    (:func:`georep.core.records.swallowed`)."""
    attrs = {k: v for k, v in deleted.items() if k != META}
    if not set(attrs) - set(table.key_names):
        return  # only the tombstone: nothing of anyone else's was deleted
    try:
        await client.put_item(
            TableName=table.name, Item=attrs, ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": table.hash_key.name})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


async def bury(client, table: Table, tombs: TombstoneStore, policy: ConflictPolicy,
               version: Version, raw: dict | None, journal: Journal | None = None) -> bool:
    """Steps (a) to (c) for the tombstone ``version`` replacing ``raw`` (None: absent).
    False when (a) lost a race (nothing written): re-read and merge again."""
    if not await write_if_unchanged(client, table, version, raw):
        return False
    await finish(client, table, tombs, policy, version, journal=journal)
    return True


async def write_version(client, table: Table, tombs: TombstoneStore, policy: ConflictPolicy,
                        version: Version, raw: dict | None,
                        journal: Journal | None = None) -> bool:
    """Write a merge result over ``raw``: buried if it is a tombstone without siblings
    (``journal``: where a conflict with the row's tombstone is recorded)."""
    if gone(version):
        return await bury(client, table, tombs, policy, version, raw, journal)
    return await write_if_unchanged(client, table, version, raw)
