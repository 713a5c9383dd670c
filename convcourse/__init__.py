"""Shared code of the course: chapters, exercise notebooks and the grader all import it.

- ``convcourse.device``: which device to run on (``COURSE_DEVICE``) and its tolerances;
- ``convcourse.check``: one-line, actionable checks used by visible and hidden tests;
- ``convcourse.grading``: the hidden-test items (cases, PyTorch oracles, forbidden ops);
- ``convcourse.smoke``: the smoke-mode switch (``COURSE_SMOKE=1``) for fast runs.
"""

__version__ = "0.1.0"
