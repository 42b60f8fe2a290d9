"""One region's Merkle tree of one table, kept on disk and brought up to date from its stream.

Place in the data flow: reconcile (:mod:`georep.engine.reconcile`) fills a store from a full
scan, or brings a trusted one up to date by reading the region's stream from where it stopped
(:func:`catch_up`), then builds the region's tree from it (:meth:`TreeStore.tree`) and reads the
keys of the ranges that differ (:meth:`TreeStore.keys_in`). So a reconcile after a short
partition reads the stream records written since the last one, not the table: Riak's active
anti-entropy, with DynamoDB Streams as the update feed.

The store is an SQLite file holding, per key, its leaf (the top 20 bits of the key hash), the
digest of the item as last seen (:func:`georep.core.merkle.item_digest`) and whether it is a
tombstone item (a delete that did not finish); per stream shard, the last sequence number read;
and the stream's ARN. Updates *set* a key's digest to its record's new image (or remove it),
so replaying a record is harmless: read in order from any point at or before the scan, a key
ends at its last record's image, which is the item as it is. Each page of records and its
position are one transaction.

A store is *trusted* only after a full scan sealed it, and only for the stream it was built
from. It stops being trusted (:class:`TreeUntrusted`, and the next reconcile scans in full)
when the table's stream changed (a table re-created, a lab restarted), a shard it was reading
is gone before it finished it, or the stream no longer holds the records after its position
(DynamoDB keeps 24 hours).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from botocore.exceptions import ClientError

from ..aws.streams import StreamReader
from ..config import Table
from ..core.lineage import ShardLineage
from ..core.merkle import HASH_BITS, Tree, TreeBuilder, key_hash, version_digest
from ..core.meta import Version, key_id, split
from ..core.meta import digest as attrs_digest
from .burial import gone

LEAF_BITS = 20  # the deepest tree a store can give (reconcile uses at most depth 20)
PAGE = 1000  # records per GetRecords
EMPTY_PAGES = 3  # empty pages in a row that end an open shard's catch-up
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (kid TEXT PRIMARY KEY, leaf INTEGER NOT NULL,
                                  digest TEXT NOT NULL, buried INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shards (shard TEXT PRIMARY KEY, seq TEXT, finished INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS info (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


class TreeUntrusted(Exception):
    """The store cannot stand for the region's table: reconcile must scan it in full."""


Change = tuple[str, int | None, bool]  # key id, item digest (None: gone), tombstone item


def leaf_of(kid: str) -> int:
    return key_hash(kid) >> (HASH_BITS - LEAF_BITS)


class TreeBusy(Exception):
    """Another reconcile holds the store."""


class TreeStore:
    """Held by one reconcile at a time (an exclusive lock on ``<store>.lock``, released by
    :meth:`close` or when the process dies): two reconciles sharing a store could each read it
    while the other resets it. :class:`TreeBusy` when another holds it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise TreeBusy(f"another reconcile is using {path}") from None
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()
        self._lock.close()  # and with it the lock

    def _info(self, k: str) -> str | None:
        row = self.db.execute("SELECT v FROM info WHERE k = ?", (k,)).fetchone()
        return row[0] if row else None

    def trusted_for(self, arn: str) -> str | None:
        """None when the store stands for the stream ``arn``; else why not."""
        if self._info("trusted") != "1":
            return "no tree built by a full scan yet"
        if self._info("arn") != arn:
            return "the table's stream changed since the tree was built"
        return None

    def distrust(self) -> None:
        with self._tx():
            self.db.execute("UPDATE info SET v = '0' WHERE k = 'trusted'")

    def positions(self) -> dict[str, tuple[str | None, bool]]:
        return {s: (q, bool(f)) for s, q, f in
                self.db.execute("SELECT shard, seq, finished FROM shards")}

    def reset(self, arn: str) -> None:
        """Forget everything: untrusted until :meth:`seal`."""
        with self._tx():
            self.db.execute("DELETE FROM items")
            self.db.execute("DELETE FROM shards")
            self.db.execute("DELETE FROM info")
            self.db.execute("INSERT INTO info VALUES ('arn', ?), ('trusted', '0')", (arn,))

    def load(self, changes: Iterable[Change]) -> None:
        """Scanned items (in one transaction)."""
        with self._tx():
            self._set(changes)

    def seal(self, positions: dict[str, tuple[str | None, bool]]) -> None:
        """The scan is complete; reading the stream from ``positions`` (at or before the scan's
        start) brings it up to date."""
        with self._tx():
            self.db.executemany("INSERT OR REPLACE INTO shards VALUES (?, ?, ?)",
                                [(s, q, int(f)) for s, (q, f) in positions.items()])
            self.db.execute("UPDATE info SET v = '1' WHERE k = 'trusted'")

    def apply(self, changes: Iterable[Change], shard: str, seq: str | None,
              finished: bool) -> None:
        """One page of stream records and the shard's new position, atomically."""
        with self._tx():
            self._set(changes)
            self.db.execute("INSERT OR REPLACE INTO shards VALUES (?, ?, ?)",
                            (shard, seq, int(finished)))

    def _set(self, changes: Iterable[Change]) -> None:
        for kid, digest, buried in changes:
            if digest is None:
                self.db.execute("DELETE FROM items WHERE kid = ?", (kid,))
            else:
                self.db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)",
                                (kid, leaf_of(kid), f"{digest:032x}", int(buried)))

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One SQLite transaction, taken for writing at once; rolled back on an error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def tree(self, depth: int) -> tuple[Tree, int]:
        """The tree at ``depth`` (at most 20) and the number of items."""
        shift = LEAF_BITS - depth
        tree = TreeBuilder(depth).tree
        n = 0
        for leaf, digest in self.db.execute("SELECT leaf, digest FROM items"):
            tree.leaves[leaf >> shift] ^= int(digest, 16)
            tree.counts[leaf >> shift] += 1
            n += 1
        return tree, n

    def keys_in(self, leaves: set[int], depth: int) -> dict[str, int]:
        """The keys of the given leaves of the tree at ``depth``, with their digests."""
        shift = LEAF_BITS - depth
        return {kid: int(digest, 16) for kid, leaf, digest in
                self.db.execute("SELECT kid, leaf, digest FROM items") if leaf >> shift in leaves}

    def buried(self) -> set[str]:
        return {kid for (kid,) in self.db.execute("SELECT kid FROM items WHERE buried = 1")}


