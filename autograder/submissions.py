"""What is in a submission folder, checked before nbgrader copies it as root, and the grader's
record of which files a submission was graded from.

Everything is read through :mod:`autograder.safeio`: no link is followed and no read is
unbounded, since a student controls these files.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path, PurePosixPath

import nbformat

from .config import EXERCISES, Settings, notebooks_by_assignment
from .release import CourseError
from .safeio import NOTEBOOK_LIMIT, UnsafeFile, read_bounded, size_text, walk_regular

# The record that a submission was graded with a given fingerprint lives at
# WORKDIR/MARKER/<student>/<assignment>.json: a folder only the grader writes (the sandbox
# hides the whole working folder), never inside autograded/, which a kernel can write into.
MARKER = Path(".course", "graded")


def fingerprint_of(folder: Path, settings: Settings) -> dict:
    """What a submission's files are (sha256 of each) and the device, so an unchanged one is
    not regraded. Read through :mod:`safeio`: no link is followed and no file is read past
    :data:`NOTEBOOK_LIMIT`; a link, FIFO or oversized file is recorded by its refusal (such
    a submission is flagged by :func:`check_notebooks` anyway)."""
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


def marker_path(settings: Settings, student: str, assignment: str) -> Path:
    """Where the grader records that (student, assignment) was graded: see :data:`MARKER`."""
    return settings.workdir / MARKER / student / f"{assignment}.json"


def read_marker(path: Path) -> dict | None:
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
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if _restored(c.metadata.get("nbgrader", {}))}


def _restored(meta: dict) -> bool:
    """A cell nbgrader restores from the source when grading: locked cells and test cells, not
    answers (a manually graded answer is the student's to write)."""
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


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


def check_notebooks(folder: Path, expected: list[str]) -> tuple[list[str], list[str]]:
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
    present = sorted(p for p in root.iterdir() if p.is_dir())
    missing = sorted(set(students or ()) - {p.name for p in present})
    if missing:
        raise CourseError(f"no submissions for student(s) {', '.join(missing)} in {root}")
    for sdir in present:
        if students and sdir.name not in students:
            continue
        for a in chosen:
            if (sdir / a).is_dir():
                found.append((sdir.name, a))
    return found
