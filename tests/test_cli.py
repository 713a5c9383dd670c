"""The instructor's loop through the real `course` command, and the same class under stock
`nbgrader autograde`: both must give identical scores for every item."""
import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.config import REPO, Settings
from autograder.export import item_grades
from autograder.synthetic import submission
from tests.chapters.ch01 import WRONG

BIN = Path(sys.executable).parent


def course(work, *args):
    proc = subprocess.run([str(BIN / "course"), "--workdir", str(work), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    archive = tmp / "lms-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice_1001_ch01.ipynb", nbformat.writes(submission("ch01")))
        zf.writestr("bob_1002_ch01.ipynb", nbformat.writes(submission("ch01", blank=True)))
        zf.writestr("carol_1003_ch01.ipynb", nbformat.writes(submission("ch01", replace=WRONG[2][1])))
        zf.writestr("readme.txt", "not a notebook")
    work = tmp / "work"
    out = course(work, "collect", str(archive))
    assert "3 notebook(s) collected, 1 file(s) not matched" in out
    assert "NOT collected readme.txt" in out
    out = course(work, "autograde", "ch01", "--device", "cpu", "--jobs", "2", "--quiet")
    assert "3 graded, 0 flagged" in out
    return tmp, work, out


def test_instructor_loop(graded):
    tmp, work, out = graded
    assert "wrote 3 feedback page(s)" in course(work, "feedback")
    course(work, "export")
    rows = {r["student"]: (r["score"], r["max_score"]) for r in csv.DictReader((work / "grades.csv").open())}
    assert rows == {"alice": ("10", "10"), "bob": ("0", "10"), "carol": ("9", "10")}
    assert (work / "feedback" / "carol" / "ch01" / "ch01.html").exists()
    assert "already graded" in course(work, "autograde", "ch01", "--quiet")


def test_clear_errors():
    proc = subprocess.run([str(BIN / "course"), "--workdir", "/nonexistent/x", "autograde", "ch99"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown assignment(s) ch99" in proc.stderr


def test_stock_nbgrader_gives_identical_scores(graded, tmp_path):
    _, work, _ = graded
    stock = tmp_path / "stock"
    shutil.copytree(work / "submitted", stock / "submitted")
    env = dict(os.environ, COURSE_WORKDIR=str(stock), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    nbg = str(BIN / "nbgrader")
    for args in (["generate_assignment", "ch01", "--force",
                  f"--CourseDirectory.release_directory={tmp_path / 'release'}"],
                 ["autograde", "ch01", "--force"]):
        proc = subprocess.run([nbg, *args], cwd=REPO / "autograder", env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ours = {(g.student, g.item): g.score for g in item_grades(Settings(work))}
    theirs = {(g.student, g.item): g.score for g in item_grades(Settings(stock))}
    assert len(ours) == 24 and ours == theirs
