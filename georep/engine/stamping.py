"""Stamping plain-client writes at their source: the write-back of a replicator-made stamp.

Place in the data flow: the replicator stamps a plain AWS client's write from its stream record
(:func:`georep.core.records.stamp_plain`) and, before shipping it, stores the stamp on the source
item so that the source and every destination order that write the same way
(:func:`stamp_source`, with what it does when the stamp cannot land on the item), and records
each stamp as a ``stamp`` event.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws.conflicts import ConflictFeed, describe
from ..aws.conflicts import entry as conflict_entry
from ..aws.errors import classify
from ..aws.values import to_python
from ..config import Table
from ..core.meta import META, encode, is_stamped, key_id, key_of, split, stamp_bounds
from ..core.records import LocalWrite
from .burial import record


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
        names = {"#m": META, "#k": table.hash_key.name}
        prefix, upper = stamp_bounds(region, lw.seq)  # a stamp from region, older than lw
        values = {":meta": encode(v.meta), ":prefix": {"S": prefix}, ":upper": {"S": upper}}
        seen = ""
        if lw.seen is not None:
            values[":seen"] = lw.seen
            seen = "#m = :seen OR "
        resp = await source.update_item(
            TableName=table.name, Key=key_of(v.attrs, table.key_names),
            UpdateExpression="SET #m = :meta",
            ConditionExpression=(
                f"attribute_exists(#k) AND ({seen}attribute_not_exists(#m) OR "
                "(begins_with(#m, :prefix) AND #m < :upper))"),
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW")
        attrs, meta = split(resp.get("Attributes"))
        return is_stamped(attrs, meta)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise


async def stamp_source(rep, tl, lw: LocalWrite) -> None:
    """The replicator ``rep``'s write-back of a plain write's stamp (``lw``, read from
    ``tl``'s source stream): on its item when it can, else in the stamp store and merged into
    what the item holds now; a write that cannot be stamped is named in the source's feed."""
    key = to_python(key_of(lw.version.attrs, tl.table.key_names))
    try:
        stamped = await write_back(rep.source, tl.table, lw, rep.src)
    except Exception as exc:  # classified: only a retriable failure is tried again
        err = classify(exc)
        if err.retriable:
            raise
        # Cannot be stamped (say the metadata would push it past 400 KB): ship it anyway
        # (the destination refuses it too, and it goes to the DLQ with its reason), and
        # name it in the source's feed: it exists there only, and reconcile leaves it alone.
        rep.stats.unreplicable += 1
        rep.emit("stamp-failed", link=rep.name, table=tl.table.name, error=str(err)[:300],
                 key=key)
        e = conflict_entry(region=rep.src, table=tl.table.name, key=key,
                           policy=tl.table.policy, time=rep.clock(),
                           winner=describe(lw.version), losers=[],
                           reason=f"unreplicable: {str(err)[:200]}")
        await rep.retrying("conflict-feed", lambda: ConflictFeed(tl.local.client).record([e]))
        return
    if stamped:
        rep.stats.stamped += 1
        _stamped(rep, tl, lw, key, "item")
        return
    # The stamp is not on its own item: the key's next write's record names this version
    # as the one it replaced, also after a restart.
    kid = key_id(key_of(lw.version.attrs, tl.table.key_names))
    if lw.version.meta.tombstone:
        # A plain delete: its stamp goes to the key's tombstone row (merged with what the
        # row holds), where a late replicated write meets it.
        await record(tl.local.tombs, tl.local.policy, kid, lw.version.written_by("stamp"),
                     journal=tl.local.row_journal(lw.version))
        rep.stats.stamped += 1
    await tl.stamps.save(kid, lw.seq, lw.version)
    # The item changed since the record: a later plain write (whose own record follows and
    # is stamped as having seen this one), another link's write-back of the same stamp,
    # or a georep write that read this one. Merge this version into what is there, never
    # into an absent item (a later delete's record carries it) or an unstamped one.
    result = await tl.local.apply([lw.version], create=False)
    rep.stats.races += result.races
    for o in result.outcomes:
        if o.written is None:
            continue
        rep.stats.repaired += 1
        rep.emit("repair", link=rep.name, table=tl.table.name, region=rep.src, key=key,
                 restored=describe(lw.version))
    _stamped(rep, tl, lw, key, "row" if lw.version.meta.tombstone else "store")


def _stamped(rep, tl, lw: LocalWrite, key, on: str) -> None:
    """The ``stamp`` event: the link gave a plain write this HLC, stored ``on`` its item, the
    key's tombstone row (a plain delete) or only the stamp store (the item had changed)."""
    rep.emit("stamp", link=rep.name, table=tl.table.name, region=rep.src, key=key,
             hlc=lw.version.meta.hlc, on=on)
