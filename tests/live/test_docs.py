"""Documentation that runs. Every ```python block of README.md and docs/*.md, and every example in
the public API's docstrings, is run as a user would run it: a fresh interpreter, in a temporary
folder holding a copy of ``regions/``, with a deadline (```python pytest blocks: with pytest).
Fragments are marked ```python no-run and counted. Every georep command the docs show is parsed
by the real CLI, and its ``--help`` answers. The convention is in tests/support/docblocks.py."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from georep.config import load, load_region

from ..support import doccli
from ..support.docblocks import (
    ROOT,
    docstring_blocks,
    markdown_blocks,
    markdown_files,
    prose_spans,
    public_docstrings,
    table_command_cells,
    unfenced_examples,
)

DEADLINE_S = 150  # per block; an embedded lab takes a few seconds to start on a slow machine
# Fragments, deliberately not run. A new one must be counted here on purpose.
# georep.runtime.embedded's module docstring (a sketch with `...`), georep.runtime.live's and the
# README's LiveLab fragment (both need a lab started with `georep up`).
NO_RUN_EXPECTED = 3

BLOCKS = markdown_blocks() + docstring_blocks()
RUNNABLE = [b for b in BLOCKS if b.kind in ("run", "pytest")]


def user_env() -> dict[str, str]:
    """The environment of a user's shell, with this repository's georep imported first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def test_every_python_block_is_marked_and_counted():
    unknown = [f"{b}: ```{b.lang} {b.kind}" for b in BLOCKS if b.kind == "unknown"]
    assert not unknown, "unknown fence markers (use python, python pytest, python no-run)"
    counts = {k: sum(b.kind == k for b in BLOCKS) for k in ("run", "pytest", "no-run")}
    fragments = [str(b) for b in BLOCKS if b.kind == "no-run"]
    assert counts["no-run"] == NO_RUN_EXPECTED, f"fragments not run: {fragments}"
    assert any(b.kind == "run" and b.where.startswith("README.md") for b in BLOCKS), counts
    docs = docstring_blocks()
    assert any(b.kind == "pytest" for b in docs), "georep.testing's example was not found"


def test_public_docstrings_keep_their_examples_in_fences():
    found = {name: unfenced_examples(doc) for name, doc in public_docstrings().items()}
    found = {name: snippets for name, snippets in found.items() if snippets}
    assert not found, f"examples outside a ```python fence, which the suite cannot run: {found}"


@pytest.mark.parametrize("block", RUNNABLE, ids=str)
def test_python_block_runs_as_a_user_runs_it(block, tmp_path):
    shutil.copytree(ROOT / "regions", tmp_path / "regions")
    if block.kind == "pytest":
        (tmp_path / "pytest.ini").write_text("[pytest]\n")  # pytest's defaults, a user's project
        (tmp_path / "test_example.py").write_text(block.code)
        cmd = [sys.executable, "-m", "pytest", "-q", "test_example.py"]
    else:
        (tmp_path / "example.py").write_text(block.code)
        cmd = [sys.executable, "example.py"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=user_env(), capture_output=True, text=True,
                          timeout=DEADLINE_S)
    shown = f"{block} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, shown
    if block.kind == "pytest":
        summary = proc.stdout.strip().splitlines()[-1]
        assert re.search(r"\d+ passed", summary), shown
        assert not re.search(r"skipped|xfail|xpass|deselected|error|failed", summary), shown


def test_toml_blocks_are_tables_or_region_files_the_lab_accepts(tmp_path):
    blocks = [b for b in markdown_blocks() if b.lang == "toml"]
    assert blocks
    for n, block in enumerate(blocks):
        doc = tomllib.loads(block.code)
        if "name" in doc:  # a region file
            folder = tmp_path / f"region{n}"
            folder.mkdir()
            if "ca_bundle" in doc:
                (folder / doc["ca_bundle"]).write_text("")
            (folder / "r.toml").write_text(block.code)
            region = load_region(folder / "r.toml")
            assert not region.local and region.name == doc["name"], block
            continue
        regions = shutil.copytree(ROOT / "regions", tmp_path / f"regions{n}")
        declared = tomllib.loads(block.code).get("tables", {})
        lab = (regions / "lab.toml").read_text()
        (regions / "lab.toml").write_text(lab + "\n" + block.code)
        config = load(regions)
        for name, spec in declared.items():
            table = config.table(name)
            assert table.policy == spec.get("policy", "lww"), block
            assert table.crdt == spec.get("crdt", {}), block


