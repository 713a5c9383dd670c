"""The student kit in the book: its wheel written by the build, and links to it.

The HTML build writes the wheel (``autograder.kit``, the package the exercise notebooks import,
without solutions, hidden tests or grader) to ``kit/`` in the output. Every link that downloads
an exercise notebook is followed by a link to the wheel, and the role ``{student-kit}`title```
links to it from any page (the home page uses it).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from docutils import nodes
from launch_links import exercise_downloads
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxRole

from autograder import kit

FOLDER = "kit"


def _href(docname: str) -> str:
    """The wheel's address relative to the page of ``docname``."""
    return posixpath.relpath(f"{FOLDER}/{kit.WHEEL}", posixpath.dirname(docname) or ".")


class StudentKitRole(SphinxRole):
    """``{student-kit}`text```: a link to the wheel with ``text`` as its words."""

    def run(self):
        node = nodes.reference("", self.text or kit.WHEEL, refuri=_href(self.env.docname))
        node["classes"].append("student-kit")
        return [node], []


def _after_exercise_links(app: Sphinx, doctree, docname: str) -> None:
    for ref, _ in exercise_downloads(doctree, docname):
        link = nodes.reference("", "the student kit it needs", refuri=_href(docname), classes=["student-kit"])
        ref.parent.insert(ref.parent.index(ref) + 1, [nodes.Text(" · "), link])


def _write_wheel(app: Sphinx, exception) -> None:
    if exception is None and app.builder.format == "html":
        kit.build_wheel(Path(app.outdir) / FOLDER)


def setup(app: Sphinx):
    app.add_role("student-kit", StudentKitRole())
    app.connect("doctree-resolved", _after_exercise_links)
    app.connect("build-finished", _write_wheel)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
