"""Data commands of the CLI: put, get, delete, scan, resolve and the conflict feed.

Front end only: each command finds the running lab's regions in its home folder and talks to
a region directly, through georep's write path (so every write is stamped).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .assignments import check_count, parse_assignments, parse_key, parse_ops
from .cli import JsonOpt, app, fail, out
from .cli_lab import HomeOpt, _home
from .config import load
from .errors import LabError

# -- data commands: straight to the region, through georep's write path ------------------------

def _region(home: Path | None, region: str, table: str):
    """The region, the table, the region's URL and the lab's max_clock_offset_ms."""
    h = _home(home)
    state = h.state()
    config = load(state["regions_dir"])
    return (config.region(region), config.table(table), state["regions"][region],
            config.replicator.max_clock_offset_ms)


async def _with_writer(url: str, region, max_offset_ms: int, fn):
    from aiobotocore.session import AioSession

    from .cli_regions import region_client
    from .core.hlc import HybridClock
    from .engine.writes import RegionWriter

    async with region_client(AioSession(), "dynamodb", region, url) as c:
        writer = RegionWriter(c, region.name, HybridClock(), lambda: int(time.time() * 1000))
        writer.max_offset_ms = max_offset_ms
        return await fn(writer)


VALUES_HELP = ("attr=value sets a string; attr:=json sets raw JSON: a number (n:=5), a boolean "
               "(ok:=true), null, a list (tags:='[\"a\",\"b\"]') or a map (m:='{\"k\": 1}').")


@app.command(help=f"Write an item through georep's write path (metadata stamped). {VALUES_HELP}")
def put(region: str, table: str, key: str,
        values: Annotated[list[str] | None, typer.Argument(help=VALUES_HELP)] = None,
        home: HomeOpt = None) -> None:
    r, t, url, offset = _region(home, region, table)
    attrs = parse_assignments(values or [], t)
    k = parse_key(key, t)
    v = asyncio.run(_with_writer(url, r, offset, lambda w: w.put(t, k, attrs)))
    out.print(f"put {region}/{table} {key} (HLC {v.meta.timestamp})", highlight=False)


@app.command()
def get(region: str, table: str, key: str, home: HomeOpt = None, as_json: JsonOpt = False):
    """Read one item (consistent read) without georep's metadata. Exit 1 if absent."""
    r, t, url, offset = _region(home, region, table)
    k = parse_key(key, t)

    async def both(w):
        return await w.get(t, k), await w.siblings(t, k)

    item, siblings = asyncio.run(_with_writer(url, r, offset, both))
    if len(siblings) > 1:  # vclock: concurrent values, not yet resolved
        if as_json:
            print(json.dumps({**(item or {}), "_siblings": siblings}, sort_keys=True,
                             default=str))
            return
        out.print(f"{key} has {len(siblings)} siblings (resolve with `georep resolve`):")
        for n, sib in enumerate(siblings, 1):
            shown = "<deleted>" if sib is None else json.dumps(sib, sort_keys=True, default=str)
            out.print(f"  {n}. {shown}", highlight=False)
        return
    if item is None:
        if as_json:
            print("null")
        fail(f"{key}: not found in {region}/{table}", 1)
    print(json.dumps(item, sort_keys=True, default=str, indent=None if as_json else 2))


@app.command()
def resolve(region: str, table: str, key: str,
            values: Annotated[list[str] | None, typer.Argument(help=VALUES_HELP)] = None,
            pick: Annotated[int | None, typer.Option(
                "--pick", help="Keep sibling N (as numbered by `georep get`).")] = None,
            home: HomeOpt = None) -> None:
    """Resolve an item's siblings with a write that has seen them all: keep sibling N
    (--pick N) or write new values (attr=value ...)."""
    if (pick is None) == (not values):
        fail("give either --pick N or attr=value arguments")
    r, t, url, offset = _region(home, region, table)
    k = parse_key(key, t)
    attrs = parse_assignments(values or [], t)

    async def go(w):
        siblings = await w.siblings(t, k)
        if not siblings:
            raise LabError(f"{key}: not found in {region}/{table}")
        if pick is not None:
            if not 1 <= pick <= len(siblings):
                raise LabError(f"--pick {pick}: {key} has {len(siblings)} sibling(s)")
            chosen = siblings[pick - 1]
            if chosen is None:
                return await w.delete(t, k)
            return await w.put(t, k, {a: v for a, v in chosen.items()
                                      if a not in t.key_names})
        return await w.put(t, k, attrs)

    v = asyncio.run(_with_writer(url, r, offset, go))
    out.print(f"resolved {region}/{table} {key} (HLC {v.meta.timestamp})", highlight=False)


@app.command()
def delete(region: str, table: str, key: str, home: HomeOpt = None) -> None:
    """Delete an item through georep's write path (a tombstone that replicates)."""
    r, t, url, offset = _region(home, region, table)
    k = parse_key(key, t)
    v = asyncio.run(_with_writer(url, r, offset, lambda w: w.delete(t, k)))
    out.print(f"deleted {region}/{table} {key} (tombstone, HLC {v.meta.timestamp})",
              highlight=False)


