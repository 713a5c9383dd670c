"""Manually graded items: until an instructor grades them, the CSV files and the feedback say
so instead of showing a zero (a real nbgrader gradebook, filled through nbgrader's API)."""
import csv

from nbgrader.api import Gradebook

from autograder.config import COURSE_ID, Settings
from autograder.export import MANUAL, export, item_grades
from autograder.feedback import render


def _gradebook(settings):
    with Gradebook(settings.db, COURSE_ID) as gb:
        gb.add_assignment("hw")
        gb.add_notebook("essay", "hw")
        gb.add_grade_cell("q_explain", "essay", "hw", max_score=2, cell_type="markdown")
        gb.add_solution_cell("q_explain", "essay", "hw")
        gb.add_grade_cell("test_f", "essay", "hw", max_score=1, cell_type="code")
        gb.add_student("alice")
        gb.add_submission("hw", "alice")
        manual = gb.find_grade("q_explain", "essay", "hw", "alice")
        manual.needs_manual_grade, manual.auto_score = True, None
        gb.find_grade("test_f", "essay", "hw", "alice").auto_score = 1
        gb.db.commit()


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


def test_an_ungraded_manual_item_reads_needs_manual_grading_until_graded(tmp_path):
    settings = Settings(tmp_path)
    _gradebook(settings)
    grades, by_item = export(settings)
    assert _rows(by_item) == [["alice", "hw", "essay", "q_explain", MANUAL, "2"], ["alice", "hw", "essay", "test_f", "1", "1"]]
    assert _rows(grades) == [["alice", "hw", MANUAL, "3"]]
    page = render("alice", "hw", "essay", item_grades(settings), {})
    assert "needs manual grading: your instructor has not graded it yet" in page
    assert "1 / 3</b> so far (1 of the items needs manual grading)" in page

    with Gradebook(settings.db, COURSE_ID) as gb:  # the instructor grades it (as formgrader does)
        grade = gb.find_grade("q_explain", "essay", "hw", "alice")
        grade.manual_score, grade.needs_manual_grade = 2, False
        gb.db.commit()
    grades, by_item = export(settings)
    assert _rows(by_item)[0] == ["alice", "hw", "essay", "q_explain", "2", "2"]
    assert _rows(grades) == [["alice", "hw", "3", "3"]]
    assert MANUAL not in render("alice", "hw", "essay", item_grades(settings), {})
