"""What a lab does with data: writes through georep's write path, reads, scans, the conflict
feed, divergence checks and the reconcile orchestration, written once for both runtimes.

Place in the data flow: the data half of :class:`~georep.runtime.surface.LabSurface`, inherited by
the embedded :class:`~georep.runtime.embedded.Lab` and the live lab's client
:class:`~georep.runtime.live.LiveLab`. Each provides ``config``, ``clients`` (a DynamoDB client
per region), ``writers`` (a :class:`~georep.engine.writes.RegionWriter` per region), ``events``,
``endpoints``, ``clock``, ``settle``, ``link_state`` and ``redrive_all``. Every write emits the
same ``write`` event on both (a plain AWS client's write too, when its driver reports it:
:meth:`LabData.plain_write`), and so does every reconcile (``reconcile-start``, a
``reconcile-phase`` per phase, ``reconcile-repair`` per key written, ``reconcile``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..aws.clients import endpoint_of, sync_client
from ..aws.conflicts import ConflictFeed
from ..aws.values import to_python
from ..core.meta import split
from ..engine.aae import Trees
from ..engine.reconcile import reconcile_table
from ..errors import LabError
from .events import read_events


def tally_redrive(out: dict[str, Any], link: str, report) -> int:
    """Add a link's redrive report to ``out`` (a reconcile's ``redrive`` figures); the number
    of its dead letters still blocked."""
    seen = out.get(link, {})
    out[link] = {"delivered": seen.get("delivered", 0) + report.delivered,
                 "suppressed": seen.get("suppressed", 0) + report.suppressed,
                 "blocked": report.blocked, "poison": len(report.poison),
                 "stopped": report.stopped}
    return report.blocked


def _sums(redrive: dict[str, dict[str, Any]]) -> dict[str, int]:
    """A reconcile's redrive figures summed over the links (the reconcile-phase event's)."""
    return {k: sum(link[k] for link in redrive.values())
            for k in ("delivered", "suppressed", "blocked", "poison")}


class LabData:
    def _tree_folder(self) -> Path | None:
        """Where reconcile keeps each region's tree between runs (None: nowhere, scan in
        full every time)."""
        return None

    async def _streams_client(self, stack: contextlib.AsyncExitStack, region: str):
        """A dynamodbstreams client of ``region`` for reconcile, open until ``stack`` closes."""
        raise NotImplementedError
    # -- data ------------------------------------------------------------------------------

    def endpoint(self, region: str) -> str:
        self.config.region(region)
        return self.endpoints[region].url

    def client(self, region: str, service: str = "dynamodb"):
        """A plain boto3 client for the region, straight to its endpoint (no georep in between);
        an external region's ``service`` answers where its file says."""
        r = self.config.region(region)
        return sync_client(service, endpoint_of(r, service, self.endpoints[r.name].url))

    async def put(self, region: str, table: str, key: Any, values: Mapping[str, Any], *,
                  replaced: list | None = None):
        """``replaced``, if given, receives the raw item the write replaced (None: absent)."""
        v = await self.writers[self.config.region(region).name].put(
            self.config.table(table), key, values, replaced=replaced)
        self._emit_write("put", region, table, key, values, v)
        return v

    async def update(self, region: str, table: str, key: Any, values: Mapping[str, Any], *,
                     replaced: list | None = None):
        v = await self.writers[self.config.region(region).name].update(
            self.config.table(table), key, values, replaced=replaced)
        self._emit_write("update", region, table, key, values, v)
        return v

    async def crdt(self, region: str, table: str, key: Any, ops: list[tuple[str, str, Any]],
                   *, replaced: list | None = None):
        """CRDT operations on an item of a ``crdt`` table, e.g.
        ``[("balance", "-=", 500), ("tags", "+=", "vip"), ("name", "=", "Alice")]``.
        ``replaced``, if given, receives the raw item the write replaced (None: absent)."""
        v = await self.writers[self.config.region(region).name].crdt(
            self.config.table(table), key, ops, replaced=replaced)
        self.events.emit("write", op="crdt", region=region, table=table, key=key,
                         values=[list(op) for op in ops], hlc=v.meta.hlc)
        return v

    async def transfer_rights(self, region: str, table: str, key: Any, attr: str, to: str,
                              n: int):
        """Give ``n`` of ``region``'s rights on a bounded counter to region ``to``."""
        self.config.region(to)
        return await self.crdt(region, table, key, [(attr, "rights", (to, n))])

    async def delete(self, region: str, table: str, key: Any, *,
                     replaced: list | None = None):
        v = await self.writers[self.config.region(region).name].delete(
            self.config.table(table), key, replaced=replaced)
        self._emit_write("delete", region, table, key, {}, v)
        return v

    def _emit_write(self, op, region, table, key, values, v) -> None:
        self.events.emit("write", op=op, region=region, table=table, key=key,
                         values=dict(values), hlc=v.meta.hlc)

    def plain_write(self, op: str, region: str, table: str, key: Any,
                    values: Mapping[str, Any] | None = None) -> None:
        """Record a write a plain AWS client made beside georep, once acknowledged: a
        ``write`` event with op ``plain-put``, ``plain-update`` or ``plain-delete`` (``op``
        without the prefix) and no HLC (its replicator stamps it later: a ``stamp`` event)."""
        if op not in ("put", "update", "delete"):
            raise LabError(f"a plain write is a put, an update or a delete, not {op!r}")
        self.events.emit("write", op=f"plain-{op}", region=self.config.region(region).name,
                         table=self.config.table(table).name, key=key,
                         values=dict(values or {}), hlc=None)

    async def get(self, region: str, table: str, key: Any) -> dict[str, Any] | None:
        return await self.writers[self.config.region(region).name].get(
            self.config.table(table), key)

    async def siblings(self, region: str, table: str, key: Any) -> list[dict[str, Any] | None]:
        """The item's concurrent values (vclock), newest first; None stands for a delete."""
        return await self.writers[self.config.region(region).name].siblings(
            self.config.table(table), key)

    async def scan(self, region: str, table: str, *, raw: bool = False) -> list[dict[str, Any]]:
        """Every item (tombstones excluded unless ``raw``), as Python values without metadata."""
        client = self.clients[self.config.region(region).name]
        tname = self.config.table(table).name
        out = []
        kw: dict[str, Any] = {"TableName": tname, "ConsistentRead": True}
        while True:
            resp = await client.scan(**kw)
            for item in resp.get("Items", []):
                attrs, meta = split(item)
                if raw:
                    out.append(item)
                elif not (meta is not None and meta.tombstone):
                    out.append(to_python(attrs))
            if "LastEvaluatedKey" not in resp:
                return out
            kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    async def diverged(self, table: str) -> dict[str, dict[str, Any]]:
        """Keys whose item differs between regions: key -> {region: item or None}.

        Compares user attributes and tombstones; empty when the regions agree.
        """
        t = self.config.table(table)
        per_region: dict[str, dict[str, Any]] = {}
        for r in self.config.regions:
            items = {}
            for item in await self.scan(r.name, table, raw=True):
                attrs, meta = split(item)
                key = repr(sorted(to_python({k: attrs[k] for k in t.key_names}).items()))
                dead = meta is not None and meta.tombstone
                items[key] = None if dead else to_python(attrs)
                if meta is not None and meta.siblings:  # vclock: the siblings must agree too
                    items[key] = {"value": items[key], "siblings": sorted(
                        repr(None if s.tombstone else to_python(s.attrs))
                        for s in meta.siblings)}
            per_region[r.name] = items
        keys = set().union(*(set(v) for v in per_region.values()))
        out = {}
        for k in sorted(keys):
            values = {r: per_region[r].get(k) for r in per_region}
            if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
                out[k] = values
        return out

    async def conflicts(self, table: str | None = None, key: Any = None,
                        region: str | None = None) -> list[dict[str, Any]]:
        """The conflict feed of every region (or one), oldest first; ``key`` as for ``get``."""
        if table is not None:
            self.config.table(table)
        if key is not None and not isinstance(key, Mapping):
            if table is None:
                raise LabError("give the table along with a key")
            key = {self.config.table(table).hash_key.name: key}
        names = [self.config.region(region).name] if region else [r.name for r in
                                                                    self.config.regions]
        out = []
        for name in names:
            out.extend(await ConflictFeed(self.clients[name]).read(table, key))
        return sorted(out, key=lambda e: (e["time"], e["region"], e["id"]))

    def run_events(self) -> list[dict[str, Any]]:
        """The run's events so far (``runs/<id>/events.jsonl``), oldest first."""
        return read_events(self.events.path) if self.events.path else list(self.events.events)

    async def _caught_up(self, timeout: float) -> None:
        """Every running replicator settled with every link open (a cut link may hide writes
        on their way), within ``timeout``; otherwise LabError saying what is not."""
        deadline = time.monotonic() + timeout
        while True:
            why = None
            try:
                await self.settle(max(deadline - time.monotonic(), 0.001))
            except TimeoutError as exc:
                why = str(exc) or "replicators still busy"
            cut = [name for name, state in self.link_state().items() if state != "open"]
            if cut:
                why = f"links not open: {', '.join(cut)}"
            if why is None:
                return
            if time.monotonic() >= deadline:
                raise LabError(f"the replicators did not catch up within {timeout:.0f}s "
                               f"({why}); heal the links and try again")
            await asyncio.sleep(0.2)

    async def reconcile(self, table: str | None = None, *, timeout: float = 60.0,
                        progress=None, full: bool = False,
                        dry_run: bool = False) -> dict[str, Any]:
        """Redrive every DLQ, wait for the replicators, then repair and verify with Merkle
        trees (:mod:`georep.engine.reconcile`). ``verified`` says whether the regions are
        proven equal. The trees persist between runs where the lab keeps them
        (:meth:`_tree_folder`) and are caught up from the streams; ``full`` scans every region
        instead. ``dry_run`` writes nothing to a region: no redrive, no repair, no feed entry;
        each table's report says what a repair would write (``planned``)."""
        tables = [self.config.table(table)] if table else list(self.config.tables)
        out: dict[str, Any] = {"redrive": {}, "seconds": {}, "dry_run": dry_run}
        self.events.emit("reconcile-start", tables=[t.name for t in tables], dry_run=dry_run)
        t0, at = time.perf_counter(), self.clock()
        blocked = False if dry_run else await self.redrive_all(out["redrive"])
        out["seconds"]["redrive"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        await self._caught_up(timeout)
        if blocked:  # dead letters that waited for a plain write's stamp: stamped by now
            await self.redrive_all(out["redrive"])
            await self._caught_up(timeout)
        out["seconds"]["catch_up"] = round(time.perf_counter() - t0, 3)
        # seconds on the lab's clock (virtual in a simulated run): redrive and catch-up
        self.events.emit("reconcile-phase", table=None, phase="redrive",
                         seconds=round(self.clock() - at, 3), **_sums(out["redrive"]))
        clients = {r.name: self.clients[r.name] for r in self.config.regions}
        async with contextlib.AsyncExitStack() as stack:
            trees = Trees(self._tree_folder(), full=full, links={
                r.name: [f"{s}>{d}" for s, d in self.config.links if s == r.name]
                for r in self.config.regions})
            if trees.folder is not None:
                trees.streams = {r.name: await self._streams_client(stack, r.name)
                                 for r in self.config.regions}
            reports = [await reconcile_table(clients, t, clock=self.clock, progress=progress,
                                             emit=self.events.emit, trees=trees,
                                             dry_run=dry_run)
                       for t in tables]
        out["tables"] = [r.__dict__ for r in reports]
        out["verified"] = all(r.verified for r in reports)
        self.events.emit("reconcile", verified=out["verified"], dry_run=dry_run,
                         repaired={r.table: r.repaired for r in reports})
        return out