def test_json_blocks_parse():
    blocks = [b for b in markdown_blocks() if b.lang == "json"]
    assert blocks
    for block in blocks:
        json.loads(block.code)


def documented_commands() -> list[tuple[str, str]]:
    """(where, usage) for every georep command shown in the docs: code spans (the command
    table's cells included) and the lines of ```sh and ```console blocks."""
    out: dict[tuple[str, str], None] = {}
    for path in markdown_files():
        text, name = path.read_text(), path.name
        out |= dict.fromkeys((name, s) for s in prose_spans(text, "georep "))
        out |= dict.fromkeys((name, s) for s in table_command_cells(text))
    for block in markdown_blocks():
        if block.lang in ("sh", "console"):
            for words in doccli.shell_lines(block.code, block.lang):
                if words[0].endswith("georep"):
                    out[(str(block), " ".join(["georep", *words[1:]]))] = None
    return list(out)


def test_documented_commands_parse_with_the_real_cli():
    group = doccli.root()
    problems = []
    for where, usage in documented_commands():
        tokens = usage.split()[1:]
        if tokens and "/" in tokens[0]:  # `georep get/scan`
            alternatives = [[t] for t in tokens[0].split("/")]
        else:
            alternatives = [tokens]
        for words in alternatives:
            try:
                path, _, rest = doccli.resolve(group, words)
                for args in doccli.variants(" ".join([*path, *rest])) if rest else []:
                    doccli.parse(group, args)
            except Exception as exc:  # the CLI's usage error, or no such command
                problems.append(f"{where}: `{usage}`: {exc}")
    assert not problems, "\n".join(problems)


def test_help_of_every_documented_command_answers():
    group = doccli.root()
    paths = set()
    for _, usage in documented_commands():
        first = usage.split()[1]
        for alt in first.split("/"):
            path, _, _ = doccli.resolve(group, [alt, *usage.split()[2:]])
            paths.add(tuple(path))
    from georep import cli

    runner = CliRunner()
    for path in sorted(paths):
        result = runner.invoke(cli.app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output and path[-1] in result.output, (path, result.output)
    proc = subprocess.run([sys.executable, "-m", "georep", "--help"], env=user_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for top in {p[0] for p in paths}:
        assert re.search(rf"^[\s│|]*{top}\s", proc.stdout, re.M), (top, proc.stdout)


def test_other_shell_commands_match_the_repository():
    targets = doccli.make_targets((ROOT / "Makefile").read_text())
    config = load(ROOT / "regions")
    problems = []
    spans = [s.split() for p in markdown_files() for s in prose_spans(p.read_text(), "make ")]
    lines = [w for b in markdown_blocks() if b.lang in ("sh", "console")
             for w in doccli.shell_lines(b.code, b.lang)]
    for words in spans + lines:
        if words[0] == "make":
            problems += [f"`make {t}`: no such target" for t in words[1:] if t not in targets]
        elif words[0] == "aws":
            opt = dict(itertools.pairwise(words))
            port = urlsplit(opt["--endpoint-url"]).port
            region = next((r for r in config.regions if r.port == port), None)
            if region is None or region.aws_region != opt["--region"]:
                problems.append(f"`{' '.join(words)}`: no region file has port {port} "
                                f"and aws_region {opt['--region']}")
            if "--table-name" in opt and opt["--table-name"] not in {
                    t.name for t in config.tables}:
                problems.append(f"`{' '.join(words)}`: no table {opt['--table-name']}")
        elif not words[0].endswith("georep"):
            problems.append(f"`{' '.join(words)}`: a command this test does not check")
    assert not problems, "\n".join(problems)
