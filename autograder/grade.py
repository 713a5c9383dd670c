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

import concurrent.futures as cf
import functools
import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

from .config import COURSE_ID, EXERCISES, Settings, nbgrader_config, notebooks_by_assignment
from .execute import ExecResult, execute_notebook
from .release import CourseError, ensure_in_gradebook
from .safeio import NOTEBOOK_LIMIT, UnsafeFile, read_bounded, size_text, walk_regular, write_atomic
from .sandbox import check as sandbox_check
from .speedups import install as _share_engines

log = logging.getLogger("course")
_share_engines()
# The record that a submission was graded with a given fingerprint lives at
# WORKDIR/MARKER/<student>/<assignment>.json: a folder only the grader writes (the sandbox
# hides the whole working folder), never inside autograded/, which a kernel can write into.
MARKER = Path(".course", "graded")


class Prepare(Autograde):
    """The sanitising half of nbgrader's autograde: submitted/ -> autograded/."""

    def convert_single_notebook(self, notebook_filename):
        self._sanitizing = True
        self._init_preprocessors()
        BaseConverter.convert_single_notebook(self, notebook_filename)


class Score(Autograde):
    """The scoring half of nbgrader's autograde, on notebooks already executed in autograded/."""

    def init_destination(self, assignment_id, student_id):
        return True  # the executed notebooks are our input: keep them

    def init_assignment(self, assignment_id, student_id):
        pass  # prepare already created the submission and copied the files

    def convert_single_notebook(self, notebook_filename):
        self._sanitizing = False
        self.exporter._preprocessors = []
        for pp in (
            IgnorePattern,
            ClearMetadataPreprocessor,
            LimitOutput,
            SaveAutoGrades,
            AssignLatePenalties,
            CheckCellMetadata,
        ):
            self.exporter.register_preprocessor(pp)
        BaseConverter.convert_single_notebook(self, notebook_filename)

    @property
    def _input_directory(self):
        return self.coursedir.autograded_directory


@dataclass
class Outcome:
    """What happened to one submission (student, assignment) in this run."""

    student: str
    assignment: str
    status: str = "graded"  # graded, flagged or skipped (already graded)
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)  # tampering evidence, for the instructor only


class _ErrorLog(logging.Handler):
    """Collects the error lines nbgrader logs, to explain a failure in one line."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        text = record.getMessage().strip()
        if text and not text.startswith(("Traceback", "Please see", "There was an error processing")):
            self.lines.append(text.splitlines()[-1])


def _run_converter(cls, settings: Settings, assignment: str, student: str) -> None:
    config = nbgrader_config(settings)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = student
    config.Autograde.force = True
    config.Autograde.create_student = True
    handler = _ErrorLog()
    loggers = [logging.getLogger("traitlets"), logging.getLogger("Autograde")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        cls(coursedir=CourseDirectory(config=config), config=config).start()
    except Exception as e:  # noqa: BLE001 - nbgrader's own failure, reported in one line
        reason = handler.lines[-1] if handler.lines else f"{type(e).__name__}: {e}"
        raise CourseError(reason) from None
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def _fingerprint(folder: Path, settings: Settings) -> dict:
    """What a submission's files are (sha256 of each) and the device, so an unchanged one is
    not regraded. Read through :mod:`safeio`: no link is followed and no file is read past
    :data:`NOTEBOOK_LIMIT`; a link, FIFO or oversized file is recorded by its refusal (such
    a submission is flagged by :func:`_check_notebooks` anyway)."""
    files: dict[str, str] = {}
    try:
        walk = walk_regular(folder)
    except UnsafeFile as e:
        return {"files": files, "refused": e.reason, "device": settings.device}
    for rel in walk.files:
        try:
            files[str(rel)] = hashlib.sha256(read_bounded(folder / rel, NOTEBOOK_LIMIT)).hexdigest()
        except UnsafeFile as e:
            files[str(rel)] = f"refused: {e.reason}"
    for rel, why in walk.problems:
        files[str(rel)] = f"refused: {why}"
    return {"files": dict(sorted(files.items())), "device": settings.device}


def _marker_path(settings: Settings, student: str, assignment: str) -> Path:
    """Where the grader records that (student, assignment) was graded: see :data:`MARKER`."""
    return settings.workdir / MARKER / student / f"{assignment}.json"


def _read_marker(path: Path) -> dict | None:
    """The fingerprint recorded at ``path``, or None (regrade) when it is missing, a link,
    not a regular file, over 16 MB or not JSON: a bad marker costs one regrade, never a
    crash, and is never followed out of the grader's folder."""
    try:
        data = json.loads(read_bounded(path, 16 << 20))
    except (ValueError, RecursionError):  # UnsafeFile, undecodable bytes and bad JSON are ValueErrors
        return None
    return data if isinstance(data, dict) else None


