"""``georep dlq``: list, redrive and purge a link's dead-letter queue in the live lab.

Front end only. The queue lives in the link's source region (SQS); a redrive applies through
the link's proxy, exactly as the replicator would, and is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .cli import JsonOpt, app, fail, out, styled
from .cli_lab import HomeOpt, _home
from .config import load
from .errors import LabError

dlq_app = typer.Typer(help="A link's dead-letter queue: list, redrive, purge.",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

LinkArg = Annotated[str, typer.Argument(help="The link as SRC:DST, e.g. us-east:eu-west.")]


def _parse_link(text: str, config) -> tuple[str, str]:
    src, sep, dst = text.partition(":")
    if not sep or not src or not dst:
        raise LabError(f"link {text!r}: write it as SRC:DST, e.g. us-east:eu-west")
    config.region(src)
    config.region(dst)
    if src == dst:
        raise LabError(f"link {text!r} joins a region with itself")
    return src, dst


async def _with_link(home: Path | None, link: str, fn):
    from aiobotocore.session import AioSession

    from .aws.clients import Endpoint, async_client
    from .cli_regions import region_client
    from .runtime.events import EventLog
    from .runtime.wiring import build_replicator

    state = _home(home).state()
    config = load(state["regions_dir"])
    src, dst = _parse_link(link, config)
    s = config.settings_for(src, dst)
    via = Endpoint(config.region(dst).aws_region,
                   f"http://127.0.0.1:{state['links'][f'{src}>{dst}']}")
    events = EventLog(Path(state["run_path"]) / "events.jsonl", time.time, keep=False)
    session = AioSession()
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, service in (("ddb", "dynamodb"), ("streams", "dynamodbstreams"),
                              ("sqs", "sqs")):
            clients[name] = await stack.enter_async_context(region_client(
                session, service, config.region(src), state["regions"][src]))
        dest = await stack.enter_async_context(async_client(
            session, "dynamodb", via, connect_s=s.connect_timeout_s, read_s=s.read_timeout_s))
        rep = await build_replicator(
            config, src, dst, source=clients["ddb"], source_streams=clients["streams"],
            source_sqs=clients["sqs"], dest=dest, emit=events.emit, clock=time.time,
            rng=random.Random())
        try:
            return await fn(rep)
        finally:
            events.close()


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


@dlq_app.command("list")
def dlq_list(link: LinkArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every message in the link's DLQ: key, reason, error, attempts, failure times."""
    async def go(rep):
        rows = []
        for m in await rep.delivery.dlq.all():
            try:
                body = m.decoded()
            except ValueError as exc:
                rows.append({"id": m.id, "malformed": str(exc)})
                continue
            d = body["record"]["dynamodb"]
            rows.append({"id": m.id, "table": body["table"], "keys": d["Keys"],
                         "seq": d.get("SequenceNumber"), "reason": body.get("reason"),
                         "error": body.get("error"), "retriable": body.get("retriable"),
                         "attempts": body.get("attempts"),
                         "first_failure": body.get("first_failure"),
                         "last_failure": body.get("last_failure"),
                         "truncated": body.get("truncated", False)})
        return rows

    rows = asyncio.run(_with_link(home, link, go))
    if as_json:
        print(json.dumps(rows, default=str))
        return
    t = Table(title=f"DLQ of {link}: {len(rows)} messages")
    for col in ("key", "reason", "attempts", "first", "last", "error"):
        t.add_column(col)
    for r in rows:
        if "malformed" in r:
            t.add_row(r["id"], styled("[red]malformed"), "-", "-", "-", r["malformed"])
            continue
        key = json.dumps(r["keys"], default=str)
        t.add_row(key, r["reason"], str(r["attempts"]), _when(r["first_failure"]),
                  _when(r["last_failure"]), (r["error"] or "")[:80])
    out.print(t)


@dlq_app.command("redrive")
def dlq_redrive(link: LinkArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Apply every message through the link (idempotent: twice changes nothing).

    Poison messages stay with their reason, malformed ones are reported; neither stops the
    rest. Exits 1 if the link still fails (the messages stay for later).
    """
    report = asyncio.run(_with_link(home, link, lambda rep: rep.redriver.redrive()))
    if as_json:
        print(json.dumps(report.as_dict(), default=str))
    else:
        out.print(f"redrive {link}: {report.received} received, {report.delivered} delivered, "
                  f"{report.suppressed} already there, {len(report.poison)} poison (kept), "
                  f"{len(report.malformed)} malformed (kept)", highlight=False)
        for p in report.poison:
            out.print(f"  poison {p['id']}: {p['error']}", highlight=False)
    if report.stopped:
        fail(f"the link still fails, redrive stopped: {report.stopped}", 1)


@dlq_app.command("purge")
def dlq_purge(link: LinkArg, home: HomeOpt = None,
              yes: Annotated[bool, typer.Option("--yes", help="Really delete.")] = False) -> None:
    """Delete every message in the link's DLQ (what they held is not replicated)."""
    if not yes:
        fail("purge deletes every message in the DLQ; add --yes to confirm")
    n = asyncio.run(_with_link(home, link, lambda rep: rep.delivery.dlq.purge()))
    out.print(f"purged {n} messages from the DLQ of {link}")
