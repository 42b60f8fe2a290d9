"""georep's own write path: reads, puts, updates and deletes that stamp metadata.

Place in the data flow: the first step of a write (client → region table). Each write reads the
item it replaces and the key's tombstone row (one consistent BatchGetItem), advances the
region's hybrid logical clock past the stamp it saw, and writes conditionally on the item not
having changed since; so a georep write always follows, causally and in HLC order, the version
it overwrote. A deleted key has no item: the version a write follows is then its region's
tombstone row (:mod:`georep.aws.tombstones`). Deletes write tombstones and bury them
(:mod:`georep.engine.burial`): the item leaves the user's table, the tombstone stays in the row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..aws.conflicts import ConflictFeed, of_conflict
from ..aws.tombstones import TombstoneStore, read_states
from ..aws.values import to_dynamo, to_python
from ..config import Table
from ..core.crdt import ItemState
from ..core.crdt_policy import CRDTs, apply_ops, register_value, values_of
from ..core.hlc import HybridClock, Timestamp
from ..core.limits import check_item, check_write
from ..core.meta import (
    MAX_CLOCK_OFFSET_MS,
    META,
    Version,
    ahead,
    horizon,
    is_stamped,
    key_id,
    key_of,
    split,
    stamp,
)
from ..core.policies import policy_named
from ..core.policy import Conflict
from ..errors import LabError, WriteRefused
from .burial import write_version

MAX_ATTEMPTS = 50
STAMP_WAIT_S = 5.0  # how long a write waits for a plain write's stamp before failing


class RegionWriter:
    def __init__(self, client, region: str, clock: HybridClock,
                 physical_ms: Callable[[], int]) -> None:
        self.client = client
        self.region = region
        self.clock = clock
        self.physical_ms = physical_ms
        self.stamp_wait_s = STAMP_WAIT_S
        self.max_offset_ms = MAX_CLOCK_OFFSET_MS
        self.ahead = 0  # writes that did not follow a seen HLC too far ahead of this clock
        self.sleep = asyncio.sleep

    def _key(self, table: Table, key: Any) -> dict[str, Any]:
        if not isinstance(key, Mapping):
            if table.range_key is not None:
                raise LabError(f"table {table.name} has a sort key: give the key as a mapping")
            key = {table.hash_key.name: key}
        missing = [k for k in table.key_names if k not in key]
        if missing:
            raise LabError(f"key for table {table.name} lacks attribute {missing[0]!r}")
        av = to_dynamo({k: key[k] for k in table.key_names})
        for attr in (table.hash_key, table.range_key):
            if attr is not None and next(iter(av[attr.name])) != attr.type:
                raise LabError(f"key attribute {attr.name!r} of table {table.name} must be of "
                               f"type {attr.type}, got {key[attr.name]!r}")
        return av

    async def read(self, table: Table, key: Any) -> dict[str, Any] | None:
        """The raw item (low-level JSON), metadata included, or None."""
        resp = await self.client.get_item(TableName=table.name, Key=self._key(table, key),
                                          ConsistentRead=True)
        return resp.get("Item")

    def _tick(self, meta) -> Timestamp:
        """The HLC of a write that follows ``meta``: past everything it has seen, unless that
        is further ahead of this region's clock than ``max_offset_ms`` (then past this
        region's own writes only; counted in ``ahead``)."""
        now = self.physical_ms()
        if ahead(meta, now, self.max_offset_ms):
            self.ahead += 1
        return self.clock.observe(horizon(meta, region=self.region, now_ms=now,
                                          max_offset_ms=self.max_offset_ms), now)

    async def _write_version(self, table: Table, version: Version, raw: dict | None) -> bool:
        """Write ``version`` if the item is still ``raw``; a tombstone is buried."""
        policy = policy_named(table.policy, **table.policy_options())

        async def journal(conflict: Conflict) -> None:
            # A delete meeting another region's tombstone in the row (merged since the read).
            key = to_python(key_of(version.attrs, table.key_names))
            await ConflictFeed(self.client).record([of_conflict(
                conflict, region=self.region, table=table.name, key=key,
                time=self.physical_ms() / 1000)])

        return await write_version(self.client, table, TombstoneStore(self.client, table.name),
                                   policy, version, raw, journal)

    async def _read_stamped(self, table: Table,
                            key: Any) -> tuple[dict[str, Any] | None, Version | None]:
        """The raw item once it carries a stamp, and the current version: the item's, or the
        tombstone row's when there is no item. A write built on a plain client's write that
        its region's replicator has not stamped yet could not say which version it has seen.
        The stamp usually lands within a poll interval; if it does not come within
        ``stamp_wait_s`` the write fails (nothing is acknowledged)."""
        waited = 0.0
        key_av = self._key(table, key)
        while True:
            # the item and its tombstone row in one round trip (used when there is no item)
            [(item, row_version)] = (await read_states(
                self.client, table.name, table.key_names, [key_av])).values()
            attrs, meta = split(item)
            if item is None:
                return None, row_version
            if is_stamped(attrs, meta):
                return item, Version(attrs, meta)
            if waited >= self.stamp_wait_s:
                raise LabError(
                    f"{self.region}/{table.name}: the item holds a plain client's write that no "
                    f"replicator has stamped within {self.stamp_wait_s:g} s (are the "
                    f"{self.region} replicators running?); nothing was written")
            await self.sleep(0.02)
            waited += 0.02

    async def get(self, table: Table, key: Any) -> dict[str, Any] | None:
        """The item as Python values without metadata; None if absent or deleted."""
        item = await self.read(table, key)
        if item is None:
            return None
        attrs, meta = split(item)
        if meta is not None and meta.tombstone and is_stamped(attrs, meta):
            return None
        return to_python(attrs)

    async def siblings(self, table: Table, key: Any) -> list[dict[str, Any] | None]:
        """Every concurrent value the item holds (vclock), newest first; None for a delete.

        One element for an item without siblings; empty if the item does not exist.
        """
        item = await self.read(table, key)
        if item is None:
            return []
        attrs, meta = split(item)
        if meta is None:
            return [to_python(attrs)]
        return [None if s.tombstone else to_python(s.attrs)
                for s in Version(attrs, meta).siblings()]

    async def put(self, table: Table, key: Any, values: Mapping[str, Any], *,
                  replaced: list | None = None) -> Version:
        """Replace the item with ``key`` + ``values`` (on a ``crdt`` table: as ``update``).

        ``replaced``, if given, receives the raw item (None: absent) the write replaced, which
        may be newer than any read the caller made before (a test's ledger needs it)."""
        check_write(table, k := self._key(table, key), to_dynamo(values), key_id(k))
        if table.policy == "crdt":
            return await self.update(table, key, values, replaced=replaced)
        return await self._write(table, key, values, merge=False, tombstone=False,
                                 replaced=replaced)

    async def update(self, table: Table, key: Any, values: Mapping[str, Any], *,
                     replaced: list | None = None) -> Version:
        """Set ``values`` on the item, keeping its other attributes (creating it if absent).

        Like every georep write it has seen the whole item, siblings included, so it resolves
        them (on top of the visible value). On a ``crdt`` table each value is a register
        assignment. ``replaced``: as for :meth:`put` (not on a ``crdt`` table)."""
        check_write(table, k := self._key(table, key), to_dynamo(values), key_id(k))
        if table.policy == "crdt":
            if replaced is not None:
                raise LabError(f"table {table.name} is a crdt table: its writes merge, they "
                               "replace nothing")
            ops = [(a, "=", register_value(v)) for a, v in values.items()]
            return await self.crdt(table, key, ops)
        return await self._write(table, key, values, merge=True, tombstone=False,
                                 replaced=replaced)

    async def crdt(self, table: Table, key: Any, ops: list[tuple[str, str, Any]], *,
                   replaced: list | None = None) -> Version:
        """Apply CRDT operations (see :func:`georep.core.crdt_policy.apply_ops`) to an item of
        a ``crdt`` table, with this region as the actor. ``replaced``: as for :meth:`put`."""
        if table.policy != "crdt":
            raise LabError(f"table {table.name} has policy {table.policy}, not crdt: "
                           "use put/update")
        types = table.policy_options()["types"]
        return await self._crdt_write(table, key, lambda state, ts: apply_ops(
            state, ops, actor=self.region, ts=ts, types=types), replaced=replaced)

    async def _crdt_write(self, table: Table, key: Any,
                          change: Callable[[ItemState, int], ItemState],
                          replaced: list | None = None) -> Version:
        """Read the item's state (a deleted item's too: a re-create starts from its reset),
        ``change`` it at a fresh HLC, and write it if the item is still what was read."""
        policy = CRDTs(**table.policy_options())
        key_av = self._key(table, key)
        for _ in range(MAX_ATTEMPTS):
            current, base = await self._read_stamped(table, key)
            meta = base.meta if base is not None else None
            state = ItemState.new()
            if meta is not None:
                state, _ = policy.state(base)
            ts = self._tick(meta)
            try:  # a counter past 38 digits fails in values_of/encode, not in change
                state = change(state, ts.pack())
                body = values_of(state, key_av)
                crdt = state.encode()
            except (ValueError, ArithmeticError) as exc:
                raise WriteRefused(f"{self.region}/{table.name}: {exc or type(exc).__name__}"
                                   ) from None
            version = stamp(body, meta, origin=self.region, ts=ts, tombstone=not state.exists())
            version = Version(body, replace(version.meta, crdt=crdt))
            check_item(table, version.item())
            if await self._write_version(table, version, current):
                if replaced is not None:
                    replaced.append(current)
                return version
        raise LabError(f"{self.region}/{table.name}: write kept racing other writers")

    async def delete(self, table: Table, key: Any, *, replaced: list | None = None) -> Version:
        """Write a tombstone and bury it: the item leaves the table, the tombstone stays in
        the region's tombstone row. ``replaced``: as for :meth:`put`.

        On a ``crdt`` table the tombstone keeps the item's CRDT state, reset: an observed reset
        that a concurrent update survives (see :mod:`georep.core.crdt_policy`)."""
        if table.policy == "crdt":
            return await self._crdt_write(
                table, key, lambda state, ts: state.delete(self.region, ts), replaced=replaced)
        return await self._write(table, key, {}, merge=False, tombstone=True, replaced=replaced)

    async def _write(self, table: Table, key: Any, values: Mapping[str, Any], *, merge: bool,
                     tombstone: bool, replaced: list | None = None) -> Version:
        key_av = self._key(table, key)
        clash = [k for k in values if k in table.key_names or k == META]
        if clash:
            raise LabError(f"attribute {clash[0]!r} is part of the key or reserved; "
                           "it cannot be set as a value")
        new_values = to_dynamo(values)
        for _ in range(MAX_ATTEMPTS):
            current, base = await self._read_stamped(table, key)
            attrs, meta = (base.attrs, base.meta) if base is not None else ({}, None)
            if merge and not (meta is not None and meta.tombstone):
                body = {**attrs, **new_values, **key_av}
            else:
                body = {**new_values, **key_av}
            ts = self._tick(meta)
            version = stamp(body, meta, origin=self.region, ts=ts, tombstone=tombstone)
            if await self._write_version(table, version, current):
                if replaced is not None:
                    replaced.append(current)
                return version
        raise LabError(f"{self.region}/{table.name}: write kept racing other writers")

