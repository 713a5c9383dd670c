"""exercises/ is generated from solutions/, in sync, and never carries answers or hidden tests."""
import re

import nbformat
import pytest

from autograder.config import EXERCISES, SOLUTIONS, Settings
from autograder.release import student_release
from tests.conftest import assignments
from tests.nbrun import points

MARKERS = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def _cells(path):
    nb = nbformat.read(str(path), as_version=4)
    return [(c.cell_type, c.source, c.metadata.get("nbgrader", {}).get("grade_id")) for c in nb.cells]


@pytest.mark.parametrize("assignment", assignments())
def test_release_is_in_sync_with_solutions(assignment, tmp_path):
    folder = student_release(Settings(tmp_path / "work"), assignment, tmp_path / "release")
    fresh = folder / f"{assignment}.ipynb"
    committed = EXERCISES / assignment / f"{assignment}.ipynb"
    assert committed.exists(), f"exercises/{assignment} is missing: run `make release`"
    assert _cells(committed) == _cells(fresh), f"exercises/{assignment} is stale: run `make release`"


@pytest.mark.parametrize("assignment", assignments())
def test_release_leaks_no_solution_and_no_hidden_test(assignment):
    release = (EXERCISES / assignment / f"{assignment}.ipynb").read_text()
    assert not MARKERS.search(release)
    assert "run_hidden" not in release
    source = nbformat.read(str(SOLUTIONS / assignment / f"{assignment}.ipynb"), as_version=4)
    secret = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END (?:SOLUTION|HIDDEN TESTS)", re.S)
    public = "\n".join(secret.sub("", c.source) for c in source.cells)
    for cell in source.cells:
        for block in secret.findall(cell.source):
            for line in block.splitlines():
                line = line.strip()
                if len(line) > 15 and line not in public:
                    assert line not in release, f"exercises/{assignment} leaks: {line}"


@pytest.mark.parametrize("assignment", assignments())
def test_every_assignment_has_graded_items_with_hidden_tests(assignment):
    nb = nbformat.read(str(SOLUTIONS / assignment / f"{assignment}.ipynb"), as_version=4)
    pts = points(nb)
    assert len(pts) >= 4, f"{assignment} has only {len(pts)} graded items"
    assert all(p > 0 for p in pts.values())
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert "### BEGIN HIDDEN TESTS" in cell.source, cell.metadata["nbgrader"]["grade_id"]
            assert cell.metadata["nbgrader"]["locked"]


def test_every_chapter_in_solutions_has_a_test_module():
    for assignment in assignments():
        assert (SOLUTIONS.parent / "tests" / "chapters" / f"{assignment}.py").exists(), assignment
