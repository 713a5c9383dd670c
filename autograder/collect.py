"""``course collect``: student notebooks from a folder or a zip into nbgrader's ``submitted/`` layout.

Accepted layouts (the notebook name must be one of the course's, e.g. ``ch01.ipynb``):

- ``<student>/<assignment>/<notebook>.ipynb`` (nbgrader's own layout);
- ``<student>/<notebook>.ipynb`` (one folder per student);
- flat files named by a learning-management system: ``<student>_<anything>_<notebook>.ipynb``
  or ``<student>_<notebook>.ipynb`` (the student id is the text before the first ``_``).

Every other file, and every file that would collide with another one for the same
student and notebook, is listed as unmatched; nothing is guessed.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .config import Settings, notebooks_by_assignment
from .release import CourseError

_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.@+\-]*$")
_IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store"}


@dataclass
class CollectResult:
    collected: list[tuple[str, str, str]] = field(default_factory=list)   # student, assignment, source
    unmatched: list[tuple[str, str]] = field(default_factory=list)         # source, why


def match(rel: PurePosixPath, nb_to_assignment: dict[str, str]) -> tuple[str, str, str] | str:
    """(student, assignment, notebook) for a file's path relative to the collected root, or why not."""
    if rel.suffix != ".ipynb":
        return "not a notebook (.ipynb)"
    stem, parts = rel.stem, rel.parts
    if stem in nb_to_assignment:
        assignment = nb_to_assignment[stem]
        if len(parts) >= 3 and parts[-2] == assignment and _STUDENT.match(parts[-3]):
            return parts[-3], assignment, stem
        if len(parts) == 2 and _STUDENT.match(parts[0]):
            return parts[0], assignment, stem
        return f"named {rel.name} but not inside a student folder"
    tokens = stem.split("_")
    if len(tokens) >= 2 and tokens[-1] in nb_to_assignment:
        student = tokens[0]
        if _STUDENT.match(student):
            return student, nb_to_assignment[tokens[-1]], tokens[-1]
        return f"flat name {rel.name}: {student!r} is not a usable student id"
    known = ", ".join(sorted(n + ".ipynb" for n in nb_to_assignment))
    return f"no known notebook name in {rel.name} (expected one of {known})"


def _files(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (set(p.relative_to(root).parts) & _IGNORED):
            yield p


def collect(settings: Settings, source: Path) -> CollectResult:
    source = Path(source)
    if not source.exists():
        raise CourseError(f"{source} does not exist")
    nb_to_assignment = {nb: a for a, nbs in notebooks_by_assignment().items() for nb in nbs}
    with tempfile.TemporaryDirectory() as tmp:
        if source.is_file():
            root = Path(tmp)
            times = _unzip(source, root)
        else:
            root, times = source, {}
        result = CollectResult()
        matched: dict[tuple[str, str, str], list[Path]] = {}
        for path in _files(root):
            rel = PurePosixPath(path.relative_to(root).as_posix())
            m = match(rel, nb_to_assignment)
            if isinstance(m, str):
                result.unmatched.append((str(rel), m))
                continue
            matched.setdefault(m, []).append(path)
        for (student, assignment, notebook), paths in sorted(matched.items()):
            if len(paths) > 1:
                for p in paths:
                    result.unmatched.append((str(p.relative_to(root)),
                                             f"{len(paths)} files for {student}/{notebook}.ipynb; keep one"))
                continue
            path = paths[0]
            dest = settings.workdir / "submitted" / student / assignment
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / f"{notebook}.ipynb")
            when = times.get(path) or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            (dest / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
            result.collected.append((student, assignment, str(path.relative_to(root))))
    return result


def _unzip(archive: Path, root: Path) -> dict[Path, datetime]:
    """Extract a zip safely (no paths outside ``root``); return each file's time in the archive."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise CourseError(f"{archive} is neither a folder nor a readable zip file") from None
    times = {}
    with zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            if info.is_dir() or name.is_absolute() or ".." in name.parts:
                continue
            target = root.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            times[target] = datetime(*info.date_time, tzinfo=timezone.utc)
    return times
