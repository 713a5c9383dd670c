"""Hostile submissions (tests/attacks_corpus.py) graded end to end in one class: no trick earns a point.

One ``course autograde`` run grades, beside an honest and a blank student per assignment,
every attack of the corpus: a wrong, blank or forbidden answer plus a trick meant to make
it pass (forged outputs, values judged from the student's process, the forbidden-routine
check switched off, stolen secrets, links and files, processes, shared state, bounds).
Then, for each attack: the attacked items score 0, every other item scores what the honest
student's does (or, where the trick stays in force for the rest of the notebook, 0 with the
submission flagged or reported suspicious), tampering is reported as suspicious. And for the run: the gradebook is
intact, nothing outside the attackers' own kernels changed, no sandboxed process survives,
the grading secret is written nowhere and the notebook time limit is a wall.
"""
from __future__ import annotations

import compileall
import hashlib
import json
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from autograder.config import REPO, SOLUTIONS, Settings
from autograder.export import item_grades
from autograder.feedback import feedback
from autograder.grade import autograde
from autograder.synthetic import submission, write_submission
from tests.attacks_corpus import (ALL, ASSIGNMENTS, ATTACKS, CONTROLS, EVERYONE, PLANTED,
                                  SLEEP_SECONDS, SLEEPER_CELLS, Attack)

SEED = "s3cret-attack-seed-7"
NOBODY = 65534
CELL_TIMEOUT, NOTEBOOK_TIMEOUT, JOBS = 20, 120, 2
REPO_TREES = ("solutions", "exercises", "convcourse", "autograder")
SLEEPER = next(a for a in ATTACKS if a.mutate is not None and a.mutate.__name__ == "_sleeping_cells")
# The run ends near the notebook limit: the sleeper (graded first, its student id sorts first)
# holds one worker for the limit while the other worker grades everyone else (about 150 s of
# notebooks in all, so the run is about 140 s: measured). Start-up and scoring add seconds. A limit that is not
# a wall lets the sleeper run all its cells: 400 x 0.6 s = 240 s, over this bound.
WALL_BOUND = NOTEBOOK_TIMEOUT + 80
assert SLEEPER_CELLS * SLEEP_SECONDS > WALL_BOUND + 30


