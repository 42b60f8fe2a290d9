"""``georep checkpoint reset``: rewrite a link's checkpoint in the live lab. Front end only: the
supervisor does the reset (control API), so that no replicator of the link starts meanwhile.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..aws.checkpoints import checked
from ..runtime.control import ControlClient
from .connect import live_config
from .shared import HomeOpt, JsonOpt, LinkArg, out, parse_link

app = typer.Typer(name="checkpoint", help="A link's checkpoints: where its replicator resumes.",
                  no_args_is_help=True)

RESET_HELP = "\n\n".join((
    "Rewrite the SRC:DST link's checkpoint, e.g. after the link stopped with \"checkpoint "
    "unreadable\". The link's replicator must be stopped (`georep replicator kill SRC DST`); "
    "start it again afterwards with `georep replicator start SRC DST`.",
    "--to trim-horizon (the default) forgets the checkpoint: the replicator replays everything "
    "the source stream still holds. This is safe, because applies are idempotent: what was "
    "replicated already counts as suppressed duplicates and changes nothing.",
    "--to latest sets the checkpoint at the stream's last record now: what the stream holds is "
    "skipped, never replicated by this link (`georep reconcile` can repair it later); only "
    "what is written after the reset is replicated.",
))


@app.command("reset", help=RESET_HELP)
def reset(link: LinkArg, home: HomeOpt = None,
          table: Annotated[str | None, typer.Option(
              help="Only this table's checkpoint (default: every table of the link).")] = None,
          to: Annotated[str, typer.Option(
              "--to", help="trim-horizon (replay; the default) or latest (skip).")
          ] = "trim-horizon",
          as_json: JsonOpt = False) -> None:
    checked(to)
    h, _, config = live_config(home)
    src, dst = parse_link(link, config)
    if table is not None:
        config.table(table)
    body = {"src": src, "dst": dst, "table": table, "to": to}
    done = ControlClient(h).call("POST", "/checkpoint/reset", body, timeout=120)["reset"]
    if as_json:
        print(json.dumps(done))
        return
    for name, shards in done.items():
        where = ("the trim horizon" if not shards else
                 ", ".join(f"{sid} at {seq or 'its start'}" for sid, seq in shards.items()))
        out.print(f"reset {src} → {dst} / {name}: resumes from {where}", highlight=False)
    out.print(f"start it with `georep replicator start {src} {dst}`", highlight=False)