@app.command()
def scan(region: str, table: str, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every live item of a table in one region (tombstones and metadata hidden)."""
    r, t, url, offset = _region(home, region, table)

    async def go(writer):
        from .aws.values import to_python
        from .core.meta import split

        items, kw = [], {"TableName": t.name, "ConsistentRead": True}
        while True:
            resp = await writer.client.scan(**kw)
            for raw in resp.get("Items", []):
                attrs, meta = split(raw)
                if not (meta is not None and meta.tombstone):
                    items.append(to_python(attrs))
            if "LastEvaluatedKey" not in resp:
                return items
            kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    items = asyncio.run(_with_writer(url, r, offset, go))
    items.sort(key=lambda i: str(i.get(t.hash_key.name)))
    if as_json:
        print(json.dumps(items, default=str))
        return
    table_view = Table(title=f"{region}/{table}: {len(items)} items")
    columns = sorted({c for i in items for c in i}, key=lambda c: (c != t.hash_key.name, c))
    for c in columns:
        table_view.add_column(c)
    for i in items:
        table_view.add_row(*(json.dumps(i[c], default=str) if c in i else "" for c in columns))
    out.print(table_view)


@app.command()
def conflicts(home: HomeOpt = None, as_json: JsonOpt = False,
              table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
              key: Annotated[str | None, typer.Option(help="Only this key (needs --table).")]
              = None) -> None:
    """The conflict feed: every concurrent write a policy resolved, in every region —
    the winning value and each value that lost (or became a sibling)."""
    from aiobotocore.session import AioSession

    from .aws.conflicts import ConflictFeed
    from .cli_regions import region_client

    state = _home(home).state()
    config = load(state["regions_dir"])
    key_filter = None
    if key is not None:
        if table is None:
            fail("--key needs --table")
        t = config.table(table)
        key_filter = {t.hash_key.name: parse_key(key, t)}
        key_filter = json.loads(json.dumps(key_filter, default=str))
    elif table is not None:
        config.table(table)

    async def go():
        entries = []
        for r in config.regions:
            async with region_client(AioSession(), "dynamodb", r, state["regions"][r.name]) as c:
                entries.extend(await ConflictFeed(c).read(table, key_filter))
        return sorted(entries, key=lambda e: (e["time"], e["region"]))

    entries = asyncio.run(go())
    if as_json:
        print(json.dumps(entries, default=str))
        return
    t = Table(title=f"conflict feed: {len(entries)} entries")
    for col in ("time", "region", "table", "key", "policy", "winner", "lost or sibling"):
        t.add_column(col)
    for e in entries:
        def show(v):
            return f"{v['region']}: {json.dumps(v['value'], sort_keys=True, default=str)}"
        t.add_row(time.strftime("%H:%M:%S", time.gmtime(e["time"])), e["region"], e["table"],
                  json.dumps(e["key"], default=str), e["policy"], show(e["winner"]),
                  "\n".join(show(lo) for lo in e["losers"]))
    out.print(t)


OPS_HELP = ("balance+=100 / balance-=30 increments or decrements a counter; tags+=vip / "
            "tags-=vip adds to or removes from a set; name=Ann assigns a register a string, "
            "score:=3 assigns it raw JSON.")


@app.command(help=f"Update CRDT attributes of an item in a crdt table. {OPS_HELP} "
                  "A bounded counter refuses a decrement beyond the region's rights.")
def update(region: str, table: str, key: str,
           ops: Annotated[list[str], typer.Argument(help=OPS_HELP)],
           home: HomeOpt = None) -> None:
    r, t, url, offset = _region(home, region, table)
    parsed = parse_ops(ops, t)
    k = parse_key(key, t)
    v = asyncio.run(_with_writer(url, r, offset, lambda w: w.crdt(t, k, parsed)))
    out.print(f"updated {region}/{table} {key} (HLC {v.meta.timestamp})", highlight=False)


rights_app = typer.Typer(help="Rights of a bounded counter (bcounter).", no_args_is_help=True)
app.add_typer(rights_app, name="rights")


@rights_app.command("transfer")
def rights_transfer(region: str, table: str, key: str, attr: str,
                    to: Annotated[str, typer.Option("--to", help="The region that receives.")],
                    amount: Annotated[int, typer.Argument(help="How many rights.")],
                    home: HomeOpt = None) -> None:
    """Give AMOUNT of REGION's rights on bounded counter ATTR to region --to, so that it can
    decrement that much more on its own (during a partition, say)."""
    if amount < 1:
        fail("the amount must be a positive whole number")
    check_count(amount, "the amount")
    r, t, url, offset = _region(home, region, table)
    config = load(_home(home).state()["regions_dir"])
    config.region(to)
    k = parse_key(key, t)
    ops = [(attr, "rights", (to, amount))]
    asyncio.run(_with_writer(url, r, offset, lambda w: w.crdt(t, k, ops)))
    out.print(f"{region} gave {amount} rights on {table}/{key}.{attr} to {to}")
