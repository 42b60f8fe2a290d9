"""Faults on the live lab, the way Toxiproxy and Blockade users expect: ``partition``,
``isolate``, ``latency``, ``flap``, ``skew`` and ``heal``. Front end only: the supervisor turns
them into a grudge and link delays and applies them to its link proxies
(:mod:`georep.engine.faults`, through the control API); ``georep status`` shows what is active.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .connect import control
from .shared import HomeOpt, fail, out, seconds_option

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
    states = control(home).call("POST", "/partition", {"a": a, "b": b, "one_way": one_way})["cut"]
    show_links(states)


@app.command()
def heal(a: Annotated[str | None, typer.Argument()] = None,
         b: Annotated[str | None, typer.Argument()] = None, home: HomeOpt = None) -> None:
    """Restore the link between A and B, or every link when no region is given: cuts, flaps
    and latency are lifted; a clock skew stays (`georep skew R --ms 0` clears it)."""
    if (a is None) != (b is None):
        fail("heal takes two regions, or none to heal every link")
    body = {} if a is None else {"a": a, "b": b}
    links = control(home).call("POST", "/heal", body)["healed"]
    out.print("healed: " + ", ".join(x.replace(">", " → ") for x in links))


def show_links(states: dict[str, str]) -> None:
    for link, state in states.items():
        out.print(f"{link.replace('>', ' → ')}: {state}")


@app.command()
def isolate(region: str, home: HomeOpt = None) -> None:
    """Cut REGION from every other region, both directions (`georep heal` restores it)."""
    show_links(control(home).call("POST", "/isolate", {"region": region})["links"])


@app.command()
def latency(a: str, b: str,
            ms: Annotated[float, typer.Option("--ms", help="Delay in milliseconds (0 lifts it).")],
            jitter: Annotated[float, typer.Option(
                "--jitter", help="Uniform ± jitter in milliseconds, drawn from the lab's seed.")]
            = 0,
            one_way: Annotated[bool, typer.Option(
                "--one-way", help="Delay only the bytes A sends to B.")] = False,
            home: HomeOpt = None) -> None:
    """Hold the bytes between regions A and B for --ms (± --jitter) before forwarding them,
    both directions unless --one-way. Order within a connection is kept. `georep heal A B`
    or `--ms 0` lifts it."""
    links = control(home).call("POST", "/latency", {"a": a, "b": b, "ms": ms, "jitter": jitter,
                                                    "one_way": one_way})["latency"]
    what = f"{ms:g} ms" + (f" ± {jitter:g} ms" if jitter else "") if ms or jitter else "no delay"
    out.print(f"{what} on " + ", ".join(x.replace(">", " → ") for x in links), highlight=False)


@app.command()
def flap(a: str, b: str,
         period: Annotated[float, seconds_option(
             "Seconds between toggles: cut, heal, cut, ...")] = 5.0,
         home: HomeOpt = None) -> None:
    """A partition that comes and goes: cut A ↔ B now, heal it after --period seconds, cut
    again, ... until `georep heal A B` (or `georep heal`)."""
    control(home).call("POST", "/flap", {"a": a, "b": b, "period": period})
    out.print(f"{a} ↔ {b} flapping every {period:g} s (stop it with `georep heal {a} {b}`)",
              highlight=False)


@app.command()
def skew(region: str,
         ms: Annotated[int, typer.Option(
             "--ms", help="Offset of the region's physical clock in ms, + ahead or - behind; "
             "0 clears it.")],
         home: HomeOpt = None) -> None:
    """Offset REGION's physical clock as its georep writers read it (its hybrid logical clock
    never runs backwards). Under last-writer-wins a region ahead wins concurrent writes (see
    max_clock_offset_ms in lab.toml for how far ahead a stamp may be)."""
    got = control(home).call("POST", "/skew", {"region": region, "ms": ms})["skew_ms"]
    out.print(f"{region}: clock skew {got:+d} ms", highlight=False)
