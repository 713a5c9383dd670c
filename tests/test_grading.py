"""End to end through real nbgrader: collect-like layout, autograde, feedback, export.

Chapter 1's class has a correct, a blank, a wrong, a looping, a crashing and a corrupt
submission; every other student must be graded normally and lose exactly the right points.
Every chapter's class then checks: solution full marks, blank release 0, each realistic
wrong answer of tests/chapters/chNN.py loses exactly the points of its failing test cells.
"""
import csv
import importlib
import json
import re

import nbformat
import pytest

from autograder.cli import main
from autograder.config import SOLUTIONS, Settings
from autograder.export import export, item_grades
from autograder.feedback import feedback
from autograder.grade import autograde, summary
from autograder.synthetic import submission, write_submission
from tests.conftest import assignments
from tests.nbrun import points

LOOP = "def learn_kernel(X, Y, kernel_size, lr, steps):\n    while True:\n        pass"
CRASH = "import os\nos._exit(1)"


def _points(assignment):
    return points(nbformat.read(str(SOLUTIONS / assignment / f"{assignment}.ipynb"), as_version=4))


def _by_student(settings, assignment):
    scores = {}
    for g in item_grades(settings):
        if g.assignment == assignment:
            scores.setdefault(g.student, {})[g.item] = g.score
    return scores


