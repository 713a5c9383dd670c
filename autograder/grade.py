"""``course autograde``: nbgrader's autograde, split into three overlapping phases.

1. **prepare** (this process, one submission after another): nbgrader's sanitising
   preprocessors copy ``submitted/`` to ``autograded/``, clear outputs and restore
   locked and test cells from the source;
2. **execute** (worker processes, ``--jobs`` at a time): each notebook runs in its own
   kernel with cell and notebook time limits (:mod:`autograder.execute`); nothing here
   touches the gradebook;
3. **score** (this process again): nbgrader's own scoring preprocessors
   (``SaveAutoGrades`` and friends) write the gradebook, so there is only one writer.

Each submission goes to a worker as soon as it is prepared and is scored as soon as it
has run, while this process prepares the next ones.

A submission that cannot be read or prepared is flagged with the reason and scored 0;
it never stops the others. A submission whose files have not changed since it was last
graded is skipped (``--force`` regrades), so a run that was killed midway resumes where
it stopped and a second run changes nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .config import Settings, notebooks_by_assignment
from .execute import ExecResult
from .gradebook import Prepare, Score, read_scores, record_zero, run_converter
from .release import CourseError, ensure_in_gradebook
from .report import Outcome, carry_over, summary, write_report
from .runner import Runner, make_runner
from .safeio import write_atomic
from .sandbox import check as sandbox_check
from .speedups import install as _share_engines
from .submissions import check_notebooks, find_submissions, fingerprint_of, marker_path, read_marker

__all__ = ["Outcome", "autograde", "find_submissions", "summary"]
log = logging.getLogger("course")


def _refuse_unsandboxed(settings: Settings) -> None:
    """Stop before any student code runs if the sandbox was asked for and cannot work here."""
    if not settings.sandbox:
        return
    if not settings.warm:
        raise CourseError("the sandbox needs warm kernels: drop --cold, or add --no-sandbox")
    reason = sandbox_check(settings.workdir)
    if reason:
        raise CourseError(
            f"{reason}. Grading refuses to run student code unsandboxed; "
            f"pass --no-sandbox to do it anyway (the report records it)"
        )


def autograde(
    settings: Settings,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Grade the chosen submissions; return one :class:`Outcome` per submission.

    The three phases overlap: a submission goes to a worker as soon as it is prepared, and
    is scored as soon as all its notebooks have run, while the next ones are prepared. So
    the workers never wait for the whole class to be prepared, and a run that is stopped
    keeps everything it finished. ``on_done`` is called with each submission's outcome as soon
    as it is recorded (its score is read from the gradebook at the end).
    """
    _share_engines()  # nbgrader's per-notebook setup, done once in this process
    known = notebooks_by_assignment()
    pairs = find_submissions(settings, assignments, students)
    _refuse_unsandboxed(settings)
    outcomes = {key: Outcome(*key) for key in pairs}
    remaining: dict[tuple[str, str], int] = {}  # notebooks still running, per submission
    prints = {key: fingerprint_of(settings.workdir / "submitted" / key[0] / key[1], settings) for key in pairs}
    # graded from other files than these, or regraded anyway; the others are skipped
    todo = {key for key, fingerprint in prints.items() if force or not _unchanged(settings, key, fingerprint)}

    def finished(key, result: ExecResult) -> None:
        out = outcomes[key]
        out.seconds += result.seconds
        if result.problem:
            out.problems.append(f"{Path(result.path).name}: {result.problem}")
        out.suspicious += [f"{Path(result.path).name}: {s}" for s in result.suspicious]
        remaining[key] -= 1
        if remaining[key] == 0:
            _score(settings, out, prints[key])
            bar.update(1)
            if on_done:
                on_done(out)

    with _bar(len(pairs), progress) as bar, make_runner(settings) as runner:
        _get_ready(settings, runner, {a for _, a in pairs}, start=bool(todo))
        for key in pairs:
            paths = _prepare(settings, outcomes[key], known[key[1]], key in todo)
            if not paths:
                bar.update(1)
                if on_done:
                    on_done(outcomes[key])
                continue
            remaining[key] = len(paths)
            for path in paths:
                runner.submit(key, path)
            for done in runner.ready():
                finished(*done)
        for done in runner.rest():
            finished(*done)
    read_scores(settings, list(outcomes.values()))
    result = list(outcomes.values())
    carry_over(settings, result)
    write_report(settings, result)
    return result


def _get_ready(settings: Settings, runner: Runner, assignments: set[str], start: bool) -> None:
    """Start the workers (with ``start``: something is to be graded) while the gradebook is made
    ready for every assignment."""
    if start:
        runner.start_workers()
    for assignment in sorted(assignments):
        ensure_in_gradebook(settings, assignment)


def _unchanged(settings: Settings, key: tuple[str, str], fingerprint: dict) -> bool:
    """Whether the submission ``key`` was graded from these very files (its marker says so)."""
    return read_marker(marker_path(settings, *key)) == fingerprint


def _prepare(settings: Settings, out: Outcome, notebooks: list[str], changed: bool) -> list[str]:
    """Check and sanitise one submission (submitted/ -> autograded/); return the notebooks
    to execute, none if it is not ``changed`` (graded before from the same files, and no
    ``--force``) or cannot be graded."""
    t0 = time.monotonic()
    student, assignment = out.student, out.assignment
    src = settings.workdir / "submitted" / student / assignment
    dest = settings.workdir / "autograded" / student / assignment
    if not changed:
        out.status = "skipped"
        return []
    problems, warnings = check_notebooks(src, notebooks)
    out.problems += warnings + problems
    if problems:
        shutil.rmtree(dest, ignore_errors=True)
    else:
        try:
            run_converter(Prepare, settings, assignment, student)
        except CourseError as e:
            problems = [f"could not be prepared: {e}"]
            out.problems += problems
    out.seconds += time.monotonic() - t0
    if problems:
        out.status = "flagged"
        record_zero(settings, assignment, student)
        return []
    return [str(dest / f"{name}.ipynb") for name in notebooks]


def _score(settings: Settings, out: Outcome, fingerprint: dict) -> None:
    """nbgrader's scoring of one executed submission, then the marker that says it is done
    (with the ``fingerprint`` of the files it was prepared from)."""
    t0 = time.monotonic()
    try:
        run_converter(Score, settings, out.assignment, out.student)
    except CourseError as e:
        out.status, out.problems = "flagged", out.problems + [f"could not be scored: {e}"]
        record_zero(settings, out.assignment, out.student)
        return
    if out.problems or out.suspicious:
        out.status = "flagged"
    marker = marker_path(settings, out.student, out.assignment)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, json.dumps(fingerprint).encode(), mode=0o600)
    out.seconds += time.monotonic() - t0


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="submission", disable=not enabled or total == 0)
