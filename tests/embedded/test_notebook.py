"""notebooks/divergence.ipynb: committed without outputs, and executed top to bottom with
nbclient (three short deterministic runs, one per policy) drawing every figure and the table."""

from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient

from ..support.runs import ROOT

NOTEBOOK = ROOT / "notebooks" / "divergence.ipynb"
FIGURES = ("fig_divergence", "fig_lag", "fig_dlq")


def test_the_committed_notebook_carries_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert any("parameters" in c.metadata.get("tags", []) for c in code)


def test_the_notebook_runs_and_draws_every_figure_and_the_comparison(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source += (f"\nduration = 3.0\nexport = {str(tmp_path / 'export')!r}"
                      f"\nregions = {str(ROOT / 'regions')!r}"
                      f"\nworkdir = {str(tmp_path / 'runs')!r}\n")
    # A cell taking two minutes is a hang (three 3 s runs take well under one).
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for name in FIGURES:
        (cell,) = [c for c in nb.cells if c.cell_type == "code" and f"{name} =" in c.source]
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), name
    (table_cell,) = [c for c in nb.cells if "analysis.compare(runs)" in c.source]
    html = next(o["data"]["text/html"] for o in table_cell.outputs
                if "text/html" in o.get("data", {}))
    assert all(f"<th>{p}</th>" in html for p in ("lww", "vclock", "crdt"))
    assert (tmp_path / "export" / "divergence-policies.png").read_bytes().startswith(b"\x89PNG")
    table = (tmp_path / "export" / "policies.md").read_text().splitlines()
    assert len(table) == 5 and [row.split(" | ")[0] for row in table[2:]] == [
        "| lww", "| vclock", "| crdt"]


def test_run_dirs_given_from_the_repository_root_load_when_run_in_notebooks(tmp_path):
    """JupyterLab runs a notebook in its own folder: ``run_dirs = ["runs/..."]`` (a path from
    the repository root, as the parameters cell shows) is found from notebooks/ too."""
    run_dir = tmp_path / "runs" / "test-x"
    run_dir.mkdir(parents=True)
    events = [{"time": 0.0, "kind": "lab-start", "regions": {"a": "", "b": ""}},
              {"time": 1.0, "kind": "write", "region": "a", "table": "t", "key": "k",
               "hlc": 1},
              {"time": 2.0, "kind": "apply", "link": "a>b", "table": "t",
               "key": {"id": "k"}, "hlc": 1, "origin": "a", "lag_ms": 1000.0}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run_dir / "results.json").write_text(json.dumps({"config": {"policy": "lww"}}))
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source += '\nrun_dirs = ["runs/test-x"]\n'
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "notebooks")}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "? / lww / seed None: ../runs/test-x" in printed
