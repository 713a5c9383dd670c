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

from .collect import read_roster
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


def export(settings: Settings, out_dir: Path | None = None, roster: Path | None = None) -> tuple[Path, Path]:
    """Write grades.csv and grades_by_item.csv into ``out_dir`` (default: the working folder);
    a ``roster`` CSV (as for ``collect``) adds a row for each of its students."""
    out_dir = Path(out_dir or settings.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = item_grades(settings)
    extra = set(read_roster(Path(roster)).values()) if roster else set()
    grades = out_dir / "grades.csv"
    with grades.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score"])
        w.writerows(_totals(rows, _students(settings) | extra, _assignment_max(settings, rows)))
    by_item = out_dir / "grades_by_item.csv"
    with by_item.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "notebook", "item", "score", "max_score"])
        for r in rows:
            shown = MANUAL if r.needs_manual else _num(r.score)
            w.writerow([r.student, r.assignment, r.notebook, r.item, shown, _num(r.max_score)])
    return grades, by_item


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
    scores: dict[tuple[str, str], float] = {}
    pending = {(r.student, r.assignment) for r in rows if r.needs_manual}
    for r in rows:
        scores[r.student, r.assignment] = scores.get((r.student, r.assignment), 0.0) + r.score
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
