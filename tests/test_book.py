"""The book builds offline with warnings as errors, and links each chapter to its student notebook."""
import re

import yaml

from tests.conftest import ROOT, build_book, toc_chapters

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


def _chapter_page(html, stem="01_cross_correlation") -> str:
    return (html / "chapters" / f"{stem}.html").read_text()


def test_no_launch_links_without_a_repository(book):
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"] == ""
    page = _chapter_page(book)
    assert "colab.research.google.com" not in page and "mybinder.org" not in page


def test_launch_links_open_the_chapter_and_its_exercise_from_the_repository(tmp_path):
    """One setting, the repository's address, turns on the theme's launch buttons for every
    chapter and links that open each chapter's exercise notebook in Colab and Binder."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/example-school/cnn-course"
    local = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) + "/" for name, path in local.items()}
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    html = build_book(tmp_path / "out", tmp_path / "_config.yml")
    colab = "https://colab.research.google.com/github/example-school/cnn-course/blob/main/"
    binder = "https://mybinder.org/v2/gh/example-school/cnn-course/main?urlpath=tree/"
    for nb in toc_chapters():
        page = _chapter_page(html, nb.stem)
        assignment = "ch" + nb.stem[:2]
        exercise = f"exercises/{assignment}/{assignment}.ipynb"
        for url in (colab + f"chapters/{nb.stem}.ipynb", colab + exercise, binder + exercise):
            assert url in page, f"{nb.stem}: no link {url}"
