"""What every command module of the CLI shares: the consoles, the common options and arguments,
and how an error ends (one line on stderr, a non-zero exit, never a traceback).

Place in the data flow: front end. Command modules (:mod:`georep.cli.lab`, ``data``, ...) import
from here and from :mod:`georep.cli.connect`, never from each other.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from ..errors import LabError

# Not a terminal (a pipe, a file, a test): wide enough that tables are not squeezed.
# markup=False: keys, values, paths and messages are printed as given ("[red]" stays); georep's
# own colours are Text with a style (see styled).
out = Console(width=None if sys.stdout.isatty() else 140, markup=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 400, markup=False)

RegionsOpt = Annotated[Path, typer.Option("--regions", help="Folder of region files and lab.toml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
HomeOpt = Annotated[Path | None, typer.Option(
    "--home", help="The lab's home folder.", show_default="$GEOREP_HOME or .georep")]
LinkArg = Annotated[str, typer.Argument(help="The link as SRC:DST, e.g. us-east:eu-west.")]


def styled(markup: str) -> Text:
    """georep's own rich markup (``"[red]down[/red]"``), never user text: escape any inside."""
    return Text.from_markup(markup)


def error_line(message: str) -> None:
    err.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    error_line(message)
    raise typer.Exit(code)


def _positive_seconds(param: typer.CallbackParam, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        fail(f"{param.opts[0]} must be a positive, finite number of seconds, not {value:g}")
    return value


def seconds_option(help_text: str):
    """A duration option, refused while parsing (before the command does anything) unless it
    is a positive, finite number of seconds."""
    return typer.Option(help=help_text, callback=_positive_seconds)


def parse_link(text: str, config) -> tuple[str, str]:
    """``SRC:DST`` as two region names of ``config``; LabError names what is wrong."""
    src, sep, dst = text.partition(":")
    if not sep or not src or not dst:
        raise LabError(f"link {text!r}: write it as SRC:DST, e.g. us-east:eu-west")
    config.region(src)
    config.region(dst)
    if src == dst:
        raise LabError(f"link {text!r} joins a region with itself")
    return src, dst
