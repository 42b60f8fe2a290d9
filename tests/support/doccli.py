"""The georep commands the documentation shows, checked against the real CLI's parser (no command
is run: parsing has no side effects). Plain functions, used by tests/live/test_docs.py."""

from __future__ import annotations

import re
import shlex

import typer

PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(:[A-Z][A-Z0-9_]*)?$")
INT_PLACEHOLDERS = {"N", "J", "S"}  # numbers: counts, milliseconds, seconds


def root():
    """The CLI as ``georep`` runs it, (importing the package registers every command module)."""
    from georep.cli import app

    return typer.main.get_command(app)


def resolve(group, tokens: list[str]) -> tuple[list[str], object, list[str]]:
    """The command path at the start of ``tokens`` (``rights transfer``), its command and the
    remaining tokens. AssertionError if the first token names no command."""
    cmd, path = group, []
    while getattr(cmd, "commands", None) is not None and tokens and tokens[0] in cmd.commands:
        path.append(tokens[0])
        cmd = cmd.commands[tokens[0]]
        tokens = tokens[1:]
    assert path, f"`georep {' '.join(tokens)}`: no such command (have {sorted(group.commands)})"
    return path, cmd, tokens


def options(cmd) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def parse(group, args: list[str]) -> None:
    """Parse ``georep ARGS`` as the CLI would, without running it; raises the CLI's usage
    error (a missing argument, an unknown option, a value of the wrong type)."""
    ctx = group.make_context("georep", list(args))
    cmd = group
    while hasattr(cmd, "resolve_command"):
        # click keeps a group's subcommand name in ctx._protected_args: its public
        # ``protected_args`` is deprecated (click 8.2) and nothing replaces it before click 9.
        name, sub, rest = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub


def variants(usage: str) -> list[list[str]]:
    """Concrete argument lists for a usage line such as ``get REGION TABLE KEY [--json]`` or
    ``resolve REGION TABLE KEY (--pick N | attr=value …)``: optional parts all in and all out,
    each alternative once, placeholders replaced by values of the right type."""
    usage = usage.replace("…", " ").replace("...", " ")
    alt = re.search(r"\(([^()]*)\)", usage)
    if alt:
        return [v for choice in alt.group(1).split("|")
                for v in variants(usage[:alt.start()] + choice + usage[alt.end():])]
    forms = {re.sub(r"\[([^\[\]]*)\]", r"\1", usage), re.sub(r"\[[^\[\]]*\]", " ", usage)}
    out = []
    for form in sorted(forms):
        out.append([("1" if t in INT_PLACEHOLDERS else "x") if PLACEHOLDER.match(t) else t
                    for t in form.split()])
    return out


def shell_lines(block_code: str, lang: str) -> list[list[str]]:
    """The commands of a ```sh or ```console block as argument lists (comments, prompts, line
    continuations and leading VAR=value assignments removed)."""
    rows, current = [], ""
    for line in block_code.splitlines():
        if lang == "console" and not current:
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        current += line.rstrip("\\") + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            rows.append(current)
            current = ""
    out = []
    for row in rows:
        words = shlex.split(row, comments=True)
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if words:
            out.append(words)
    return out


def make_targets(makefile: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*):", makefile, re.M)}
