"""``course export``: grades from the gradebook as CSV files.

- ``grades.csv``: one row per student and assignment (score, max_score);
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


def export(settings: Settings, out_dir: Path | None = None) -> tuple[Path, Path]:
    out_dir = Path(out_dir or settings.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = item_grades(settings)
    totals: dict[tuple[str, str], list[float]] = {}
    pending: set[tuple[str, str]] = set()
    for r in rows:
        t = totals.setdefault((r.student, r.assignment), [0.0, 0.0])
        t[0] += r.score
        t[1] += r.max_score
        if r.needs_manual:
            pending.add((r.student, r.assignment))
    grades = out_dir / "grades.csv"
    with grades.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score"])
        for (student, assignment), (score, max_score) in sorted(totals.items()):
            total = MANUAL if (student, assignment) in pending else _num(score)
            w.writerow([student, assignment, total, _num(max_score)])
    by_item = out_dir / "grades_by_item.csv"
    with by_item.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "notebook", "item", "score", "max_score"])
        for r in rows:
            shown = MANUAL if r.needs_manual else _num(r.score)
            w.writerow([r.student, r.assignment, r.notebook, r.item, shown, _num(r.max_score)])
    return grades, by_item


MANUAL = "needs manual grading"


def _num(x: float) -> str:
    return f"{x:g}"
