"""The book builds offline with warnings as errors, and links each chapter to its student notebook."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, toc_chapters


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out),
                           "--warningiserror", "--nitpick", "--keep-going"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out / "_build" / "html"


def test_every_chapter_has_a_page(book):
    assert (book / "index.html").exists()
    for nb in toc_chapters():
        assert (book / "chapters" / f"{nb.stem}.html").exists(), nb.stem


def test_exercise_links_download_the_student_notebook(book):
    for nb in toc_chapters():
        page = (book / "chapters" / f"{nb.stem}.html").read_text()
        links = re.findall(r'href="([^"]*_downloads/[^"]*\.ipynb)"', page)
        assert links, f"{nb.stem} has no exercise download link"
        for link in links:
            target = (book / "chapters" / link).resolve()
            assert target.exists(), link
            text = target.read_text()
            assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
            assert "NotImplementedError" in text, f"{link} is not a student release"
