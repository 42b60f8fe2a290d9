"""Divergence analysis: a run directory as pandas DataFrames, its figures and a comparison.

Place in the data flow: after a run. ``georep test`` (or any lab run) leaves a run directory;
:func:`load` (:mod:`.frames`) reads it into a :class:`Run`; :func:`compare` (:mod:`.compare`)
puts runs side by side; :mod:`.figures` draws them; :mod:`.report` writes PNG files and an HTML
page (``georep report``). The series underneath (:mod:`georep.core.divergence`) are pure and
pandas-free, shared with the harness's own figures. ``notebooks/divergence.ipynb`` reads runs
through this package only.
"""

from __future__ import annotations

from .compare import compare, markdown, summary
from .frames import Run, RunDirError, load

__all__ = ["Run", "RunDirError", "compare", "load", "markdown", "summary"]
