"""The gradebook side of ``course autograde``: nbgrader's own converters, split in two halves
(sanitise before execution, score after), and the few direct gradebook reads and writes.
This process is the gradebook's only writer."""

from __future__ import annotations

import logging

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

from .config import COURSE_ID, Settings, nbgrader_config
from .release import CourseError
from .report import Outcome


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
