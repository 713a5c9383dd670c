"""The student kit: the part of ``convcourse`` that exercise notebooks import, as a wheel.

A student who downloads an exercise notebook from the book needs ``convcourse.check`` (the
visible tests' one-line checks) and ``convcourse.reference`` with what they import, and nothing
else: no solutions, no hidden tests, no grader. The book build writes this wheel next to the
pages (``_ext/student_kit.py``) and the release puts the line that installs it at the top of
every exercise notebook (:func:`setup_cell`). Its only dependency is PyTorch, so that a CPU-only
PyTorch on Linux, macOS or Windows (or Colab's) is enough.

The wheel is written directly (a wheel is a zip with a fixed layout, PEP 427): no build
backend, no network, and the same bytes on every build (fixed timestamps, members in a fixed order).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import nbformat

from convcourse import __version__

from .config import REPO

DIST = "convcourse_student"
VERSION = __version__
WHEEL = f"{DIST}-{VERSION}-py3-none-any.whl"
# What the exercise notebooks import (convcourse.check, convcourse.reference) and their imports.
MODULES = ("__init__.py", "check.py", "device.py", "hooks.py", "reference.py")
REQUIRES_PYTHON = ">=3.11"
REQUIRES = ("torch",)
CPU_TORCH = "python -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
_EPOCH = (2026, 1, 1, 0, 0, 0)  # every member's timestamp: the same wheel from the same sources


def _metadata() -> str:
    lines = [
        "Metadata-Version: 2.1",
        "Name: convcourse-student",
        f"Version: {VERSION}",
        "Summary: Convolutional networks in PyTorch: what the course's exercise notebooks import",
        f"Requires-Python: {REQUIRES_PYTHON}",
        *(f"Requires-Dist: {name}" for name in REQUIRES),
    ]
    return "\n".join(lines) + "\n"


def _wheel_file() -> str:
    return "Wheel-Version: 1.0\nGenerator: convcourse kit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def members() -> dict[str, bytes]:
    """The wheel's files, by their path inside it (RECORD last, as PEP 427 asks)."""
    files = {f"convcourse/{m}": (REPO / "convcourse" / m).read_bytes() for m in MODULES}
    info = f"{DIST}-{VERSION}.dist-info"
    files[f"{info}/METADATA"] = _metadata().encode()
    files[f"{info}/WHEEL"] = _wheel_file().encode()
    files[f"{info}/top_level.txt"] = b"convcourse\n"
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    return files


def build_wheel(dest: Path) -> Path:
    """Write the kit's wheel into the folder ``dest``; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / WHEEL
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members().items():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def setup_text() -> str:
    """The first cell of every exercise notebook: what to run when ``convcourse`` is missing."""
    return f"""**Setup, once per environment.** This notebook needs PyTorch and the course's student kit
(the package `convcourse`, with the checks the test cells use). Download `{WHEEL}` from the
book (beside this notebook's link in the chapter's Exercises section, or on the home page), put
it next to this notebook, and run the one line for where you work:

- Jupyter on your computer, in a cell: `%pip install {WHEEL}`
- Colab (PyTorch is already there): upload the file in the Files pane, then in a cell: `%pip install {WHEEL}`
- a terminal: `python -m pip install {WHEEL}`

No PyTorch yet? The CPU build is enough for every exercise: `{CPU_TORCH}`
(on macOS: `python -m pip install torch`)."""


def setup_cell() -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(setup_text(), metadata={"tags": ["course-setup"]})


def add_setup_cell(path: Path) -> None:
    """Put the setup cell first in the released notebook ``path`` (once)."""
    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "course-setup" not in c.get("metadata", {}).get("tags", [])]
    cell = setup_cell()
    cell["id"] = "course-setup"
    nb.cells = [cell, *cells]
    nbformat.write(nb, str(path))
