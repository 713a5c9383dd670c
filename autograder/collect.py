"""``course collect``: student notebooks from a folder or a zip into nbgrader's ``submitted/`` layout.

Accepted layouts (the notebook name must be one of the course's, e.g. ``ch01.ipynb``):

- ``<student>/<assignment>/<notebook>.ipynb`` (nbgrader's own layout);
- ``<student>/<notebook>.ipynb`` (one folder per student);
- flat files named by a learning-management system: ``<student>_<anything>_<notebook>.ipynb``
  or ``<student>_<notebook>.ipynb`` (the student is the text before the first ``_``): Canvas
  (``jsmith_12345_67890_ch01.ipynb``), Moodle (``Jane Smith_1009_assignsubmission_file_ch01.ipynb``,
  or a folder ``Jane Smith_1009_assignsubmission_file_/ch01.ipynb``) and Blackboard
  (``Assignment_jsmith_attempt_2026-11-20-10-30-00_ch01.ipynb``, whose time is used);
- renamed copies of a notebook: ``ch01-1.ipynb`` (Canvas), ``ch01 (1).ipynb`` (browsers).

Student names that are not ids (Moodle's full names, emails) are mapped through a roster CSV
(``--roster``: columns ``id``, ``name``, ``email``). Of several copies of one student's
notebook the newest is kept and the others are listed with their times; a copy older than the
one collected before replaces it only with ``--force``. Every other file is listed as not
collected with the reason; nothing is guessed.

Everything in the folder or zip is a student's and is treated as hostile
(:mod:`autograder.safeio`): symbolic links, FIFOs, devices, files over 50 MB, zip members
with absolute or ``..`` paths, link members, zips with too many members or too much data,
and members that inflate past their declared size are listed as not collected with the
reason, nothing is written for them, and the other files are still collected.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .config import Settings, notebooks_by_assignment
from .release import CourseError
from .safeio import NOTEBOOK_LIMIT, UnsafeFile, extract_zip, read_bounded, walk_regular, write_atomic

_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.@+\-]*$")
_IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store"}


@dataclass
class CollectResult:
    collected: list[tuple[str, str, str]] = field(default_factory=list)  # student, assignment, source
    unmatched: list[tuple[str, str]] = field(default_factory=list)  # source, why


_COPY = re.compile(r"^(?P<stem>.+?)(?:-\d{1,3}| ?\(\d{1,3}\))$")  # ch01-1 (Canvas), ch01 (1) (browsers)
_ATTEMPT = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$")  # Blackboard's attempt time


class RosterRow(NamedTuple):
    id: str
    name: str
    email: str


def roster_rows(path: Path) -> list[RosterRow]:
    """The students of a roster CSV with the columns ``id`` and ``name`` (``email`` optional)."""
    import csv

    try:
        text = read_bounded(path, 16 << 20).decode("utf-8-sig")
    except (UnsafeFile, UnicodeDecodeError) as e:
        raise CourseError(f"roster {path}: {getattr(e, 'reason', e)}") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "id" not in rows[0] or "name" not in rows[0]:
        raise CourseError(f"roster {path}: expected a CSV file with the columns id, name (and email)")
    out = []
    for row in rows:
        sid = (row.get("id") or "").strip()
        if not _STUDENT.match(sid):
            raise CourseError(f"roster {path}: {sid!r} is not a usable student id")
        out.append(RosterRow(sid, " ".join((row.get("name") or "").split()), (row.get("email") or "").strip()))
    return out


def read_roster(path: Path) -> dict[str, str]:
    """Every name, email and id of a roster, lowered and with single spaces, to the student id."""
    roster: dict[str, str] = {}
    for row in roster_rows(path):
        for key in row:
            if key:
                roster[" ".join(key.split()).lower()] = row.id
    return roster


def _student(token: str, roster: dict[str, str]) -> str | None:
    """The student id a name token stands for: through the roster if there is one, else the
    token itself when it is a usable id."""
    if roster:
        return roster.get(" ".join(token.split()).lower())
    return token if _STUDENT.match(token) else None


def _notebook(stem: str, nb_to_assignments: dict) -> str | None:
    """The course notebook a file stem names, a renamed copy (``ch01-1``, ``ch01 (1)``) included."""
    if stem in nb_to_assignments:
        return stem
    m = _COPY.match(stem)
    return m.group("stem") if m and m.group("stem") in nb_to_assignments else None


def match(
    rel: PurePosixPath, nb_to_assignments: dict[str, list[str]], roster: dict[str, str] | None = None
) -> tuple[str, str, str] | str:
    """(student, assignment, notebook) for a file's path relative to the collected root, or why
    not. A notebook name that several assignments share needs its assignment in the path (the
    ``<student>/<assignment>/`` layout, or a flat name that contains the assignment id)."""
    roster = roster or {}
    if rel.suffix != ".ipynb":
        return "not a notebook (.ipynb)"
    notebook = _notebook(rel.stem, nb_to_assignments)
    if notebook is not None:
        return _in_folders(rel, notebook, nb_to_assignments[notebook], roster)
    tokens = rel.stem.split("_")
    notebook = _notebook(tokens[-1], nb_to_assignments) if len(tokens) >= 2 else None
    if notebook is None:
        known = ", ".join(sorted(n + ".ipynb" for n in nb_to_assignments))
        return f"no known notebook name in {rel.name} (expected one of {known})"
    # Blackboard: <assignment>_<student>_attempt_<time>_<file>; the others: <student>_..._<file>
    who = tokens[1] if len(tokens) >= 4 and tokens[2] == "attempt" else tokens[0]
    student = _student(who, roster)
    if student is None:
        why = "is not on the roster" if roster else "is not a usable student id (give a roster: --roster FILE)"
        return f"flat name {rel.name}: {who!r} {why}"
    owners = nb_to_assignments[notebook]
    named = [a for a in owners if a in tokens[1:-1]]
    if len(owners) == 1 or len(named) == 1:
        return student, (named or owners)[0], notebook
    owned = ", ".join(owners)
    return f"flat name {rel.name}: {notebook}.ipynb belongs to {owned}; put the assignment id in the name"


def _in_folders(
    rel: PurePosixPath, notebook: str, owners: list[str], roster: dict[str, str]
) -> tuple[str, str, str] | str:
    parts = rel.parts
    if len(parts) >= 3 and parts[-2] in owners:
        student = _student(parts[-3], roster)
        if student:
            return student, parts[-2], notebook
    if len(parts) == 2:
        # a folder per student; Moodle names it <Full Name>_<number>_assignsubmission_file_
        student = _student(parts[0], roster) or _student(parts[0].split("_")[0], roster)
        if student is None:
            why = "not on the roster" if roster else "not a usable student id (give a roster: --roster FILE)"
            return f"folder {parts[0]!r} of {rel.name}: {why}"
        if len(owners) == 1:
            return student, owners[0], notebook
        return f"{rel.name} belongs to {', '.join(owners)}: put it in {parts[0]}/<assignment>/"
    return f"named {rel.name} but not inside a student folder"


def attempt_time(rel: PurePosixPath) -> datetime | None:
    """The submission time Blackboard writes into a flat name, if any."""
    tokens = rel.stem.split("_")
    if len(tokens) >= 5 and tokens[2] == "attempt" and _ATTEMPT.match(tokens[3]):
        return datetime.strptime(tokens[3], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=timezone.utc)
    return None


def _sources(source: Path, tmp: Path, result: CollectResult) -> tuple[Path, list[PurePosixPath], dict]:
    """The folder to match files in, its regular files (relative paths), and each file's
    time in the archive (by relative path).

    A zip is extracted into ``tmp`` by :func:`safeio.extract_zip`, which refuses links,
    escaping paths, oversized members and zip bombs; a folder is listed by
    :func:`safeio.walk_regular`, which follows no link. Every refused entry goes to
    ``result.unmatched`` with its reason, and the rest are still collected."""
    try:
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise CourseError(f"{source} is neither a folder nor a readable zip file")
            extracted = extract_zip(source, tmp)
            result.unmatched += extracted.refused
            root, times = tmp, extracted.files
        elif source.is_dir():
            root, times = source, {}
        else:
            raise CourseError(f"{source} is neither a folder nor a zip file")
        walk = walk_regular(root)
    except UnsafeFile as e:
        raise CourseError(str(e)) from None

    def keep(rel: PurePosixPath) -> bool:
        return not set(rel.parts) & _IGNORED

    result.unmatched += [(str(rel), why) for rel, why in walk.problems if keep(rel)]
    return root, [rel for rel in walk.files if keep(rel)], times


def collect(settings: Settings, source: Path, roster: Path | None = None, force: bool = False) -> CollectResult:
    """Copy every matched notebook of ``source`` (a folder or a zip) into ``submitted/``.

    The path given is the instructor's and is resolved; nothing inside it is trusted: links,
    FIFOs, devices, files over :data:`safeio.NOTEBOOK_LIMIT` and unsafe zip members are
    listed as not collected, and nothing is written for them. With a ``roster`` (CSV: id, name,
    email) names and emails in file names are mapped to student ids. Of several copies of one
    student's notebook the newest is kept; a copy older than the one already collected replaces
    it only with ``force``."""
    source = Path(source)
    if not source.exists():
        raise CourseError(f"{source} does not exist")
    source = source.resolve()
    names = read_roster(Path(roster)) if roster else {}
    nb_to_assignments: dict[str, list[str]] = {}
    for a, nbs in notebooks_by_assignment().items():
        for nb in nbs:
            nb_to_assignments.setdefault(nb, []).append(a)
    result = CollectResult()
    with tempfile.TemporaryDirectory() as tmp:
        root, files, times = _sources(source, Path(tmp), result)
        matched: dict[tuple[str, str, str], list[PurePosixPath]] = {}
        for rel in files:
            m = match(rel, nb_to_assignments, names)
            if isinstance(m, str):
                result.unmatched.append((str(rel), m))
                continue
            matched.setdefault(m, []).append(rel)
        for key, rels in sorted(matched.items()):
            when = {rel: _time(root, rel, times) for rel in rels}
            newest = _newest(key, when, result)
            if newest is not None:
                _store(settings, root, newest, key, when[newest], result, force)
    return result


def _time(root: Path, rel: PurePosixPath, times: dict) -> datetime | None:
    """When a file was submitted: Blackboard's attempt time, else its time in the zip, else its
    modification time (read without following links)."""
    try:
        return (
            attempt_time(rel)
            or times.get(rel)
            or datetime.fromtimestamp(os.lstat(root.joinpath(*rel.parts)).st_mtime, timezone.utc)
        )
    except OSError:
        return None


def _stamp(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "unknown time"


def _newest(key: tuple[str, str, str], when: dict, result: CollectResult) -> PurePosixPath | None:
    """Of several copies of one student's notebook, the newest; the others are listed as not
    collected, with their times. Copies with the same time (or none) are all refused."""
    rels = list(when)
    if len(rels) == 1:
        return rels[0]
    student, _, notebook = key
    ranked = sorted(rels, key=lambda r: (when[r] is not None, when[r] or datetime.min.replace(tzinfo=timezone.utc)))
    best = ranked[-1]
    if when[best] is None or any(when[r] == when[best] for r in ranked[:-1]):
        for rel in rels:
            result.unmatched.append(
                (str(rel), f"{len(rels)} files for {student}/{notebook}.ipynb with the same time; keep one")
            )
        return None
    for rel in ranked[:-1]:
        kept = f"kept {best} ({_stamp(when[best])})"
        result.unmatched.append(
            (str(rel), f"an older copy ({_stamp(when[rel])}) of {student}/{notebook}.ipynb: {kept}")
        )
    return best


def _collected_time(folder: Path) -> datetime | None:
    """The time recorded for the copy already collected in ``folder``, if any."""
    try:
        text = read_bounded(folder / "timestamp.txt", 4096).decode().strip()
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=timezone.utc)
    except (UnsafeFile, UnicodeDecodeError, ValueError):
        return None


def _store(
    settings: Settings,
    root: Path,
    rel: PurePosixPath,
    key: tuple[str, str, str],
    when: datetime | None,
    result: CollectResult,
    force: bool = False,
) -> None:
    """Read one matched notebook (bounded, no link followed) and write it, with its time,
    into ``submitted/<student>/<assignment>/``; a refused file writes nothing at all, and a
    copy older than the one already there replaces it only with ``force``."""
    student, assignment, notebook = key
    path = root.joinpath(*rel.parts)
    dest = settings.workdir / "submitted" / student / assignment
    before = _collected_time(dest)
    if not force and before and when and when < before and (dest / f"{notebook}.ipynb").exists():
        result.unmatched.append(
            (
                str(rel),
                f"older ({_stamp(when)}) than the copy already collected ({_stamp(before)}); --force replaces it",
            )
        )
        return
    try:
        data = read_bounded(path, NOTEBOOK_LIMIT)
    except UnsafeFile as e:
        result.unmatched.append((str(rel), e.reason))
        return
    when = when or datetime.now(timezone.utc)
    dest.mkdir(parents=True, exist_ok=True)
    write_atomic(dest / f"{notebook}.ipynb", data)
    write_atomic(dest / "timestamp.txt", when.strftime("%Y-%m-%d %H:%M:%S.%f UTC").encode())
    result.collected.append((student, assignment, str(rel)))
