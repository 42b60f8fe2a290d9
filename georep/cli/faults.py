"""``georep partition`` and ``heal``: faults on the live lab's links. Front end only: the
supervisor applies them to its link proxies (control API).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .connect import control
from .shared import HomeOpt, fail, out

app = typer.Typer()


@app.command()
def partition(a: str, b: str, home: HomeOpt = None,
              one_way: Annotated[bool, typer.Option(
                  "--one-way", help="Drop only the bytes A sends to B.")] = False) -> None:
    """Cut the link between regions A and B (both directions unless --one-way).

    Bytes are blackholed: connections are held and nothing is forwarded, so the replicators
    time out and retry, as in a real partition.

    --one-way drops only what A sends to B: A's requests to B (the A → B replicator times out,
    nothing reaches B) and A's responses to B. B's requests still reach A and are applied, but
    B never hears back: the B → A replicator times out and retries, and each retry is counted
    at A as a suppressed duplicate. Those are applied writes whose success the caller never saw.
    """
    states = control(home).call("POST", "/partition",
                                             {"a": a, "b": b, "one_way": one_way})["cut"]
    for link, state in states.items():
        out.print(f"{link.replace('>', ' → ')}: {state}")


@app.command()
def heal(a: Annotated[str | None, typer.Argument()] = None,
         b: Annotated[str | None, typer.Argument()] = None, home: HomeOpt = None) -> None:
    """Restore the link between A and B, or every link when no region is given."""
    if (a is None) != (b is None):
        fail("heal takes two regions, or none to heal every link")
    body = {} if a is None else {"a": a, "b": b}
    links = control(home).call("POST", "/heal", body)["healed"]
    out.print("healed: " + ", ".join(x.replace(">", " → ") for x in links))
