"""Where things live, and the nbgrader configuration built from that.

The course repository holds the sources (``solutions/``) and the student release
(``exercises/``). Everything an instructor produces while grading lives in a working
folder outside version control (default ``<repo>/work``, git-ignored):

    work/gradebook.db            nbgrader's SQLite gradebook (or --db URL)
    work/submitted/<student>/<assignment>/<notebook>.ipynb
    work/autograded/...          executed and scored copies
    work/feedback/<student>/<assignment>/<notebook>.html
    work/grades.csv, work/grades_by_item.csv
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
EXERCISES = REPO / "exercises"
COURSE_ID = "convcourse"
SECRET_ENV = "COURSE_GRADING_SEED"


@dataclass
class Settings:
    """Options shared by every instructor command."""

    workdir: Path
    db_url: str | None = None
    cell_timeout: int = 60  # seconds a single cell may run
    notebook_timeout: int = 300  # seconds a whole notebook may run
    device: str = "cpu"  # cpu or cuda (auto is resolved before this)
    jobs: int = 1  # notebooks executed at the same time
    warm: bool = True  # fork kernels from a warm fork server (False: start each cold)
    cluster: str | None = None  # Dask: "local" for a local cluster, or a scheduler address
    sandbox: bool = True  # run student kernels in the sandbox (autograder/sandbox.py)
    # The instructor's secret that seeds the hidden cases. None: taken out of the environment
    # ($COURSE_GRADING_SEED is removed from it, so that no process started later inherits it).
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self):
        self.workdir = Path(self.workdir).resolve()
        if self.secret is None:
            self.secret = os.environ.pop(SECRET_ENV, None)

    @property
    def db(self) -> str:
        return self.db_url or f"sqlite:///{self.workdir / 'gradebook.db'}"


def default_workdir() -> Path:
    return Path(os.environ.get("COURSE_WORKDIR") or REPO / "work")


def assignments() -> list[str]:
    """Assignment ids, from the folders of ``solutions/``."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def notebooks_by_assignment() -> dict[str, list[str]]:
    return {a: sorted(p.stem for p in (SOLUTIONS / a).glob("*.ipynb")) for a in assignments()}


def nbgrader_config(settings: Settings, release_dir: Path | None = None) -> Config:
    """The nbgrader configuration for this course and working folder."""
    c = Config()
    c.CourseDirectory.root = str(settings.workdir)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = str(SOLUTIONS)
    c.CourseDirectory.release_directory = str(release_dir or EXERCISES)
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = settings.db
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
    c.GenerateAssignment.create_assignment = True
    c.Execute.timeout = settings.cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
    c.LimitOutput.max_lines = 200
    c.LimitOutput.max_traceback = 40
    # Trust nothing in a submission's metadata: the kernel is always the course's python3.
    c.OverwriteKernelspec.enabled = True
    return c
