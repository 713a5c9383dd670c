"""Grading benchmark: stock ``nbgrader autograde`` against ``course autograde`` on one synthetic class.

    .venv/bin/python benchmarks/grading.py --students 50            # all exercise notebooks
    .venv/bin/python benchmarks/grading.py --students 10 ch01 ch02  # a quicker run

The class mixes correct, partly wrong (the realistic wrong answers of tests/chapters/),
blank, crashing (``os._exit`` in the first answer cell) and looping (an endless loop in
place of the last answer) submissions. Both graders get the same files, the same cell time limit and
the same machine, in the same run; stock nbgrader grades one notebook after another, the
course's grader uses warm forked kernels and ``--jobs`` workers. The script compares every
item's score in the two gradebooks, prints both times and the ratio, and exits 1 if any
score differs.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.config import Settings, assignments  # noqa: E402
from autograder.export import item_grades  # noqa: E402
from autograder.grade import autograde  # noqa: E402
from autograder.synthetic import submission, write_submission  # noqa: E402

BIN = Path(sys.executable).parent
warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader with SQLAlchemy 2


def answers(assignment: str) -> list[tuple[str, str]]:
    """(grade_id, solution source) of every answer cell, in order."""
    return [(c.metadata["nbgrader"]["grade_id"], c.source) for c in submission(assignment).cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def make_class(work: Path, students: int, chosen: list[str]) -> dict[str, int]:
    kinds = {"correct": 0, "wrong": 0, "blank": 0, "crash": 0, "loop": 0}
    for a in chosen:
        wrong = importlib.import_module(f"tests.chapters.{a}").WRONG
        first, last = answers(a)[0][0], answers(a)[-1][0]
        for i in range(students):
            student = f"student{i:03d}"
            if i == students - 1:
                kind, nb = "loop", submission(a, replace={last: "while True:\n    pass"})
            elif i == students - 2:
                kind, nb = "crash", submission(a, replace={first: "import os\nos._exit(1)"})
            elif i % 5 == 3:
                kind, nb = "blank", submission(a, blank=True)
            elif i % 5 == 4:
                kind, nb = "wrong", submission(a, replace=wrong[i % len(wrong)][1])
            else:
                kind, nb = "correct", submission(a)
            kinds[kind] += 1
            write_submission(work, student, a, nb)
    return kinds


def run_stock(work: Path, chosen: list[str], cell_timeout: int) -> float:
    env = dict(os.environ, COURSE_WORKDIR=str(work), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    nbgrader = str(BIN / "nbgrader")
    with tempfile.TemporaryDirectory() as release:
        for a in chosen:
            subprocess.run([nbgrader, "generate_assignment", a, "--force", "--log-level=ERROR",
                            f"--CourseDirectory.release_directory={release}"],
                           cwd=REPO / "autograder", env=env, check=True, capture_output=True)
    start = time.perf_counter()
    for a in chosen:
        # stock nbgrader exits non-zero when a submission fails (a kernel that died); go on
        subprocess.run([nbgrader, "autograde", a, "--force", "--log-level=ERROR",
                        f"--Execute.timeout={cell_timeout}"],
                       cwd=REPO / "autograder", env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: every assignment in solutions/")
    p.add_argument("--students", type=int, default=50)
    # one worker more than cores: a worker waits while its kernel starts and stops, and the
    # spare one keeps the cores busy (2 cores, 2026-12-03: 397 s with 3 workers, 416 s with 2)
    p.add_argument("--jobs", type=int, default=(os.cpu_count() or 1) + 1)
    p.add_argument("--cell-timeout", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--keep", type=Path, help="keep the working folders here")
    args = p.parse_args()
    chosen = args.assignments or assignments()
    root = Path(args.keep or tempfile.mkdtemp(prefix="grading-bench-"))
    stock_dir, course_dir = root / "stock", root / "course"
    for d in (stock_dir, course_dir):
        shutil.rmtree(d, ignore_errors=True)
    kinds = make_class(course_dir, args.students, chosen)
    shutil.copytree(course_dir / "submitted", stock_dir / "submitted")
    n = args.students * len(chosen)
    print(f"class: {args.students} students x {len(chosen)} notebooks ({', '.join(chosen)}) = {n} "
          f"submissions: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))
    print(f"machine: {os.cpu_count()} CPU cores; cell time limit {args.cell_timeout} s for both graders")

    stock_s = run_stock(stock_dir, chosen, args.cell_timeout)
    print(f"stock nbgrader autograde (serial):  {stock_s:8.1f} s  ({stock_s / n:.2f} s per submission)")

    settings = Settings(course_dir, cell_timeout=args.cell_timeout, jobs=args.jobs, device=args.device)
    start = time.perf_counter()
    outcomes = autograde(settings, chosen, progress=False)
    course_s = time.perf_counter() - start
    print(f"course autograde (--jobs {args.jobs}, warm):  {course_s:8.1f} s  ({course_s / n:.2f} s per submission)")
    print(f"ratio: {stock_s / course_s:.1f}x faster")

    ours = {(g.student, g.assignment, g.item): g.score for g in item_grades(settings)}
    theirs = {(g.student, g.assignment, g.item): g.score for g in item_grades(Settings(stock_dir))}
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    print(f"items compared: {len(ours)}; scores identical: {'yes' if not differ and ours else 'NO'}")
    for k in differ[:20]:
        print(f"  differs: {k}: course {ours.get(k)} stock {theirs.get(k)}")
    flagged = [o for o in outcomes if o.status == "flagged"]
    print(f"flagged by the course's grader: {len(flagged)} "
          f"({', '.join(sorted({o.student for o in flagged}))})")
    print(f"working folders: {root}")
    return 1 if differ or not ours else 0


if __name__ == "__main__":
    sys.exit(main())
