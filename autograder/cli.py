"""The instructor's command line: ``course release | collect | autograde | feedback | export``.

Run ``course --help`` or ``course COMMAND --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import warnings
from pathlib import Path

from .config import Settings, default_workdir

# The defaults of the options live in one place, Settings.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}


def _settings(args) -> Settings:
    device = "cpu"
    if getattr(args, "device", None):
        from convcourse.device import resolve  # imports torch: only for autograde

        device = resolve(args.device)
    return Settings(
        workdir=args.workdir,
        db_url=args.db,
        device=device,
        jobs=getattr(args, "jobs", 1) or 1,
        cell_timeout=getattr(args, "cell_timeout", 60),
        notebook_timeout=getattr(args, "notebook_timeout", 300),
        warm=not getattr(args, "cold", False),
        cluster=getattr(args, "cluster", None),
        sandbox=not getattr(args, "no_sandbox", False),
    )


def cmd_release(args) -> int:
    from .release import release

    names = release(_settings(args), args.assignments)
    print(f"released {', '.join(names)} into exercises/")
    return 0


def cmd_collect(args) -> int:
    from .collect import collect

    result = collect(_settings(args), Path(args.source), roster=args.roster, force=args.force)
    for student, assignment, src in result.collected:
        print(f"collected {src} -> submitted/{student}/{assignment}")
    for src, why in result.unmatched:
        print(f"NOT collected {src}: {why}")
    print(f"{len(result.collected)} notebook(s) collected, {len(result.unmatched)} file(s) not matched")
    return 0 if result.collected or not result.unmatched else 1


def cmd_autograde(args) -> int:
    from .grade import autograde, summary
    from .gradebook import read_scores

    settings = _settings(args)
    done: list = []
    try:
        outcomes = autograde(
            settings, args.assignments, args.student, force=args.force, progress=not args.quiet, on_done=done.append
        )
    except KeyboardInterrupt:
        read_scores(settings, done)
        print(summary(done))
        print(
            f"course autograde: interrupted after {len(done)} submission(s); they are in the gradebook. "
            f"Run the same command again to grade the rest (graded ones are skipped).",
            file=sys.stderr,
        )
        return 130
    print(summary(outcomes))
    print(
        f"device: {settings.device}; sandbox: {'on' if settings.sandbox else 'OFF (--no-sandbox)'}; "
        f"gradebook: {settings.db}"
    )
    return 0


def cmd_feedback(args) -> int:
    from .feedback import feedback

    written = feedback(_settings(args), args.assignments, args.student)
    print(f"wrote {len(written)} feedback page(s) under {Path(args.workdir) / 'feedback'}")
    return 0


def cmd_report(args) -> int:
    from .classreport import class_report

    page = class_report(_settings(args), args.assignments)
    print(f"wrote {page}")
    return 0


def cmd_export(args) -> int:
    from .export import export

    grades, by_item = export(_settings(args), args.out, roster=args.roster, lms=args.lms)
    print(f"wrote {grades} and {by_item}" + (f" and grades-{args.lms}.csv" if args.lms else ""))
    return 0


def _add_autograde(sub, common: argparse.ArgumentParser) -> None:
    a = sub.add_parser("autograde", parents=[common], help="grade submissions with nbgrader and hidden tests")
    a.add_argument("assignments", nargs="*", help="assignment ids (default: all submitted)")
    a.add_argument("--student", action="append", help="grade only this student (repeatable)")
    a.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default=DEFAULTS["device"],
        help="device the hidden tests run on (default: %(default)s)",
    )
    a.add_argument(
        "--jobs",
        type=int,
        default=DEFAULTS["jobs"],
        help="notebooks executed at once (default: %(default)s; one more than the CPU cores keeps them busy)",
    )
    a.add_argument(
        "--cell-timeout", type=int, default=DEFAULTS["cell_timeout"], help="seconds per cell (default: %(default)s)"
    )
    a.add_argument(
        "--notebook-timeout",
        type=int,
        default=DEFAULTS["notebook_timeout"],
        help="seconds per notebook (default: %(default)s)",
    )
    a.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="execute notebooks on Dask: 'local' starts a local cluster of --jobs worker "
        "processes; an address (tcp://host:8786) uses a running scheduler whose workers "
        "see WORKDIR at the same path",
    )
    a.add_argument(
        "--cold", action="store_true", help="start every kernel from scratch, as stock nbgrader does (slower)"
    )
    a.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code without the sandbox (not recommended; recorded in the report)",
    )
    a.add_argument("--force", action="store_true", help="regrade submissions that are already graded")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_autograde)


def _global_options(p: argparse.ArgumentParser, suppress: bool) -> None:
    """``--workdir`` and ``--db``, accepted before or after the command (after it, they win)."""
    default = argparse.SUPPRESS if suppress else None
    p.add_argument(
        "--workdir",
        type=Path,
        default=default if suppress else default_workdir(),
        help="the instructor's working folder (default: $COURSE_WORKDIR or ./work)",
    )
    p.add_argument(
        "--db",
        default=default,
        help="gradebook as an SQLAlchemy URL (default: sqlite:///WORKDIR/gradebook.db), "
        "e.g. postgresql+psycopg2://user:password@host/dbname",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description=__doc__.splitlines()[0])
    _global_options(p, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "release", parents=[common], help="regenerate exercises/ from solutions/ (nbgrader generate_assignment)"
    )
    r.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    r.set_defaults(func=cmd_release)

    c = sub.add_parser(
        "collect", parents=[common], help="copy student notebooks from a folder or zip into WORKDIR/submitted"
    )
    c.add_argument("source", help="a folder or a .zip of student notebooks")
    c.add_argument("--roster", type=Path, help="a CSV file with columns id, name, email: names in file names -> ids")
    c.add_argument("--force", action="store_true", help="replace a collected notebook even with an older copy")
    c.set_defaults(func=cmd_collect)

    _add_autograde(sub, common)

    f = sub.add_parser("feedback", parents=[common], help="write per-student HTML feedback into WORKDIR/feedback")
    f.add_argument("assignments", nargs="*")
    f.add_argument("--student", action="append")
    f.set_defaults(func=cmd_feedback)

    r = sub.add_parser("report", parents=[common], help="write the class report WORKDIR/report/index.html")
    r.add_argument("assignments", nargs="*")
    r.set_defaults(func=cmd_report)

    e = sub.add_parser("export", parents=[common], help="write grades.csv and grades_by_item.csv")
    e.add_argument("--out", type=Path, default=None, help="folder for the CSV files (default: WORKDIR)")
    e.add_argument("--roster", type=Path, help="a CSV file with columns id, name, email: a row for every student on it")
    e.add_argument(
        "--lms", choices=("canvas", "moodle"), help="also write grades-LMS.csv in that system's import layout"
    )
    e.set_defaults(func=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logging.getLogger("course").setLevel(logging.INFO)
    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    from .release import CourseError

    try:
        return args.func(args)
    except (CourseError, ValueError, RuntimeError) as e:
        return _error(args, str(e))
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _error(args, f"{where}{e.strerror or e} (check that the working folder {args.workdir} is writable)")
    except Exception as e:  # noqa: BLE001 - a gradebook that cannot be opened, said in one line
        if type(e).__module__.startswith("sqlalchemy"):
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return _error(
                args,
                f"the gradebook {args.db or 'in ' + str(args.workdir)} cannot be used: {first} "
                f"(check --db: an SQLAlchemy URL such as sqlite:///path/gradebook.db)",
            )
        raise


def _error(args, message: str) -> int:
    print(f"course {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
