"""``course collect``: student notebooks from a folder or a zip into nbgrader's ``submitted/`` layout.

Accepted layouts (the notebook name must be one of the course's, e.g. ``ch01.ipynb``):

- ``<student>/<assignment>/<notebook>.ipynb`` (nbgrader's own layout);
- ``<student>/<notebook>.ipynb`` (one folder per student);
- flat files named by a learning-management system: ``<student>_<anything>_<notebook>.ipynb``
  or ``<student>_<notebook>.ipynb`` (the student id is the text before the first ``_``).

Every other file, and every file that would collide with another one for the same
student and notebook, is listed as unmatched; nothing is guessed.

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

from .config import Settings, notebooks_by_assignment
from .release import CourseError
from .safeio import NOTEBOOK_LIMIT, UnsafeFile, extract_zip, read_bounded, walk_regular, write_atomic

_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.@+\-]*$")
_IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store"}


@dataclass
class CollectResult:
    collected: list[tuple[str, str, str]] = field(default_factory=list)  # student, assignment, source
    unmatched: list[tuple[str, str]] = field(default_factory=list)  # source, why


def match(rel: PurePosixPath, nb_to_assignments: dict[str, list[str]]) -> tuple[str, str, str] | str:
    """(student, assignment, notebook) for a file's path relative to the collected root, or why
    not. A notebook name that several assignments share needs its assignment in the path (the
    ``<student>/<assignment>/`` layout, or a flat name that contains the assignment id)."""
    if rel.suffix != ".ipynb":
        return "not a notebook (.ipynb)"
    stem = rel.stem
    if stem in nb_to_assignments:
        return _in_folders(rel, nb_to_assignments[stem])
    tokens = stem.split("_")
    if len(tokens) >= 2 and tokens[-1] in nb_to_assignments:
        student = tokens[0]
        if not _STUDENT.match(student):
            return f"flat name {rel.name}: {student!r} is not a usable student id"
        owners = nb_to_assignments[tokens[-1]]
        named = [a for a in owners if a in tokens[1:-1]]
        if len(owners) == 1 or len(named) == 1:
            return student, (named or owners)[0], tokens[-1]
        owned = ", ".join(owners)
        return f"flat name {rel.name}: {tokens[-1]}.ipynb belongs to {owned}; put the assignment id in the name"
    known = ", ".join(sorted(n + ".ipynb" for n in nb_to_assignments))
    return f"no known notebook name in {rel.name} (expected one of {known})"


def _in_folders(rel: PurePosixPath, owners: list[str]) -> tuple[str, str, str] | str:
    parts = rel.parts
    if len(parts) >= 3 and parts[-2] in owners and _STUDENT.match(parts[-3]):
        return parts[-3], parts[-2], rel.stem
    if len(parts) == 2 and _STUDENT.match(parts[0]):
        if len(owners) == 1:
            return parts[0], owners[0], rel.stem
        return f"{rel.name} belongs to {', '.join(owners)}: put it in {parts[0]}/<assignment>/"
    return f"named {rel.name} but not inside a student folder"


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


def collect(settings: Settings, source: Path) -> CollectResult:
    """Copy every matched notebook of ``source`` (a folder or a zip) into ``submitted/``.

    The path given is the instructor's and is resolved; nothing inside it is trusted: links,
    FIFOs, devices, files over :data:`safeio.NOTEBOOK_LIMIT` and unsafe zip members are
    listed as not collected, and nothing is written for them."""
    source = Path(source)
    if not source.exists():
        raise CourseError(f"{source} does not exist")
    source = source.resolve()
    nb_to_assignments: dict[str, list[str]] = {}
    for a, nbs in notebooks_by_assignment().items():
        for nb in nbs:
            nb_to_assignments.setdefault(nb, []).append(a)
    result = CollectResult()
    with tempfile.TemporaryDirectory() as tmp:
        root, files, times = _sources(source, Path(tmp), result)
        matched: dict[tuple[str, str, str], list[PurePosixPath]] = {}
        for rel in files:
            m = match(rel, nb_to_assignments)
            if isinstance(m, str):
                result.unmatched.append((str(rel), m))
                continue
            matched.setdefault(m, []).append(rel)
        for (student, assignment, notebook), rels in sorted(matched.items()):
            if len(rels) > 1:
                for rel in rels:
                    result.unmatched.append((str(rel), f"{len(rels)} files for {student}/{notebook}.ipynb; keep one"))
                continue
            _store(settings, root, rels[0], (student, assignment, notebook), times, result)
    return result


def _store(
    settings: Settings, root: Path, rel: PurePosixPath, key: tuple[str, str, str], times: dict, result: CollectResult
) -> None:
    """Read one matched notebook (bounded, no link followed) and write it, with its time,
    into ``submitted/<student>/<assignment>/``; a refused file writes nothing at all."""
    student, assignment, notebook = key
    path = root.joinpath(*rel.parts)
    try:
        data = read_bounded(path, NOTEBOOK_LIMIT)
        when = times.get(rel) or datetime.fromtimestamp(os.lstat(path).st_mtime, timezone.utc)
    except UnsafeFile as e:
        result.unmatched.append((str(rel), e.reason))
        return
    dest = settings.workdir / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    write_atomic(dest / f"{notebook}.ipynb", data)
    write_atomic(dest / "timestamp.txt", when.strftime("%Y-%m-%d %H:%M:%S.%f UTC").encode())
    result.collected.append((student, assignment, str(rel)))