def entry(kid: str, item: dict | None) -> Change:
    """A key's entry as ``item`` holds it (None: no item)."""
    if item is None:
        return kid, None, False
    attrs, meta = split(item)  # decoded once: a full scan does this for every item
    plain = attrs_digest(attrs)
    stamped = meta is not None and meta.digest == plain  # as burial.buried_item decides
    return kid, version_digest(kid, plain, meta), gone(Version(attrs, meta) if stamped else None)


def change_of(record: dict, table: Table) -> Change:
    """What one stream record does to its key's entry."""
    body = record["dynamodb"]
    image = body.get("NewImage") if record.get("eventName") != "REMOVE" else None
    # the key from an image: moto base64-encodes a binary key twice in a record's Keys (its
    # images hold it right); Keys only when the record has no image at all
    keys = image or body.get("OldImage") or body["Keys"]
    return entry(key_id({k: keys[k] for k in table.key_names}), image)


async def catch_up(reader: StreamReader, store: TreeStore, table: Table) -> int:
    """Read the stream from the store's positions to its end (parents before children); the
    number of records read. TreeUntrusted when records it needs are gone."""
    lineage = ShardLineage()
    lineage.discover(await reader.shards())
    listed = {s.shard_id for s in lineage.order()}
    done = store.positions()
    lost = [s for s, (_, finished) in done.items() if not finished and s not in listed]
    if lost:
        raise TreeUntrusted(f"stream shard {lost[0]} is gone before the tree read it to its end")
    total = 0
    for shard in lineage.order():
        seq, finished = done.get(shard.shard_id, (None, False))
        if not finished:
            total += await _read_shard(reader, store, table, shard.shard_id, seq)
    return total


async def _read_shard(reader: StreamReader, store: TreeStore, table: Table, shard: str,
                      seq: str | None) -> int:
    try:
        iterator = await reader.iterator(shard, seq)
        total, empty = 0, 0
        while iterator is not None:
            page = await reader.page(iterator, PAGE)
            if page.records:
                seq = page.records[-1]["dynamodb"]["SequenceNumber"]
            store.apply((change_of(r, table) for r in page.records), shard, seq,
                        page.next_iterator is None)
            total += len(page.records)
            # an open shard's end: a few empty pages in a row (DynamoDB may answer one empty
            # page before records that are there; moto never does)
            empty = 0 if page.records else empty + 1
            if empty == EMPTY_PAGES:
                return total
            iterator = page.next_iterator
        return total
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("TrimmedDataAccessException", "ResourceNotFoundException"):
            raise TreeUntrusted(f"stream shard {shard}: {code}: the records after the "
                                "tree's position are gone") from None
        raise
