"""Student submissions made from the course's own notebooks, for tests and benchmarks.

A submission starts from the student release (``exercises/``) and fills the answer
cells: with the instructor's solution (markers removed), with replacement code for
some cells (a wrong answer, an endless loop, a crash), or with nothing (blank).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat

from .config import EXERCISES, SOLUTIONS

_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def _solutions(assignment: str, notebook: str) -> dict[str, str]:
    nb = nbformat.read(str(SOLUTIONS / assignment / f"{notebook}.ipynb"), as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: "\n".join(line for line in c.source.splitlines() if not _MARKER.match(line))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def submission(
    assignment: str, notebook: str | None = None, *, blank: bool = False, replace: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """The release notebook with its answer cells filled in (see the module docstring)."""
    notebook = notebook or assignment
    nb = nbformat.read(str(EXERCISES / assignment / f"{notebook}.ipynb"), as_version=4)
    answers = {} if blank else _solutions(assignment, notebook)
    answers.update({k: textwrap.dedent(v).strip("\n") for k, v in (replace or {}).items()})
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


def write_submission(workdir: Path, student: str, assignment: str, nb, notebook: str | None = None) -> Path:
    path = Path(workdir) / "submitted" / student / assignment / f"{notebook or assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