def _points(assignment: str) -> dict[str, float]:
    nb = nbformat.read(str(SOLUTIONS / assignment / f"{assignment}.ipynb"), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


POINTS = {a: _points(a) for a in ASSIGNMENTS}
BASELINE = [(s, a) for a in ASSIGNMENTS for s in ("honest", "blank")]


def _fill(text: str, work: Path) -> str:
    return (text.replace("@WORK@", str(work)).replace("@REPO@", str(REPO))
            .replace("@GRADER_PID@", str(os.getpid())))


def _write(work: Path, attack: Attack) -> None:
    replace = {k: _fill(v, work) for k, v in attack.replace.items()}
    nb = submission(attack.assignment, blank=attack.blank, replace=replace)
    if attack.mutate is not None:
        attack.mutate(nb)
        for cell in nb.cells:
            cell.source = _fill(cell.source, work)
    path = write_submission(work, attack.student, attack.assignment, nb)
    if attack.plant is not None:
        attack.plant(path.parent, work)


def _hashes(root: Path) -> dict[str, str]:
    """Every file under ``root``: its SHA-256, or where a symbolic link points."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _status(pid: str) -> dict[str, str]:
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _sandboxed(work: Path) -> list[str]:
    """Live processes of user nobody that belong to this grading run (their folder or their
    environment names its working folder: other runs on a shared machine are not ours)."""
    mark, found = str(work), []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            st = _status(pid)
            if st["Uid"].split()[0] != str(NOBODY) or st["State"].startswith("Z"):
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
            env = open(f"/proc/{pid}/environ", "rb").read()
        except (OSError, KeyError):
            continue
        if mark in cwd or mark.encode() in env:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid} ({st.get('Name')}, cwd {cwd}): {cmd[:120]}")
    return found


def _host_plants() -> list[Path]:
    """What tricks may have left outside the grader's folders, on this machine."""
    import site
    places = [Path("/dev/shm"), Path("/tmp")] + [Path(d) for d in site.getsitepackages()]
    places += [REPO / d for d in REPO_TREES] + [REPO / d / "__pycache__" for d in REPO_TREES]
    places += [REPO / "convcourse" / "grading" / "__pycache__", REPO / "solutions" / "ch01"]
    return [p for d in places if d.is_dir() for p in d.iterdir() if PLANTED in p.name]


def _remove(paths) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass


def _containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            if needle in name.encode():
                hits.append(f"{p} (its name)")
            if p.is_file() and not p.is_symlink():
                with p.open("rb") as f:
                    tail = b""
                    while chunk := f.read(16 << 20):
                        if needle in tail + chunk:
                            hits.append(str(p))
                            break
                        tail = chunk[-len(needle):]
    return hits


@dataclass
class Run:
    work: Path
    settings: Settings
    wall: float
    error: str | None                                    # autograde raised
    outcomes: dict = field(default_factory=dict)         # (student, assignment) -> Outcome
    scores: dict = field(default_factory=dict)           # (student, assignment) -> {item: score}
    max_scores: dict = field(default_factory=dict)       # (student, assignment) -> {item: max_score}
    scores_error: str | None = None
    feedback_error: str | None = None
    report: dict | None = None
    before: dict = field(default_factory=dict)           # tree -> {file: hash} before the run
    after: dict = field(default_factory=dict)
    survivors: list = field(default_factory=list)        # sandboxed processes alive after the run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("attacks")
    _remove(_host_plants())
    for tree in REPO_TREES:  # so that importing the course during the run writes no .pyc of its own
        compileall.compile_dir(str(REPO / tree), quiet=2)
    for assignment in ASSIGNMENTS:
        write_submission(work, "honest", assignment, submission(assignment))
        write_submission(work, "blank", assignment, submission(assignment, blank=True))
    for attack in EVERYONE:
        _write(work, attack)
    trees = {"submitted": work / "submitted", **{t: REPO / t for t in REPO_TREES}}
    before = {name: _hashes(root) for name, root in trees.items()}
    settings = Settings(work, cell_timeout=CELL_TIMEOUT, notebook_timeout=NOTEBOOK_TIMEOUT, jobs=JOBS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_GRADING_SEED", SEED)
        mp.setenv("COURSE_DEVICE", "cpu")
        t0 = time.monotonic()
        try:
            outcomes, error = autograde(settings, list(ASSIGNMENTS), progress=False), None
        except Exception as e:  # noqa: BLE001 - reported by test_the_run_completes
            outcomes, error = [], f"{type(e).__name__}: {e}"
        wall = time.monotonic() - t0
    survivors = _sandboxed(work)
    for _ in range(30):  # a killed process may take a moment to disappear
        if not survivors:
            break
        time.sleep(0.1)
        survivors = _sandboxed(work)
    r = Run(work, settings, wall, error, outcomes={(o.student, o.assignment): o for o in outcomes},
            before=before, survivors=survivors)
    try:
        for g in item_grades(settings):
            r.scores.setdefault((g.student, g.assignment), {})[g.item] = g.score
            r.max_scores.setdefault((g.student, g.assignment), {})[g.item] = g.max_score
    except Exception as e:  # noqa: BLE001
        r.scores_error = f"{type(e).__name__}: {e}"
    try:
        feedback(settings)
    except Exception as e:  # noqa: BLE001
        r.feedback_error = f"{type(e).__name__}: {e}"
    try:
        r.report = json.loads((work / "autograde-report.json").read_text())
    except (OSError, ValueError):
        pass
    r.after = {name: _hashes(root) for name, root in trees.items()}
    yield r
    for line in _sandboxed(work):  # what escaped this run's kernels: ours to end, by pid
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except OSError:
            pass
    _remove(_host_plants())
    _remove(p for p in work.rglob(f"{PLANTED}-big-*"))


def _scores(run: Run, student: str, assignment: str) -> dict:
    assert run.error is None, f"autograde raised: {run.error}"
    assert run.scores_error is None, f"the gradebook could not be read: {run.scores_error}"
    assert (student, assignment) in run.scores, f"no grades for {student}/{assignment}"
    return run.scores[(student, assignment)]


def _suspicious(run: Run, student: str, assignment: str) -> tuple[list | None, list | None]:
    """The suspicious lists of the Outcome and of the report's entry (None where missing)."""
    o = run.outcomes.get((student, assignment))
    from_outcome = getattr(o, "suspicious", None)
    from_report = None
    for entry in (run.report or {}).get("submissions", []):
        if (entry.get("student"), entry.get("assignment")) == (student, assignment):
            from_report = entry.get("suspicious")
    return from_outcome, from_report


def _attacked(attack: Attack) -> set[str]:
    return set(POINTS[attack.assignment]) if attack.attacks == ALL else set(attack.attacks)


TARGETED = [a for a in ATTACKS if a.attacks]
ids = (lambda a: a.id)


# --- the run -------------------------------------------------------------------------------

def test_the_run_completes_and_grades_everyone(run):
    assert run.error is None, run.error
    expected = set(BASELINE) | {(a.student, a.assignment) for a in EVERYONE}
    assert set(run.outcomes) == expected
    assert run.scores_error is None, run.scores_error
    assert run.feedback_error is None, run.feedback_error
    assert run.report is not None, "work/autograde-report.json is missing or unreadable"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_student_gets_full_marks(run, assignment):
    assert _scores(run, "honest", assignment) == POINTS[assignment]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_student_gets_nothing(run, assignment):
    assert _scores(run, "blank", assignment) == {item: 0.0 for item in POINTS[assignment]}


# --- each attack ---------------------------------------------------------------------------

@pytest.mark.parametrize("attack", TARGETED, ids=ids)
def test_attacked_items_score_zero(run, attack):
    got = _scores(run, attack.student, attack.assignment)
    assert {item: got.get(item) for item in _attacked(attack)} == {item: 0.0 for item in _attacked(attack)}


@pytest.mark.parametrize("attack", EVERYONE, ids=ids)
def test_other_items_score_as_the_honest_students(run, attack):
    got = _scores(run, attack.student, attack.assignment)
    honest = _scores(run, "honest", attack.assignment)
    others = sorted(set(POINTS[attack.assignment]) - _attacked(attack))
    expected = {i: honest[i] for i in others}
    o = run.outcomes[(attack.student, attack.assignment)]
    if o.suspicious and set(got.values()) == {0}:
        # Code that reaches into grading itself (sys.modules, gc, frames, ctypes, the dispatch
        # machinery, the grader's modules) fails every item: nothing the kernel sends back can
        # be trusted from then on. That is allowed only with the evidence on record.
        return
    if not attack.strict:
        # A trick that stays in force (or a tampered structure) may cost other items too, but
        # only with the reason on record: the submission flagged or reported suspicious.
        if o.status == "flagged" or o.suspicious:
            expected = {i: got.get(i) if got.get(i) == 0 else honest[i] for i in others}
    assert {i: got.get(i) for i in others} == expected


@pytest.mark.parametrize("student,assignment", BASELINE + [(a.student, a.assignment) for a in EVERYONE],
                         ids=[f"{s}/{a}" for s, a in BASELINE] + [a.id for a in EVERYONE])
def test_items_and_points_are_the_solutions(run, student, assignment):
    _scores(run, student, assignment)
    assert run.max_scores[(student, assignment)] == POINTS[assignment]
    o = run.outcomes[(student, assignment)]
    assert (o.score, o.max_score) == (sum(run.scores[(student, assignment)].values()),
                                      sum(POINTS[assignment].values()))


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.suspicious], ids=ids)
def test_tampering_is_reported_as_suspicious(run, attack):
    from_outcome, from_report = _suspicious(run, attack.student, attack.assignment)
    assert isinstance(from_outcome, list) and from_outcome, f"Outcome.suspicious is {from_outcome!r}"
    assert isinstance(from_report, list) and from_report, f"the report's suspicious is {from_report!r}"
    assert all(isinstance(line, str) and line.strip() and "\n" not in line for line in from_outcome), \
        from_outcome


