"""A corpus of broken submissions, graded in one run beside a normal one.

Each broken submission is graded or clearly flagged with its reason; the normal student
is graded normally; the run ends with a summary that lists every flagged submission.
"""
import copy
import json

import nbformat
import pytest

from autograder.config import Settings
from autograder.grade import autograde, summary
from autograder.synthetic import submission, write_submission

GOOD = submission("ch01")


def _raw(work, student, assignment, data: bytes, name=None):
    path = work / "submitted" / student / assignment / (name or f"{assignment}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _cells(nb, grade_id):
    return [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def _corpus(work):
    text = nbformat.writes(GOOD)
    write_submission(work, "normal", "ch01", GOOD)
    _raw(work, "corrupt", "ch01", b'{"cells": [ {"cell_type": "code", ')
    _raw(work, "truncated", "ch01", text.encode()[: len(text) // 2])
    _raw(work, "latin1", "ch01", text.replace("Chapter 1", "Chapitre \u00e9").encode("latin-1", "replace"))
    _raw(work, "renamed", "ch01", text.encode(), name="ch01 (1).ipynb")
    _raw(work, "wrongfolder", "ch02", text.encode(), name="ch01.ipynb")
    (work / "submitted" / "empty" / "ch01").mkdir(parents=True)
    nb = copy.deepcopy(GOOD)
    del nb.cells[_cells(nb, "test_Conv2D")[0]]
    write_submission(work, "deleted", "ch01", nb)
    nb = copy.deepcopy(GOOD)
    i = _cells(nb, "test_corr2d")[0]
    nb.cells.insert(i - 1, nb.cells.pop(i))  # the test now runs before the answer it tests
    write_submission(work, "reordered", "ch01", nb)
    nb = copy.deepcopy(GOOD)
    i = _cells(nb, "test_blur_kernel")[0]
    nb.cells.insert(i, copy.deepcopy(nb.cells[i]))
    write_submission(work, "duplicated", "ch01", nb)
    nb = copy.deepcopy(GOOD)
    nb.cells[_cells(nb, "test_corr2d")[0]].source = "pass  # no tests here"
    write_submission(work, "editedtest", "ch01", nb)
    nb = copy.deepcopy(GOOD)
    nb.cells[_cells(nb, "setup")[0]].source = "import torch"
    write_submission(work, "editedlocked", "ch01", nb)
    write_submission(work, "loop", "ch01", submission("ch01", replace={"kernels": "while True:\n    pass"}))
    write_submission(work, "membomb", "ch01", submission("ch01", replace={
        "learn_kernel": "hog = bytearray(64 * 2**30)"}))
    write_submission(work, "forkbomb", "ch01", submission("ch01", replace={
        "learn_kernel": "import os\nwhile True:\n    os.fork()"}))
    write_submission(work, "exits", "ch01", submission("ch01", replace={"kernels": "import os\nos._exit(3)"}))
    write_submission(work, "systemexit", "ch01", submission("ch01", replace={
        "learn_kernel": "raise SystemExit(2)"}))
    write_submission(work, "bigoutput", "ch01", submission("ch01", replace={
        "learn_kernel": GOOD.cells[_cells(GOOD, "learn_kernel")[0]].source + "\nprint('x' * 20_000_000)"}))
    nb = copy.deepcopy(GOOD)
    nb.cells[_cells(nb, "corr2d")[0]].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "A" * 50_000_000})]
    nb.cells[_cells(nb, "corr2d")[0]].execution_count = 1
    write_submission(work, "hugefile", "ch01", nb)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    _corpus(work)
    settings = Settings(work, cell_timeout=10, notebook_timeout=90, jobs=2)
    outcomes = autograde(settings, ["ch01", "ch02"], progress=False)
    return {(o.student, o.assignment): o for o in outcomes}, summary(outcomes)


EXPECTED = {  # student: (status, score, text that must be in the reasons)
    "normal": ("graded", 10, None),
    "corrupt": ("flagged", 0, "not a valid notebook"),
    "truncated": ("flagged", 0, "not a valid notebook"),
    "latin1": ("flagged", 0, "not UTF-8"),
    "renamed": ("flagged", 0, "ch01/ch01.ipynb is missing"),
    "empty": ("flagged", 0, "ch01/ch01.ipynb is missing"),
    "deleted": ("flagged", 8, "cell test_Conv2D was deleted"),
    "reordered": ("graded", 8, None),
    "duplicated": ("flagged", None, "test_blur_kernel appears 2 times"),
    "editedtest": ("flagged", 10, "cell test_corr2d was edited"),
    "editedlocked": ("flagged", 10, "cell setup was edited"),
    "loop": ("flagged", 7, "cell limit"),
    "membomb": ("graded", 9, None),
    # contained by the kernel's pids cgroup, the bomb either wedges the kernel (nbclient's
    # reply times out) or just runs until the cell limit: which one depends on timing
    "forkbomb": ("flagged", None, ("timed out", "cell limit")),
    "exits": ("flagged", 5, "DeadKernelError"),
    "systemexit": ("graded", 9, None),
    "bigoutput": ("graded", 10, None),
    "hugefile": ("graded", 10, None),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_fault_is_graded_or_flagged_with_its_reason(graded, student):
    outcomes, _ = graded
    status, score, reason = EXPECTED[student]
    o = outcomes[(student, "ch01")]
    assert o.status == status, o.problems
    if score is not None:
        assert o.score == score, o.problems
    assert o.max_score == 10
    if reason:
        reasons = (reason,) if isinstance(reason, str) else reason
        assert any(r in p for p in o.problems for r in reasons), o.problems


def test_wrong_folder_is_flagged_in_the_assignment_it_was_put_in(graded):
    outcomes, _ = graded
    o = outcomes[("wrongfolder", "ch02")]
    assert o.status == "flagged" and o.score == 0
    assert any("unexpected notebook" in p for p in o.problems)


def test_summary_lists_every_flagged_submission(graded):
    outcomes, text = graded
    flagged = [o for o in outcomes.values() if o.status == "flagged"]
    assert f" {len(flagged)} flagged, " in text
    for o in flagged:
        assert f"{o.student}/{o.assignment}: " in text
