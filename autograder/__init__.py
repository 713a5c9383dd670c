"""The course's instructor tooling over nbgrader: release, collect, autograde, feedback, export."""

import os
import sys

# nbgrader runs the `alembic` program (installed beside this Python) when it opens a
# gradebook; make sure it is found even when the environment is not activated.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
