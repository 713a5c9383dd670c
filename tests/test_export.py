"""grades.csv has a row for every student the course knows, submitted or not (a real nbgrader
gradebook, filled through nbgrader's API, and the real `course export` command)."""
import csv

from nbgrader.api import Gradebook

from autograder.cli import main
from autograder.config import COURSE_ID, Settings
from autograder.export import NOT_SUBMITTED


def _class(settings):
    """hw1 (3 points) submitted by alice only, hw2 (1 point) by alice and bob; carol is in the
    gradebook but never submitted; hw3 was created but nobody submitted it."""
    with Gradebook(settings.db, COURSE_ID) as gb:
        for name, cells in {"hw1": {"test_a": 2, "test_b": 1}, "hw2": {"test_c": 1}, "hw3": {"test_d": 5}}.items():
            gb.add_assignment(name)
            gb.add_notebook(name, name)
            for cell, points in cells.items():
                gb.add_grade_cell(cell, name, name, max_score=points, cell_type="code")
        for student in ("alice", "bob", "carol"):
            gb.add_student(student)
        for assignment, student, scores in [("hw1", "alice", {"test_a": 2, "test_b": 0}),
                                            ("hw2", "alice", {"test_c": 1}), ("hw2", "bob", {"test_c": 0})]:
            gb.add_submission(assignment, student)
            for cell, score in scores.items():
                gb.find_grade(cell, assignment, assignment, student).auto_score = score
        gb.db.commit()


def _grades(path):
    with open(path, newline="") as f:
        return [tuple(row) for row in list(csv.reader(f))[1:]]


def test_every_known_student_has_a_row_for_every_submitted_assignment(tmp_path):
    settings = Settings(tmp_path / "work")
    settings.workdir.mkdir()
    _class(settings)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\ndave,Dave Example,dave@example.org\nalice,Alice Example,alice@example.org\n")
    assert main(["export", "--workdir", str(settings.workdir), "--roster", str(roster)]) == 0
    assert _grades(settings.workdir / "grades.csv") == [
        ("alice", "hw1", "2", "3"), ("alice", "hw2", "1", "1"),
        ("bob", "hw1", NOT_SUBMITTED, "3"), ("bob", "hw2", "0", "1"),
        ("carol", "hw1", NOT_SUBMITTED, "3"), ("carol", "hw2", NOT_SUBMITTED, "1"),
        ("dave", "hw1", NOT_SUBMITTED, "3"), ("dave", "hw2", NOT_SUBMITTED, "1"),
    ]
    # without the roster, only the gradebook's students; the per-item file lists grades only
    assert main(["export", "--workdir", str(settings.workdir)]) == 0
    assert {row[0] for row in _grades(settings.workdir / "grades.csv")} == {"alice", "bob", "carol"}
    assert {row[0] for row in _grades(settings.workdir / "grades_by_item.csv")} == {"alice", "bob"}


def test_a_bad_roster_is_named_and_nothing_is_written(tmp_path, capsys):
    settings = Settings(tmp_path / "work")
    settings.workdir.mkdir()
    _class(settings)
    roster = tmp_path / "roster.csv"
    roster.write_text("student;mail\nx;y\n")
    assert main(["export", "--workdir", str(settings.workdir), "--roster", str(roster)]) == 2
    assert str(roster) in capsys.readouterr().err
    assert not (settings.workdir / "grades.csv").exists()


def test_grades_in_the_import_layouts_of_canvas_and_moodle(tmp_path):
    """One row per student and one column per assignment; names and emails from the roster;
    totals that are not numbers (not submitted) left empty so that an import sets nothing."""
    settings = Settings(tmp_path / "work")
    settings.workdir.mkdir()
    _class(settings)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\nalice,Alice  Example,alice@example.org\ndave,Dave Example,dave@example.org\n")
    for lms in ("canvas", "moodle"):
        assert main(["export", "--workdir", str(settings.workdir), "--roster", str(roster), "--lms", lms]) == 0
    canvas = list(csv.reader((settings.workdir / "grades-canvas.csv").open(newline="")))
    assert canvas[:3] == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw1", "hw2"],
                          ["Points Possible", "", "", "", "", "3", "1"],
                          ["Alice Example", "", "alice", "alice@example.org", "", "2", "1"]]
    assert canvas[3:] == [["bob", "", "bob", "", "", "", "0"], ["carol", "", "carol", "", "", "", ""],
                          ["Dave Example", "", "dave", "dave@example.org", "", "", ""]]
    moodle = list(csv.reader((settings.workdir / "grades-moodle.csv").open(newline="")))
    assert moodle[0] == ["ID number", "Email address", "Full name", "hw1", "hw2"]
    assert moodle[1] == ["alice", "alice@example.org", "Alice Example", "2", "1"]
    assert [row[0] for row in moodle[1:]] == ["alice", "bob", "carol", "dave"]
