"""notebooks/divergence.ipynb: committed without outputs, and executed top to bottom with
nbclient (three short deterministic runs, one per policy) drawing every figure and the table."""

from __future__ import annotations

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
    params.source += (f"\nduration = 5.0\nexport = {str(tmp_path / 'export')!r}"
                      f"\nregions = {str(ROOT / 'regions')!r}\n")
    # A cell taking two minutes is a hang (three 5 s runs take well under one).
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
