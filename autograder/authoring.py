"""Small helpers for writing nbgrader source notebooks from Python.

Instructors can edit ``solutions/`` in Jupyter with nbgrader's "Create Assignment"
toolbar; these helpers produce the same metadata when a notebook is written by a
script.  Usage::

    from autograder.authoring import notebook, md, code, setup, solution, tests
    nb = notebook([md("# Title"), setup("import torch"), solution("f", src), tests("f", src, 2)])
    nbformat.write(nb, "solutions/ch01/ch01.ipynb")
"""

import textwrap

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _src(text):
    return textwrap.dedent(text).strip("\n")


def md(text, grade_id=None):
    """A markdown cell; locked (read-only) when it has a ``grade_id``."""
    meta = _meta(grade_id, locked=True) if grade_id else {}
    return new_markdown_cell(_src(text), metadata=meta)


def code(text):
    """A plain code cell the student may run or change."""
    return new_code_cell(_src(text))


def setup(text, grade_id="setup"):
    """A locked code cell (imports, data): restored from the source when grading."""
    return new_code_cell(_src(text), metadata=_meta(grade_id, locked=True))


def solution(grade_id, text):
    """An answer cell; ``### BEGIN SOLUTION``/``### END SOLUTION`` mark what the release removes."""
    return new_code_cell(_src(text), metadata=_meta(grade_id, solution=True))


def tests(grade_id, text, points):
    """A graded, locked test cell; ``### BEGIN HIDDEN TESTS`` marks what the release removes."""
    return new_code_cell(_src(text), metadata=_meta(grade_id, grade=True, locked=True, points=points))


def notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(nb, path):
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
