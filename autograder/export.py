"""``course export``: grades from the gradebook as CSV files.

- ``grades.csv``: one row per student and assignment (score, max_score), for every student
  the gradebook or the roster knows and every assignment anyone submitted: a student with no
  submission of it reads ``not submitted``, so that nobody is missing from the file;
- ``grades_by_item.csv``: one row per student, assignment, notebook and graded item.

An item that needs manual grading (an nbgrader manually graded answer not graded yet) reads
``needs manual grading`` instead of a score, in its row and in its submission's total, so that
an unfinished grade is never taken for a zero.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from .collect import RosterRow, roster_rows
from .config import COURSE_ID, Settings


@dataclass
class ItemGrade:
    student: str
    assignment: str
    notebook: str
    item: str
    score: float
    max_score: float
    needs_manual: bool = False  # no score yet: a manually graded item nobody has graded


def submission_totals(rows: list[ItemGrade]) -> dict[tuple[str, str], tuple[float, float]]:
    """Each submission's (score, max_score), keyed by (student, assignment): its items' sums."""
    totals: dict[tuple[str, str], tuple[float, float]] = {}
    for r in rows:
        score, top = totals.get((r.student, r.assignment), (0.0, 0.0))
        totals[r.student, r.assignment] = (score + r.score, top + r.max_score)
    return totals


def item_grades(settings: Settings) -> list[ItemGrade]:
    """Every graded item of every submission in the gradebook, sorted."""
    rows = []
    with Gradebook(settings.db, COURSE_ID) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        rows.append(
                            ItemGrade(
                                submission.student.id,
                                assignment.name,
                                nb.name,
                                grade.name,
                                float(grade.score),
                                float(grade.max_score),
                                grade.auto_score is None and grade.manual_score is None,
                            )
                        )
    return sorted(rows, key=lambda r: (r.student, r.assignment, r.notebook, r.item))


def export(
    settings: Settings, out_dir: Path | None = None, roster: Path | None = None, lms: str | None = None
) -> tuple[Path, Path]:
    """Write grades.csv and grades_by_item.csv into ``out_dir`` (default: the working folder);
    a ``roster`` CSV (as for ``collect``) adds a row for each of its students; ``lms`` (canvas or
    moodle) also writes ``grades-<lms>.csv`` in that system's grade import layout."""
    out_dir = Path(out_dir or settings.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = item_grades(settings)
    people = {row.id: row for row in roster_rows(Path(roster))} if roster else {}
    totals = _totals(rows, _students(settings) | set(people), _assignment_max(settings, rows))
    grades = out_dir / "grades.csv"
    _write_csv(grades, [["student", "assignment", "score", "max_score"], *totals])
    by_item = out_dir / "grades_by_item.csv"
    header = ["student", "assignment", "notebook", "item", "score", "max_score"]
    _write_csv(by_item, [header, *(_item_row(r) for r in rows)])
    if lms:
        _write_csv(out_dir / f"grades-{lms}.csv", lms_table(lms, totals, people))
    return grades, by_item


def _item_row(r: ItemGrade) -> list[str]:
    shown = MANUAL if r.needs_manual else _num(r.score)
    return [r.student, r.assignment, r.notebook, r.item, shown, _num(r.max_score)]


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)


def lms_table(lms: str, totals: list[list[str]], people: dict[str, RosterRow]) -> list[list[str]]:
    """grades.csv's totals as one row per student and one column per assignment, in the layout
    of Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, then the
    assignments, and a Points Possible row) or Moodle's CSV grade import (ID number, Email
    address, Full name, then the assignments). A total that is not a number (not submitted,
    needs manual grading) is left empty, so that the import sets nothing for it."""
    assignments = sorted({row[1] for row in totals})
    maxima = {row[1]: row[3] for row in totals}
    scores: dict[str, dict[str, str]] = {}
    for student, assignment, score, _ in totals:
        scores.setdefault(student, {})[assignment] = score if score not in (MANUAL, NOT_SUBMITTED) else ""
    table = []
    for student in sorted(scores):
        person = people.get(student, RosterRow(student, student, ""))
        marks = [scores[student].get(a, "") for a in assignments]
        if lms == "canvas":
            table.append([person.name or student, "", student, person.email, "", *marks])
        else:
            table.append([student, person.email, person.name or student, *marks])
    if lms == "canvas":
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments]
        return [header, ["Points Possible", "", "", "", "", *(maxima[a] for a in assignments)], *table]
    return [["ID number", "Email address", "Full name", *assignments], *table]


def _students(settings: Settings) -> set[str]:
    with Gradebook(settings.db, COURSE_ID) as gb:
        return {s.id for s in gb.students}


def _assignment_max(settings: Settings, rows: list[ItemGrade]) -> dict[str, float]:
    """The maximum score of every assignment that has at least one submission."""
    submitted = {r.assignment for r in rows}
    with Gradebook(settings.db, COURSE_ID) as gb:
        return {a.name: float(a.max_score) for a in gb.assignments if a.name in submitted}


def _totals(rows: list[ItemGrade], students: set[str], maxima: dict[str, float]) -> list[list[str]]:
    """grades.csv's rows: each student's total per assignment, ``MANUAL`` while an item awaits
    manual grading, ``NOT_SUBMITTED`` where the gradebook has no submission."""
    scores = {key: score for key, (score, _) in submission_totals(rows).items()}
    pending = {(r.student, r.assignment) for r in rows if r.needs_manual}
    out = []
    for student in sorted(students | {r.student for r in rows}):
        for assignment, max_score in sorted(maxima.items()):
            key = (student, assignment)
            total = MANUAL if key in pending else _num(scores[key]) if key in scores else NOT_SUBMITTED
            out.append([student, assignment, total, _num(max_score)])
    return out


MANUAL = "needs manual grading"
NOT_SUBMITTED = "not submitted"


def _num(x: float) -> str:
    return f"{x:g}"
