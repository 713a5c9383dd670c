"""The gradebook side of ``course autograde``: nbgrader's own converters, split in two halves
(sanitise before execution, score after), and the few direct gradebook reads and writes.
This process is the gradebook's only writer."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Comment, Grade, Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from sqlalchemy.orm import joinedload
from traitlets import List

from .config import COURSE_ID, Settings, nbgrader_config
from .release import CourseError
from .report import Outcome


class _SourceCells:
    """The source's cells of one notebook, read from the gradebook in one go: the two lookups
    ``OverwriteCells`` makes for every cell of every submission, answered from memory."""

    def __init__(self, gb: Gradebook, notebook_id: str, assignment_id: str):
        try:
            nb = gb.find_notebook(notebook_id, assignment_id)
        except MissingEntry:
            self.source, self.graded = {}, {}
            return
        self.source = {c.name: c for c in nb.source_cells}
        self.graded = {c.name: c for c in [*nb.grade_cells, *nb.task_cells]}

    @staticmethod
    def _find(cells: dict, name: str):
        try:
            return cells[name]
        except KeyError:
            raise MissingEntry() from None

    def find_source_cell(self, name: str, notebook: str, assignment: str):
        return self._find(self.source, name)

    def find_graded_cell(self, name: str, notebook: str, assignment: str):
        return self._find(self.graded, name)


class OverwriteCellsAtOnce(OverwriteCells):
    """nbgrader's ``OverwriteCells`` (locked and test cells restored from the source, points and
    cell types checked), with the notebook's source cells read in one query instead of two per
    cell."""

    def preprocess(self, nb, resources):
        if self.add_missing_cells:  # needs the whole gradebook API
            return super().preprocess(nb, resources)
        ids = resources["nbgrader"]
        self.notebook_id, self.assignment_id = ids["notebook"], ids["assignment"]
        with Gradebook(ids["db_url"]) as gb:
            self.gradebook = _SourceCells(gb, self.notebook_id, self.assignment_id)
            return NbGraderPreprocessor.preprocess(self, nb, resources)


class SaveAutoGradesAtOnce(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades`` with the submission's grades and comments read in two
    queries and written in one commit, instead of a query and a commit per cell."""

    def preprocess(self, nb, resources):
        ids = resources["nbgrader"]
        self.notebook_id, self.assignment_id, self.student_id = ids["notebook"], ids["assignment"], ids["student"]
        with Gradebook(ids["db_url"]) as gb:
            submitted = gb.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
            self.gradebook = _SubmissionRows(gb, submitted)
            nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
            gb.db.commit()
        return nb, resources


class _SubmissionRows:
    """The grades and comments of one submitted notebook, by cell name, for ``SaveAutoGrades``;
    its per-cell commits are deferred to one (``db.commit`` here does nothing)."""

    def __init__(self, gb: Gradebook, submitted):
        rows = {
            kind: gb.db.query(kind).options(joinedload(kind.cell)).filter(kind.notebook == submitted).all()
            for kind in (Grade, Comment)
        }
        self.grades = {g.cell.name: g for g in rows[Grade]}
        self.comments = {c.cell.name: c for c in rows[Comment]}
        self.db = SimpleNamespace(commit=lambda: None)

    def find_grade(self, name: str, notebook: str, assignment: str, student: str):
        return _SourceCells._find(self.grades, name)

    def find_comment(self, name: str, notebook: str, assignment: str, student: str):
        return _SourceCells._find(self.comments, name)


class Prepare(Autograde):
    """The sanitising half of nbgrader's autograde: submitted/ -> autograded/."""

    sanitize_preprocessors = List(
        [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsAtOnce, CheckCellMetadata]
    ).tag(config=True)

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
            SaveAutoGradesAtOnce,
            AssignLatePenalties,
            CheckCellMetadata,
        ):
            self.exporter.register_preprocessor(pp)
        BaseConverter.convert_single_notebook(self, notebook_filename)

    @property
    def _input_directory(self):
        return self.coursedir.autograded_directory


class _QuietChecksums(logging.Filter):
    """nbgrader warns "Attribute 'checksum' for cell ... has changed!" for every restored cell,
    naming no student; the grader reports each edited cell itself, with the student's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "has changed!" not in record.getMessage()


class _ErrorLog(logging.Handler):
    """Collects the error lines nbgrader logs, to explain a failure in one line."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        text = record.getMessage().strip()
        if text and not text.startswith(("Traceback", "Please see", "There was an error processing")):
            self.lines.append(text.splitlines()[-1])


def run_converter(cls, settings: Settings, assignment: str, student: str) -> None:
    config = nbgrader_config(settings)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = student
    config.Autograde.force = True
    config.Autograde.create_student = True
    handler, quiet = _ErrorLog(), _QuietChecksums()
    loggers = [logging.getLogger("traitlets"), logging.getLogger("Autograde")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.addFilter(quiet)
    try:
        cls(coursedir=CourseDirectory(config=config), config=config).start()
    except Exception as e:  # noqa: BLE001 - nbgrader's own failure, reported in one line
        reason = handler.lines[-1] if handler.lines else f"{type(e).__name__}: {e}"
        raise CourseError(reason) from None
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
            lg.removeFilter(quiet)


def record_zero(settings: Settings, assignment: str, student: str) -> None:
    """Record a submission with no points (nbgrader counts a grade with no score as 0)."""
    with Gradebook(settings.db, COURSE_ID) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.manual_score = None
        gb.db.commit()


def read_scores(settings: Settings, outs: list[Outcome]) -> None:
    """Each submission's total and maximum, as the gradebook has them now."""
    with Gradebook(settings.db, COURSE_ID) as gb:
        for out in outs:
            try:
                s = gb.find_submission(out.assignment, out.student)
            except MissingEntry:
                continue
            out.score, out.max_score = float(s.score), float(s.max_score)
