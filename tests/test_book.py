"""The book builds offline with warnings as errors, and links each chapter to its student notebook."""
import re

from tests.conftest import toc_chapters

# The `book` fixture (built once per session) is in tests/conftest.py.


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
