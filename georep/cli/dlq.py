"""``georep dlq``: list, redrive and purge a link's dead-letter queue in the live lab.

Front end only. The queue lives in the link's source region (SQS); a redrive applies through
the link's proxy, exactly as the replicator would, and is idempotent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from .connect import on_link
from .shared import HomeOpt, JsonOpt, LinkArg, fail, out, styled

app = typer.Typer(name="dlq", help="A link's dead-letter queue: list, redrive, purge.",
                  no_args_is_help=True)



def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


@app.command("list")
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

    rows = on_link(home, link, go)
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


@app.command("redrive")
def dlq_redrive(link: LinkArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Apply every message through the link (idempotent: twice changes nothing).

    Poison messages stay with their reason, malformed ones are reported; neither stops the
    rest. Exits 1 if the link still fails (the messages stay for later).
    """
    report = on_link(home, link, lambda rep: rep.redriver.redrive())
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


@app.command("purge")
def dlq_purge(link: LinkArg, home: HomeOpt = None,
              yes: Annotated[bool, typer.Option("--yes", help="Really delete.")] = False) -> None:
    """Delete every message in the link's DLQ (what they held is not replicated)."""
    if not yes:
        fail("purge deletes every message in the DLQ; add --yes to confirm")
    async def go(rep) -> int:
        n = await rep.delivery.dlq.purge()
        rep.emit("dlq-purge", link=rep.name, removed=n)  # the queue's depth, as for a redrive
        return n

    n = on_link(home, link, go)
    out.print(f"purged {n} messages from the DLQ of {link}")