@pytest.mark.parametrize("student,assignment", BASELINE + [(a.student, a.assignment) for a in CONTROLS])
def test_honest_work_is_not_suspicious(run, student, assignment):
    from_outcome, from_report = _suspicious(run, student, assignment)
    assert from_outcome == [] and from_report == [], (from_outcome, from_report)


# --- what the run left behind --------------------------------------------------------------

def test_gradebook_is_intact(run):
    db = run.work / "gradebook.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = set(con.execute("SELECT s.student_id, a.name FROM submitted_assignment s "
                               "JOIN assignment a ON a.id = s.assignment_id").fetchall())
    expected = set(BASELINE) | {(a.student, a.assignment) for a in EVERYONE}
    assert expected - rows == set()


def test_submitted_files_are_unchanged(run):
    assert run.after["submitted"] == run.before["submitted"]


@pytest.mark.parametrize("tree", REPO_TREES)
def test_repository_is_unchanged(run, tree):
    assert run.after[tree] == run.before[tree]


def test_nothing_planted_reaches_the_grader_or_the_machine(run):
    planted = [str(p) for p in run.work.rglob(f"*{PLANTED}*")] + [str(p) for p in _host_plants()]
    assert planted == []


def test_no_sandboxed_process_survives_the_run(run):
    assert run.survivors == []


def test_the_grading_seed_is_written_nowhere(run):
    assert _containing(run.work, SEED.encode()) == []


def test_the_notebook_limit_is_a_wall(run):
    sleeper = run.outcomes.get((SLEEPER.student, SLEEPER.assignment))
    assert sleeper is not None
    print(f"autograde took {run.wall:.0f} s; the sleeper's notebook {sleeper.seconds:.0f} s")
    assert sleeper.seconds < NOTEBOOK_TIMEOUT + 15, f"the sleeper's notebook ran {sleeper.seconds:.0f} s"
    assert run.wall < WALL_BOUND, f"the whole run took {run.wall:.0f} s"
