"""Every graded item that forbids a family of routines states its rule in its own text.

An item's hidden test refuses the operators of its ``forbidden`` family
(:data:`convcourse.check.FORBIDDEN_FAMILIES`); a student should read that rule in the exercise
itself, as a paragraph that starts with ``**Rule:**``, not learn it from a failed test.

An item's own text is the markdown of its exercise: the markdown cells after the graded test
cell that precedes the item's answer cell (the last solution cell before its test cell), up
to its test cell. Several test cells graded on one answer cell (``pool2d`` for max and average
pooling, the three cost functions of ch03) share one exercise text, so one rule stated there
shows in the text of each. Items are named as the grader names them: by the
``run_hidden("chNN.name", ...)`` calls of each test cell (:func:`autograder.judge.plan`).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder.judge import plan
from convcourse.grading import get_item
from tests.conftest import assignments
from tests.nbrun import solution_path

RULE = re.compile(r"(?:\A|\n\s*\n)\s*\*\*Rule:\*\*")


def own_texts(path) -> dict[str, str]:
    """{test cell grade_id: the markdown of its exercise, cells joined by blank lines}."""
    cells = nbformat.read(str(path), as_version=4).cells
    nbg = [c.metadata.get("nbgrader", {}) for c in cells]
    texts = {}
    for t, meta in enumerate(nbg):
        if not meta.get("grade") or cells[t].cell_type != "code":
            continue
        answer = max((i for i in range(t) if nbg[i].get("solution")), default=-1)
        bound = answer if answer >= 0 else t  # no answer cell: the text since the last test
        start = max((i for i in range(bound) if nbg[i].get("grade")), default=-1)
        texts[meta["grade_id"]] = "\n\n".join(
            cells[i].source for i in range(start + 1, t) if cells[i].cell_type == "markdown"
        )
    return texts


def forbidding_items(assignment: str) -> list[tuple[str, str, str]]:
    """(test cell grade_id, item id, forbidden family) of every item with a forbidden family."""
    path = solution_path(assignment)
    found = []
    for grade_id, calls in plan(str(path), path.stat().st_mtime_ns).calls.items():
        for call in calls:
            family = get_item(call.item).forbidden
            if family:
                found.append((grade_id, call.item, family))
    return found


def test_graded_cells_name_their_items():
    """The mapping is read, not guessed: every graded cell calls run_hidden at least once, and
    the survey below sees the items that forbid something (ch01's corr2d among them)."""
    for assignment in assignments():
        path = solution_path(assignment)
        calls = plan(str(path), path.stat().st_mtime_ns).calls
        assert calls and all(calls.values()), (assignment, [g for g, c in calls.items() if not c])
    assert ("test_corr2d", "ch01.corr2d", "convolution") in forbidding_items("ch01")


@pytest.mark.parametrize("assignment", assignments())
def test_every_forbidding_item_states_its_rule_in_its_own_text(assignment):
    texts = own_texts(solution_path(assignment))
    missing = [
        f"{item} ({grade_id}, forbids {family})"
        for grade_id, item, family in forbidding_items(assignment)
        if not RULE.search(texts[grade_id])
    ]
    assert not missing, f"no **Rule:** paragraph in the exercise text of: {', '.join(missing)}"


@pytest.mark.parametrize("assignment", assignments())
def test_every_item_a_shortcut_is_refused_for_states_its_rule(assignment):
    """The builders of chapters 5 to 9 forbid no routine family, yet the course's own networks
    and helpers are refused there (convcourse.check.COURSE_ANSWERS): every item for which
    tests/chapters/ holds a refused shortcut says what is refused, in its own text."""
    import importlib

    texts = own_texts(solution_path(assignment))
    shortcuts = importlib.import_module(f"tests.chapters.{assignment}").SHORTCUTS
    refused = sorted({grade_id for _name, _answer, fails in shortcuts for grade_id in fails})
    assert refused, f"{assignment}: no shortcut to check"
    missing = [grade_id for grade_id in refused if not RULE.search(texts[grade_id])]
    assert not missing, f"no **Rule:** paragraph in the exercise text of: {', '.join(missing)}"