@pytest.fixture(scope="module")
def ch01_class(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    settings = Settings(work, cell_timeout=15, notebook_timeout=120, jobs=2)
    write_submission(work, "alice", "ch01", submission("ch01"))
    write_submission(work, "bob", "ch01", submission("ch01", blank=True))
    write_submission(work, "carol", "ch01", submission("ch01", replace={"Conv2D": importlib.import_module(
        "tests.chapters.ch01").WRONG[3][1]["Conv2D"]}))
    write_submission(work, "dave", "ch01", submission("ch01", replace={"learn_kernel": LOOP}))
    write_submission(work, "erin", "ch01", submission("ch01", replace={"kernels": CRASH}))
    bad = work / "submitted" / "frank" / "ch01" / "ch01.ipynb"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"cells": [')
    outcomes = {o.student: o for o in autograde(settings, progress=False)}
    return settings, outcomes


def test_correct_blank_wrong_loop_crash_corrupt(ch01_class):
    settings, outcomes = ch01_class
    scores = {s: (o.score, o.max_score) for s, o in outcomes.items()}
    assert scores == {"alice": (10, 10), "bob": (0, 10), "carol": (8, 10), "dave": (9, 10),
                      "erin": (5, 10), "frank": (0, 10)}
    per_item = _by_student(settings, "ch01")
    assert per_item["carol"]["test_Conv2D"] == 0
    assert per_item["dave"]["test_learn_kernel"] == 0
    assert [k for k, v in per_item["erin"].items() if v] == ["test_Conv2D", "test_conv2d_flip", "test_corr2d"]
    assert outcomes["alice"].status == outcomes["bob"].status == outcomes["carol"].status == "graded"
    assert outcomes["dave"].status == "flagged" and "cell limit" in " ".join(outcomes["dave"].problems)
    assert outcomes["erin"].status == "flagged" and "DeadKernel" in " ".join(outcomes["erin"].problems)
    assert outcomes["frank"].status == "flagged"
    assert "frank/ch01/ch01.ipynb: not a valid notebook" in outcomes["frank"].problems[0]


def test_export_csv_numbers(ch01_class):
    settings, _ = ch01_class
    grades, by_item = export(settings)
    rows = {r["student"]: r for r in csv.DictReader(grades.open())}
    assert {s: (r["score"], r["max_score"]) for s, r in rows.items()} == {
        "alice": ("10", "10"), "bob": ("0", "10"), "carol": ("8", "10"), "dave": ("9", "10"),
        "erin": ("5", "10"), "frank": ("0", "10")}
    items = [r for r in csv.DictReader(by_item.open()) if r["student"] == "carol"]
    assert len(items) == len(_points("ch01"))
    assert {r["item"]: float(r["score"]) for r in items}["test_Conv2D"] == 0
    assert sum(float(r["score"]) for r in items) == 8


def test_feedback_shows_points_and_reasons_never_sources(ch01_class):
    settings, _ = ch01_class
    pages = feedback(settings)
    assert len(pages) == 6
    carol = (settings.workdir / "feedback" / "carol" / "ch01" / "ch01.html").read_text()
    assert "Score: <b>8 / 10</b>" in carol
    assert re.search(r"test_Conv2D</td><td>0 / 2</td><td>[^<]*Conv2D", carol)
    # the chapter's name as the title; items in notebook order under the exercise's own title
    assert "<h1>Chapter 1 exercises: cross-correlation and the convolutional layer</h1>" in carol
    rows = re.findall(r"<tr class='\w+'><td>([^<]*)</td>", carol)
    assert rows[0] == "1. Cross-correlation (2 points) · test_corr2d"
    assert rows[-1] == "6. Gradients through your loop (1 point) · test_corr2d_grads"
    bob = (settings.workdir / "feedback" / "bob" / "ch01" / "ch01.html").read_text()
    assert "still the placeholder" in bob
    source = nbformat.read(str(SOLUTIONS / "ch01" / "ch01.ipynb"), as_version=4)
    secret_lines = set()
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        text = cell.source
        if meta.get("grade"):
            text = text.split("### BEGIN HIDDEN TESTS", 1)[-1] if "### BEGIN HIDDEN TESTS" in text else ""
        elif meta.get("solution"):
            text = "\n".join(re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, re.S))
        else:
            continue
        secret_lines |= {line.strip() for line in text.splitlines()
                         if len(line.strip()) > 12 and not line.strip().startswith("###")}
    assert secret_lines, "the source notebook should have hidden tests and solutions to look for"
    for page in pages:
        text = page.read_text()
        leaked = [line for line in secret_lines if line in text]
        assert not leaked, f"{page} shows source lines: {leaked[:3]}"


def test_second_run_is_idempotent(ch01_class):
    settings, first_run = ch01_class
    before = (settings.workdir / "grades_by_item.csv")
    export(settings)
    first = before.read_bytes()
    flagged_before = {s: o.problems for s, o in first_run.items() if o.problems}
    again = autograde(settings, progress=False)
    assert {o.status for o in again if o.student != "frank"} == {"skipped"}
    export(settings)
    assert before.read_bytes() == first
    # the table and the report still show what the last grading found (dave's loop, erin's crash)
    kept = {o.student: o.problems for o in again if o.problems}
    assert kept == flagged_before and {"dave", "erin"} <= set(kept)
    table = summary(again)
    assert "unchanged (flagged)" in table and any("dave/ch01:" in line for line in table.splitlines())
    report = json.loads((settings.workdir / "autograde-report.json").read_text())
    assert {s["student"]: s["problems"] for s in report["submissions"] if s["problems"]} == kept


@pytest.mark.parametrize("assignment", assignments())
def test_every_wrong_answer_loses_exactly_its_points(assignment, tmp_path):
    spec = importlib.import_module(f"tests.chapters.{assignment}")
    pts = _points(assignment)
    total = sum(pts.values())
    expected = {"solution": total, "blank": 0.0}
    write_submission(tmp_path, "solution", assignment, submission(assignment))
    write_submission(tmp_path, "blank", assignment, submission(assignment, blank=True))
    wrong = spec.WRONG + getattr(spec, "SHORTCUTS", [])
    for i, (name, replace, failing) in enumerate(wrong):
        write_submission(tmp_path, f"wrong{i:02d}", assignment, submission(assignment, replace=replace))
        expected[f"wrong{i:02d}"] = total - sum(pts[t] for t in failing)
    settings = Settings(tmp_path, cell_timeout=60, notebook_timeout=240, jobs=2)
    outcomes = {o.student: o for o in autograde(settings, [assignment], progress=False)}
    got = {s: o.score for s, o in outcomes.items()}
    assert got == pytest.approx(expected), json.dumps(
        {s: o.problems for s, o in outcomes.items() if o.problems})
    assert all(o.max_score == total for o in outcomes.values())
    # every failed item explains itself in one line
    per_item = _by_student(settings, assignment)
    for i, (name, replace, failing) in enumerate(wrong):
        assert {k for k, v in per_item[f"wrong{i:02d}"].items() if v < pts[k]} == set(failing), name


def test_class_report_matches_the_gradebook(ch01_class):
    """`course report`: per item, the students with full points and the most frequent reasons;
    the flagged submissions with their reasons; a score figure. Numbers checked against the gradebook."""
    from bs4 import BeautifulSoup

    settings, _ = ch01_class
    assert main(["report", "--workdir", str(settings.workdir)]) == 0
    page = settings.workdir / "report" / "index.html"
    soup = BeautifulSoup(page.read_text(), "html.parser")
    items_table, flags_table = soup.select("section#ch01 table")
    rows = {tr.find_all("td")[0].text: tr.find_all("td") for tr in items_table.select("tbody tr")}
    grades = [g for g in item_grades(settings) if g.assignment == "ch01"]
    assert set(rows) == {g.item for g in grades}
    for item, cells in rows.items():
        mine = [g for g in grades if g.item == item]
        full = sum(g.score >= g.max_score for g in mine)
        assert cells[2].text == f"{full} of {len(mine)}", item
        shown = sum(int(li.text.split(" × ")[0]) for li in cells[3].select("li"))
        assert shown <= len(mine) - full and (shown == 0) == (full == len(mine)), item
    assert "1 × corr2d is still the placeholder" in rows["test_corr2d"][3].text  # bob's blank, no "CheckError:"
    flagged = {tr.find_all("td")[0].text for tr in flags_table.select("tbody tr")}
    assert flagged == {"dave", "erin", "frank"}
    assert (page.parent / "ch01.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
