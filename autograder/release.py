"""``course release``: regenerate ``exercises/`` from ``solutions/`` with nbgrader generate_assignment,
then put the student kit's setup cell (:mod:`autograder.kit`) first in every notebook."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory

from .config import EXERCISES, Settings, assignments, nbgrader_config
from .kit import add_setup_cell

log = logging.getLogger("course")


class CourseError(Exception):
    """An error the instructor can act on; the CLI prints it without a traceback."""


def generate(settings: Settings, assignment: str, release_dir: Path) -> None:
    """Run nbgrader's generate_assignment for one assignment into ``release_dir``.

    This also records the assignment, its notebooks and its graded cells in the gradebook.
    """
    settings.workdir.mkdir(parents=True, exist_ok=True)
    config = nbgrader_config(settings, release_dir=release_dir)
    config.CourseDirectory.assignment_id = assignment
    config.GenerateAssignment.force = True
    coursedir = CourseDirectory(config=config)
    converter = GenerateAssignment(coursedir=coursedir, config=config)
    try:
        converter.start()
    except Exception as e:  # nbgrader logs the details; say which assignment failed
        raise CourseError(
            f"nbgrader could not generate assignment {assignment!r} from solutions/{assignment}: {e}"
        ) from e


def student_release(settings: Settings, assignment: str, release_dir: Path) -> Path:
    """The notebooks students download: nbgrader's release of ``assignment`` into ``release_dir``,
    each with the kit's setup cell first; return the assignment's folder there."""
    generate(settings, assignment, release_dir)
    folder = release_dir / assignment
    for notebook in sorted(folder.glob("*.ipynb")):
        add_setup_cell(notebook)
    return folder


def release(settings: Settings, chosen: list[str] | None = None) -> list[str]:
    """Regenerate ``exercises/<assignment>/`` for the chosen assignments (default: all)."""
    names = _select(chosen)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            generated = student_release(settings, name, Path(tmp))
            target = EXERCISES / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated, target)
        log.info("released %s -> exercises/%s", name, name)
    return names


def ensure_in_gradebook(settings: Settings, assignment: str) -> None:
    """Record an assignment in the gradebook (needed before grading) without touching exercises/."""
    with Gradebook(settings.db, "convcourse") as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        generate(settings, assignment, Path(tmp))


def _select(chosen: list[str] | None) -> list[str]:
    known = assignments()
    if not chosen:
        return known
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise CourseError(f"unknown assignment(s) {', '.join(unknown)}; solutions/ has {', '.join(known)}")
    return list(chosen)
