"""Data commands of the CLI: put, get, delete, scan, resolve, update, rights and the conflict
feed.

Front end only: each command connects a :class:`~georep.runtime.live.LiveLab` to the running lab
and talks to a region directly, through georep's write path (the embedded lab's own): every
write is stamped and leaves a ``write`` event in the run's ``events.jsonl``.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from ..assignments import check_count, parse_assignments, parse_key, parse_ops
from ..errors import LabError
from .connect import live, run
from .shared import HomeOpt, JsonOpt, fail, out

app = typer.Typer()

VALUES_HELP = ("attr=value sets a string; attr:=json sets raw JSON: a number (n:=5), a boolean "
               "(ok:=true), null, a list (tags:='[\"a\",\"b\"]') or a map (m:='{\"k\": 1}').")


@app.command(help=f"Write an item through georep's write path (metadata stamped). {VALUES_HELP}")
def put(region: str, table: str, key: str,
        values: Annotated[list[str] | None, typer.Argument(help=VALUES_HELP)] = None,
        home: HomeOpt = None) -> None:
    lab = live(home)
    t = lab.config.table(table)
    attrs = parse_assignments(values or [], t)
    k = parse_key(key, t)
    lab.config.region(region)
    v = run(lab, lambda lab: lab.put(region, table, k, attrs))
    out.print(f"put {region}/{table} {key} (HLC {v.meta.timestamp})", highlight=False)


@app.command()
def get(region: str, table: str, key: str, home: HomeOpt = None, as_json: JsonOpt = False):
    """Read one item (consistent read) without georep's metadata. Exit 1 if absent."""
    lab = live(home)
    t = lab.config.table(table)
    k = parse_key(key, t)
    lab.config.region(region)

    async def both(lab):
        return await lab.get(region, table, k), await lab.siblings(region, table, k)

    item, siblings = run(lab, both)
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
    lab = live(home)
    t = lab.config.table(table)
    k = parse_key(key, t)
    attrs = parse_assignments(values or [], t)
    lab.config.region(region)

    async def go(lab):
        siblings = await lab.siblings(region, table, k)
        if not siblings:
            raise LabError(f"{key}: not found in {region}/{table}")
        if pick is not None:
            if not 1 <= pick <= len(siblings):
                raise LabError(f"--pick {pick}: {key} has {len(siblings)} sibling(s)")
            chosen = siblings[pick - 1]
            if chosen is None:
                return await lab.delete(region, table, k)
            return await lab.put(region, table, k, {a: v for a, v in chosen.items()
                                                    if a not in t.key_names})
        return await lab.put(region, table, k, attrs)

    v = run(lab, go)
    out.print(f"resolved {region}/{table} {key} (HLC {v.meta.timestamp})", highlight=False)


@app.command()
def delete(region: str, table: str, key: str, home: HomeOpt = None) -> None:
    """Delete an item through georep's write path (a tombstone that replicates)."""
    lab = live(home)
    k = parse_key(key, lab.config.table(table))
    lab.config.region(region)
    v = run(lab, lambda lab: lab.delete(region, table, k))
    out.print(f"deleted {region}/{table} {key} (tombstone, HLC {v.meta.timestamp})",
              highlight=False)


@app.command()
def scan(region: str, table: str, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every live item of a table in one region (tombstones and metadata hidden)."""
    lab = live(home)
    t = lab.config.table(table)
    lab.config.region(region)
    items = run(lab, lambda lab: lab.scan(region, table))
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
    lab = live(home)
    key_filter = None
    if key is not None:
        if table is None:
            fail("--key needs --table")
        t = lab.config.table(table)
        key_filter = {t.hash_key.name: parse_key(key, t)}
        key_filter = json.loads(json.dumps(key_filter, default=str))
    elif table is not None:
        lab.config.table(table)
    entries = run(lab, lambda lab: lab.conflicts(table, key_filter))
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
    lab = live(home)
    t = lab.config.table(table)
    parsed = parse_ops(ops, t)
    k = parse_key(key, t)
    lab.config.region(region)
    v = run(lab, lambda lab: lab.crdt(region, table, k, parsed))
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
    lab = live(home)
    k = parse_key(key, lab.config.table(table))
    lab.config.region(region)
    lab.config.region(to)
    run(lab, lambda lab: lab.transfer_rights(region, table, k, attr, to, amount))
    out.print(f"{region} gave {amount} rights on {table}/{key}.{attr} to {to}")