def _locked_sources(assignment: str, notebook: str) -> dict[str, str]:
    """{grade_id: source} of the cells students may not change, as released (read once per
    version of the released file)."""
    path = EXERCISES / assignment / f"{notebook}.ipynb"
    stat = path.stat()
    return _read_locked(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read_locked(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    nb = nbformat.read(path, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("locked") or c.metadata.get("nbgrader", {}).get("grade")
    }


def _edited_cells(nb, assignment: str, notebook: str) -> list[str]:
    """Locked and test cells whose text differs from the release, or that are missing."""
    released = _locked_sources(assignment, notebook)
    seen: dict[str, list[str]] = {}
    for c in nb.cells:
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in released:
            seen.setdefault(gid, []).append(c.source)
    notes = []
    for gid, source in released.items():
        if gid not in seen:
            notes.append(f"cell {gid} was deleted")
        elif any(s.strip() != source.strip() for s in seen[gid]):
            notes.append(f"cell {gid} was edited (nbgrader restores it from the source)")
        if len(seen.get(gid, [])) > 1:
            notes.append(f"cell {gid} appears {len(seen[gid])} times")
    return notes


def _check_notebooks(folder: Path, expected: list[str]) -> tuple[list[str], list[str]]:
    """Problems that make a submission unreadable, and warnings about stray or edited cells.

    The folder is listed and read through :mod:`safeio`, because nbgrader copies it as root:
    a link, FIFO or device anywhere in it, or any file over :data:`NOTEBOOK_LIMIT`, is a
    problem (the submission is scored 0 and never copied), and no link is followed."""
    base = f"{folder.parent.name}/{folder.name}"
    try:
        walk = walk_regular(folder)
    except UnsafeFile as e:
        return [f"{base}: {e.reason}"], []
    problems = [f"{base}/{rel}: {why}" for rel, why in walk.problems]
    big = {r for r, size in walk.files.items() if size > NOTEBOOK_LIMIT}
    problems += [
        f"{base}/{r}: too large ({size_text(walk.files[r])}, the limit is {size_text(NOTEBOOK_LIMIT)})"
        for r in sorted(big)
    ]
    warnings: list[str] = []
    for r in (r for r in walk.files if len(r.parts) == 1 and r.suffix == ".ipynb" and r not in big):
        p, rel = folder / r.name, f"{base}/{r.name}"
        if p.stem not in expected:
            names = ", ".join(e + ".ipynb" for e in expected)
            warnings.append(f"{rel}: unexpected notebook, ignored (expected {names})")
            continue
        try:
            text = read_bounded(p, NOTEBOOK_LIMIT).decode("utf-8")
        except UnsafeFile as e:
            problems.append(f"{rel}: {e.reason}")
            continue
        except UnicodeDecodeError as e:
            problems.append(f"{rel}: not UTF-8 text (bad byte at offset {e.start})")
            continue
        try:
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
        except Exception as e:  # noqa: BLE001 - JSON or schema errors
            problems.append(f"{rel}: not a valid notebook ({str(e).strip().splitlines()[0][:160]})")
            continue
        warnings += [f"{rel}: {note}" for note in _edited_cells(nb, folder.name, p.stem)]
    refused = {rel for rel, _ in walk.problems}
    for name in expected:
        want = PurePosixPath(f"{name}.ipynb")
        if want not in walk.files and want not in refused:  # a refused one is flagged already
            problems.append(f"{base}/{name}.ipynb is missing")
    return problems, warnings


def _record_zero(settings: Settings, assignment: str, student: str) -> None:
    """Record a submission with no points (nbgrader counts a grade with no score as 0)."""
    with Gradebook(settings.db, COURSE_ID) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.manual_score = None
        gb.db.commit()


def _read_scores(settings: Settings, outs: list[Outcome]) -> None:
    """Each submission's total and maximum, as the gradebook has them now."""
    with Gradebook(settings.db, COURSE_ID) as gb:
        for out in outs:
            try:
                s = gb.find_submission(out.assignment, out.student)
            except MissingEntry:
                continue
            out.score, out.max_score = float(s.score), float(s.max_score)


def find_submissions(
    settings: Settings, assignments: list[str] | None, students: list[str] | None
) -> list[tuple[str, str]]:
    root = settings.workdir / "submitted"
    known = notebooks_by_assignment()
    chosen = assignments or list(known)
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise CourseError(f"unknown assignment(s) {', '.join(unknown)}; solutions/ has {', '.join(known)}")
    if not root.is_dir():
        raise CourseError(f"{root} does not exist: run `course collect` first")
    found = []
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()):
        if students and sdir.name not in students:
            continue
        for a in chosen:
            if (sdir / a).is_dir():
                found.append((sdir.name, a))
    return found


def autograde(
    settings: Settings,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> list[Outcome]:
    """Grade the chosen submissions; return one :class:`Outcome` per submission.

    The three phases overlap: a submission goes to a worker as soon as it is prepared, and
    is scored as soon as all its notebooks have run, while the next ones are prepared. So
    the workers never wait for the whole class to be prepared, and a run that is stopped
    keeps everything it finished.
    """
    known = notebooks_by_assignment()
    pairs = find_submissions(settings, assignments, students)
    if settings.sandbox:
        if not settings.warm:
            raise CourseError("the sandbox needs warm kernels: drop --cold, or add --no-sandbox")
        reason = sandbox_check(settings.workdir)
        if reason:
            raise CourseError(
                f"{reason}. Grading refuses to run student code unsandboxed; "
                f"pass --no-sandbox to do it anyway (the report records it)"
            )
    for a in sorted({a for _, a in pairs}):
        ensure_in_gradebook(settings, a)
    outcomes = {key: Outcome(*key) for key in pairs}
    remaining: dict[tuple[str, str], int] = {}  # notebooks still running, per submission
    fingerprints: dict[tuple[str, str], dict] = {}  # the files each running submission was prepared from

    def finished(key, result: ExecResult) -> None:
        out = outcomes[key]
        out.seconds += result.seconds
        if result.problem:
            out.problems.append(f"{Path(result.path).name}: {result.problem}")
        out.suspicious += [f"{Path(result.path).name}: {s}" for s in result.suspicious]
        remaining[key] -= 1
        if remaining[key] == 0:
            _score(settings, out, fingerprints.pop(key))
            bar.update(1)

    with _bar(len(pairs), progress) as bar, _Runner(settings) as runner:
        for key in pairs:
            fingerprint = _fingerprint(settings.workdir / "submitted" / key[0] / key[1], settings)
            paths = _prepare(settings, outcomes[key], known[key[1]], fingerprint, force)
            if not paths:
                bar.update(1)
                continue
            remaining[key], fingerprints[key] = len(paths), fingerprint
            for path in paths:
                runner.submit(key, path)
            for done in runner.ready():
                finished(*done)
        for done in runner.rest():
            finished(*done)
    _read_scores(settings, list(outcomes.values()))
    result = list(outcomes.values())
    _write_report(settings, result)
    return result


def _prepare(settings: Settings, out: Outcome, notebooks: list[str], fingerprint: dict, force: bool) -> list[str]:
    """Check and sanitise one submission (submitted/ -> autograded/); return the notebooks
    to execute, none if it is unchanged since it was graded (same ``fingerprint``) or cannot
    be graded."""
    t0 = time.monotonic()
    student, assignment = out.student, out.assignment
    src = settings.workdir / "submitted" / student / assignment
    dest = settings.workdir / "autograded" / student / assignment
    if not force and _read_marker(_marker_path(settings, student, assignment)) == fingerprint:
        out.status = "skipped"
        return []
    problems, warnings = _check_notebooks(src, notebooks)
    out.problems += warnings + problems
    if problems:
        shutil.rmtree(dest, ignore_errors=True)
    else:
        try:
            _run_converter(Prepare, settings, assignment, student)
        except CourseError as e:
            problems = [f"could not be prepared: {e}"]
            out.problems += problems
    out.seconds += time.monotonic() - t0
    if problems:
        out.status = "flagged"
        _record_zero(settings, assignment, student)
        return []
    return [str(dest / f"{name}.ipynb") for name in notebooks]


def _score(settings: Settings, out: Outcome, fingerprint: dict) -> None:
    """nbgrader's scoring of one executed submission, then the marker that says it is done
    (with the ``fingerprint`` of the files it was prepared from)."""
    t0 = time.monotonic()
    try:
        _run_converter(Score, settings, out.assignment, out.student)
    except CourseError as e:
        out.status, out.problems = "flagged", out.problems + [f"could not be scored: {e}"]
        _record_zero(settings, out.assignment, out.student)
        return
    if out.problems or out.suspicious:
        out.status = "flagged"
    marker = _marker_path(settings, out.student, out.assignment)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, json.dumps(fingerprint).encode(), mode=0o600)
    out.seconds += time.monotonic() - t0


class _Runner:
    """Executes notebooks: in this process (``--jobs 1``), in ``settings.jobs`` worker
    processes, or as Dask tasks on a cluster (``settings.cluster``). ``submit`` hands a
    notebook over; ``ready`` returns the ``(key, ExecResult)`` pairs finished so far without
    waiting; ``rest`` waits for the others. Only execution runs in the workers: the
    gradebook is written in this process, by one writer."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.args = (
            settings.cell_timeout,
            settings.notebook_timeout,
            settings.device,
            settings.warm,
            str(settings.workdir) if settings.sandbox else None,
            settings.secret,
        )
        self.pending: dict = {}  # future -> key
        self.finished: list = []  # results of the in-process mode
        self.pool = self.client = self.cluster = None
        self._n = 0

    def __enter__(self):
        s = self.settings
        if s.cluster:
            import dask
            from distributed import Client, LocalCluster

            # Workers start the warm fork server as a child process: they must not be daemonic.
            with dask.config.set({"distributed.worker.daemon": False}):
                if s.cluster == "local":
                    self.cluster = LocalCluster(
                        n_workers=max(1, s.jobs), threads_per_worker=1, processes=True, dashboard_address=None
                    )
                    self.client = Client(self.cluster)
                else:
                    self.client = Client(s.cluster)
        elif s.jobs > 1:
            self.pool = cf.ProcessPoolExecutor(max_workers=s.jobs, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def submit(self, key, path: str) -> None:
        if self.client is not None:
            self._n += 1
            fut = self.client.submit(
                _safe_execute, path, *self.args, pure=False, key=f"grade-{self._n}-{Path(path).name}"
            )
        elif self.pool is not None:
            fut = self.pool.submit(_safe_execute, path, *self.args)
        else:
            self.finished.append((key, _safe_execute(path, *self.args)))
            return
        self.pending[fut] = key

    def ready(self) -> list:
        done, self.finished = self.finished, []
        for fut in [f for f in self.pending if f.done()]:
            done.append((self.pending.pop(fut), fut.result()))
        return done

    def rest(self):
        yield from self.ready()
        if self.client is not None:
            from distributed import as_completed
        else:
            as_completed = cf.as_completed
        for fut in as_completed(list(self.pending)):
            yield self.pending.pop(fut), fut.result()


def _safe_execute(path: str, *args) -> ExecResult:
    try:
        return execute_notebook(path, *args)
    except Exception as e:  # noqa: BLE001 - never let one notebook stop the run
        return ExecResult(path, 0.0, f"could not be executed: {type(e).__name__}: {e}")


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="submission", disable=not enabled or total == 0)


def _write_report(settings: Settings, outcomes: list[Outcome]) -> None:
    report = {
        "device": settings.device,
        "sandbox": "on" if settings.sandbox else "OFF (--no-sandbox)",
        "submissions": [asdict(o) for o in outcomes],
    }
    (settings.workdir / "autograde-report.json").write_text(json.dumps(report, indent=1))


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of the run: one line per submission, then flagged ones and why."""
    lines = [f"{'student':<20} {'assignment':<10} {'score':>11} {'time':>7}  status"]
    for o in sorted(outcomes, key=lambda o: (o.assignment, o.student)):
        lines.append(
            f"{o.student:<20} {o.assignment:<10} {o.score:>5g} / {o.max_score:<3g} {o.seconds:>6.1f}s  {o.status}"
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "flagged", "skipped")}
    lines.append(
        f"{counts['graded']} graded, {counts['flagged']} flagged, "
        f"{counts['skipped']} already graded (unchanged; --force regrades)"
    )
    flagged = [o for o in outcomes if o.problems]
    if flagged:
        lines.append("Problems:")
        for o in flagged:
            for p in o.problems:
                lines.append(f"  {o.student}/{o.assignment}: {p}")
    suspicious = [o for o in outcomes if o.suspicious]
    if suspicious:
        lines.append("Suspicious (evidence of tampering, for the instructor; see autograde-report.json):")
        for o in suspicious:
            lines += [f"  {o.student}/{o.assignment}: {s}" for s in o.suspicious[:10]]
            if len(o.suspicious) > 10:
                lines.append(f"  {o.student}/{o.assignment}: ... and {len(o.suspicious) - 10} more")
    return "\n".join(lines)
