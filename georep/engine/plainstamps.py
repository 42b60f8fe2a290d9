"""Stamping plain-client writes in stream order: each as a write that has seen what it replaced.

Place in the data flow: the replicator hands every record of its source stream to
:meth:`PlainStamps.interpret` (in stream order), which returns the record's local write, if any
(:func:`georep.core.records.local_write`). A plain write's stamp builds on the version it
replaced; when that version was itself a plain write whose stamp never reached the item, only
this memory (or, after a restart, the region's stamp store, :mod:`georep.aws.stamps`) knows it.
"""

from __future__ import annotations

from collections import OrderedDict

from ..aws.stamps import latest_before
from ..config import Table
from ..core.meta import MAX_CLOCK_OFFSET_MS, META, Version, key_id
from ..core.records import LocalWrite, buried, local_write, record_ms

KEYS = 100_000  # keys remembered; an evicted key is recalled from the store when needed


class PlainStamps:
    def __init__(self, max_offset_ms: int = MAX_CLOCK_OFFSET_MS) -> None:
        self.max_offset_ms = max_offset_ms  # see georep.core.meta.horizon
        # (table, key id) -> the sequence number and stamp of the key's latest plain write seen
        # in the stream, or of the latest tombstone georep buried (its REMOVE record)
        self._latest: OrderedDict[tuple[str, str], tuple[int, Version]] = OrderedDict()
        # (table, key id) -> the store's stamps of the key by sequence number, for records read
        # before this process saw the key's plain writes (after a restart)
        self._recalled: OrderedDict[tuple[str, str], dict[int, Version]] = OrderedDict()

    def unknown(self, table: Table, records: list[dict]) -> list[str]:
        """Key ids of records that may be plain writes and whose key this memory lacks."""
        missing = []
        for rec in records:
            d = rec["dynamodb"]
            old, new = d.get("OldImage"), d.get("NewImage")
            if new is not None and META in new and (old or {}).get(META) != new[META]:
                continue  # a georep write or a replicated one: its metadata changed
            kid = (table.name, key_id(d["Keys"]))
            if kid not in self._latest and kid not in self._recalled:
                missing.append(kid[1])
        return list(dict.fromkeys(missing))

    def recalled(self, table: Table, kids: list[str], found: dict[str, dict[int, Version]]):
        """What the store knew of ``kids`` (nothing for most: their stamps reached the item)."""
        for k in kids:
            self._recalled[(table.name, k)] = found.get(k, {})
            if len(self._recalled) > KEYS:
                self._recalled.popitem(last=False)

    def interpret(self, table: Table, origin: str, rec: dict) -> LocalWrite | None:
        """The record's local write, stamped as a write that has seen what it replaced."""
        d = rec["dynamodb"]
        kid = (table.name, key_id(d["Keys"]))
        seq = int(d["SequenceNumber"])
        prior_seq, prior = self._latest.get(kid, (None, None))
        if prior is None and kid in self._recalled:
            prior = latest_before(self._recalled[kid], seq)
        lw = local_write(
            event=rec["eventName"], keys=d["Keys"], old_image=d.get("OldImage"),
            new_image=d.get("NewImage"), origin=origin,
            record_ms=record_ms(d["ApproximateCreationDateTime"]),
            seq=seq, key_names=table.key_names, prior=prior, crdt=table.policy == "crdt",
            prior_seq=prior_seq, max_offset_ms=self.max_offset_ms)
        # A buried tombstone is what a plain re-create of the key replaces: its INSERT record
        # has no old image to name it.
        remembered = lw.version if lw is not None and lw.plain else buried(
            rec["eventName"], d.get("OldImage"))
        if remembered is not None:
            self._latest[kid] = (seq, remembered)
            self._latest.move_to_end(kid)
            if len(self._latest) > KEYS:
                self._latest.popitem(last=False)
        return lw
