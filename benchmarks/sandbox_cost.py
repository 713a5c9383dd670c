"""What the sandbox costs per notebook: the same class graded with and without it, in one run.

    .venv/bin/python benchmarks/sandbox_cost.py --students 10 ch01
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.config import Settings  # noqa: E402
from autograder.export import item_grades  # noqa: E402
from autograder.grade import autograde  # noqa: E402
from autograder.synthetic import submission, write_submission  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignment", nargs="?", default="ch01")
    p.add_argument("--students", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2, help="alternate on/off this many times")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sandbox-cost-"))
    times = {True: [], False: []}
    grades = {}
    for r in range(args.rounds):
        for sandbox in (True, False):
            work = root / f"{'on' if sandbox else 'off'}{r}"
            for i in range(args.students):
                write_submission(work, f"s{i:02d}", args.assignment, submission(args.assignment))
            settings = Settings(work, sandbox=sandbox)
            start = time.perf_counter()
            autograde(settings, [args.assignment], progress=False)
            times[sandbox].append((time.perf_counter() - start) / args.students)
            grades[(sandbox, r)] = {(g.student, g.item): g.score for g in item_grades(settings)}
    on, off = min(times[True]), min(times[False])
    same = all(g == grades[(True, 0)] for g in grades.values())
    print(f"{args.students} notebooks of {args.assignment} per run, {args.rounds} runs each, best run:")
    print(f"  sandbox on:  {on:.3f} s per notebook")
    print(f"  sandbox off: {off:.3f} s per notebook")
    print(f"  cost: {on - off:+.3f} s per notebook ({(on - off) / off * 100:+.0f} %); scores identical: "
          f"{'yes' if same else 'NO'}")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
