"""Finding the examples in georep's documentation: fenced blocks in README.md and docs/*.md, and
in the docstrings of the public API (plain functions, no fixtures; used by tests/live/test_docs.py).

The convention (README, "Examples that run"): an example is a fenced block. Its info string says
what the suite does with it:

- ```python            a complete program: run in a fresh interpreter, in a temporary folder
- ```python pytest     a complete pytest file: run with pytest in a fresh interpreter
- ```python no-run     a fragment, deliberately not run (the suite counts them)

Doctest prompts (``>>>``) and indented code in a public docstring are not examples the suite can
find, so they are reported as such.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = {"python", "py", "python3"}
MARKERS = {"": "run", "pytest": "pytest", "no-run": "no-run"}


@dataclass(frozen=True)
class Block:
    where: str  # "README.md:123" or "georep.testing, docstring line 6"
    lang: str   # the fence's first word ("" for none)
    kind: str   # run, pytest, no-run for python; "other" for any other language; "unknown"
    code: str

    def __str__(self) -> str:
        return self.where


def fenced(text: str, where: str, *, lines: bool = True) -> list[Block]:
    """Every fenced block of ``text``; ``where`` names the source (a line number is added)."""
    out: list[Block] = []
    rows = text.splitlines()
    i = 0
    while i < len(rows):
        stripped = rows[i].strip()
        if not stripped.startswith("```"):
            i += 1
            continue
        info = stripped[3:].split()
        start = i
        i += 1
        body = []
        while i < len(rows) and rows[i].strip() != "```":
            body.append(rows[i])
            i += 1
        i += 1
        lang = info[0] if info else ""
        marker = " ".join(info[1:])
        kind = "other" if lang not in PYTHON else MARKERS.get(marker, "unknown")
        at = f"{where}:{start + 1}" if lines else f"{where}, docstring line {start + 1}"
        out.append(Block(at, lang, kind, textwrap.dedent("\n".join(body)) + "\n"))
    return out


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def markdown_blocks() -> list[Block]:
    return [b for p in markdown_files()
            for b in fenced(p.read_text(), str(p.relative_to(ROOT)))]


def public_docstrings() -> dict[str, str]:
    """Docstrings of the public API: the modules ``georep`` and ``georep.testing``, the names
    they export, the modules those names are defined in, and every public member of an exported
    class (inherited ones from georep's own classes included)."""
    import georep
    import georep.testing

    docs: dict[str, str] = {}

    def add(name: str, obj) -> None:
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str) and name not in docs:
            docs[name] = inspect.cleandoc(doc)

    for mod in (georep, georep.testing):
        add(mod.__name__, mod)
        names = getattr(mod, "__all__", None) or [
            n for n, v in vars(mod).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__]
        for name in names:
            obj = getattr(mod, name)
            add(f"{mod.__name__}.{name}", obj)
            home = inspect.getmodule(obj)
            if home is not None and home.__name__.startswith("georep"):
                add(home.__name__, home)
            if not inspect.isclass(obj):
                continue
            for klass in obj.__mro__:
                if not klass.__module__.startswith("georep"):
                    continue
                add(klass.__module__, inspect.getmodule(klass))
                for attr, member in vars(klass).items():
                    if not attr.startswith("_"):
                        add(f"{mod.__name__}.{name}.{attr}", member)
    return docs


def docstring_blocks() -> list[Block]:
    return [b for name, doc in public_docstrings().items()
            for b in fenced(doc, name, lines=False)]


def unfenced_examples(doc: str) -> list[str]:
    """Code in a docstring that is not in a fence: doctest prompts, and indented blocks that
    parse as Python and do something (a call, an await, an import, a definition, ...)."""
    rows, inside = [], False
    for line in doc.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            rows.append("")
        else:
            rows.append("" if inside else line)
    found = [line.strip() for line in rows if line.lstrip().startswith(">>>")]
    i = 0
    while i < len(rows):
        opens = i == 0 or not rows[i - 1].strip() or rows[i - 1].rstrip().endswith(":")
        if not (rows[i].startswith("    ") and rows[i].strip() and opens):
            i += 1
            continue
        j = i
        while j < len(rows) and (rows[j].startswith("    ") or not rows[j].strip()):
            j += 1
        snippet = textwrap.dedent("\n".join(rows[i:j])).strip()
        if _does_something(snippet):
            found.append(snippet)
        i = j
    return found


_ACTIONS = (ast.Call, ast.Await, ast.AsyncWith, ast.With, ast.Import, ast.ImportFrom,
            ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign, ast.Assert)


def _does_something(snippet: str) -> bool:
    try:
        tree = compile(snippet, "<docstring>", "exec",
                       flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return False
    return any(isinstance(node, _ACTIONS) for node in ast.walk(tree))


SPAN = re.compile(r"`([^`\n]+)`")


def prose(text: str) -> str:
    """``text`` without its fenced blocks (they are checked as blocks)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            out.append(line)
    return "\n".join(out)


def table_command_cells(text: str) -> list[str]:
    """Code spans in the first cell of table rows that document a georep command; a span
    without the ``georep`` prefix there (``scan REGION TABLE``) is one of its subcommands."""
    spans = []
    for line in prose(text).splitlines():
        if not line.startswith("| `georep"):
            continue
        cell = line.replace(r"\|", "\0").split("|")[1].replace("\0", "|")
        spans.extend(s if s.startswith("georep ") else f"georep {s}" for s in SPAN.findall(cell))
    return spans


def prose_spans(text: str, prefix: str) -> list[str]:
    """Code spans of the prose that start with ``prefix`` (table cells included)."""
    return [s.replace(r"\|", "|") for s in SPAN.findall(prose(text)) if s.startswith(prefix)]
