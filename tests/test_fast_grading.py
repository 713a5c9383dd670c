"""The fast grader: warm forked kernels, parallel workers, Dask, and a killed run that resumes."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.config import Settings
from autograder.export import export, item_grades
from autograder.grade import autograde
from autograder.synthetic import submission, write_submission
from tests.chapters.ch01 import WRONG

BIN = Path(sys.executable).parent


def _class(work, n):
    """n students: correct, blank and wrong answers in turn."""
    for i in range(n):
        kind = i % 3
        nb = (submission("ch01") if kind == 0 else submission("ch01", blank=True) if kind == 1
              else submission("ch01", replace=WRONG[i % len(WRONG)][1]))
        write_submission(work, f"s{i:02d}", "ch01", nb)


def _grades(settings):
    return {(g.student, g.assignment, g.item): g.score for g in item_grades(settings)}


def test_warm_cold_and_dask_grade_identically(tmp_path):
    results = {}
    for name, kw in {"cold": dict(warm=False, sandbox=False), "warm": dict(jobs=2),
                     "dask": dict(jobs=2, cluster="local")}.items():
        work = tmp_path / name
        _class(work, 4)
        outcomes = autograde(Settings(work, **kw), ["ch01"], progress=False)
        assert {o.status for o in outcomes} == {"graded"}, [o.problems for o in outcomes]
        results[name] = _grades(Settings(work))
    assert len(results["cold"]) == 4 * 8
    assert results["warm"] == results["cold"] == results["dask"]


def test_kernels_do_not_share_state(tmp_path):
    """One student's changes to torch or to files never reach the next student's kernel."""
    poison = "import torch\ntorch.zeros = None\nopen('/tmp/course-shared-state', 'w').write('x')\n" + \
             "import builtins\nbuiltins.corr2d = lambda X, K: X"
    write_submission(tmp_path, "a_poisoner", "ch01", submission("ch01", replace={"kernels": poison + "\n" +
        "def edge_kernel(d): return torch.tensor([[1.0, -1.0]])"}))
    write_submission(tmp_path, "b_victim", "ch01", submission("ch01"))
    outcomes = {o.student: o for o in autograde(Settings(tmp_path, jobs=1), ["ch01"], progress=False)}
    assert outcomes["b_victim"].score == 10


def test_killed_run_resumes_to_the_same_gradebook(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    for work in (full, killed):
        _class(work, 6)
    autograde(Settings(full, jobs=1), ["ch01"], progress=False)
    proc = subprocess.Popen([str(BIN / "course"), "--workdir", str(killed), "autograde", "ch01", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((killed / ".course" / "graded").glob("*/ch01.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    graded = len(list((killed / ".course" / "graded").glob("*/ch01.json")))
    assert 1 <= graded < 6, "the kill should land midway"
    resumed = autograde(Settings(killed, jobs=1), ["ch01"], progress=False)
    assert sum(o.status == "skipped" for o in resumed) == graded
    assert _grades(Settings(killed)) == _grades(Settings(full))
    a, b = export(Settings(full), tmp_path / "a"), export(Settings(killed), tmp_path / "b")
    assert a[1].read_bytes() == b[1].read_bytes()
