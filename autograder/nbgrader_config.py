"""nbgrader configuration for running stock ``nbgrader`` commands on this course.

Run them from this folder (``cd autograder && nbgrader autograde ch01``); the working
folder is ``$COURSE_WORKDIR`` (default ``<repo>/work``) and the gradebook
``$COURSE_DB`` (default: SQLite in the working folder). ``course`` builds the same
configuration from ``autograder/config.py``.
"""

import os

from autograder.config import Settings, default_workdir, nbgrader_config

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by nbgrader when it loads this file
c.merge(nbgrader_config(Settings(default_workdir(), os.environ.get("COURSE_DB"))))
