"""The authoring helpers write the nbgrader metadata the course's own sources carry."""
import nbformat
from nbgrader.preprocessors import CheckCellMetadata

from autograder import authoring
from autograder.config import SOLUTIONS


def _kind(cell) -> tuple:
    m = cell.metadata["nbgrader"]
    return (cell.cell_type, m["grade"], m["solution"], m["locked"])


def _plain(cell) -> dict:
    return {k: v for k, v in cell.metadata["nbgrader"].items() if k not in ("grade_id", "points")}


def test_helpers_write_the_metadata_of_the_course_sources(tmp_path):
    real = nbformat.read(str(SOLUTIONS / "ch01" / "ch01.ipynb"), as_version=4)
    by_kind = {_kind(c): _plain(c) for c in real.cells if "nbgrader" in c.metadata}
    nb = authoring.notebook([
        authoring.md("# Title", "intro"),
        authoring.setup("import torch"),
        authoring.solution("f", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        authoring.tests("test_f", "assert f() == 1", 2),
        authoring.code("f()"),
    ])
    path = tmp_path / "x.ipynb"
    authoring.write(nb, path)
    back = nbformat.read(str(path), as_version=4)
    graded = [c for c in back.cells if "nbgrader" in c.metadata]
    assert [c.metadata["nbgrader"]["grade_id"] for c in graded] == ["intro", "setup", "f", "test_f"]
    compared = [c for c in graded if _kind(c) in by_kind]
    assert {_kind(c)[1:] for c in compared} >= {(False, True, False), (True, False, True), (False, False, True)}
    for c in compared:
        assert _plain(c) == by_kind[_kind(c)], c.metadata["nbgrader"]["grade_id"]
    assert back.cells[3].metadata["nbgrader"]["points"] == 2
    assert "nbgrader" not in back.cells[4].metadata
    CheckCellMetadata().preprocess(back, {})  # nbgrader accepts every cell
