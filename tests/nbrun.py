"""Run a solution notebook's cells in this process, with some answer cells replaced.

A fast way to see which graded test cells a wrong answer fails, without a kernel or
nbgrader (the end-to-end tests do the same through real autograde).

    python -m tests.nbrun ch02        # check every WRONG entry of tests/chapters/ch02.py
"""
import contextlib
import importlib
import io
import re
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def solution_path(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def points(nb) -> dict:
    """{test grade_id: points} of a notebook."""
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


def run(nb_path, replace: dict | None = None, visible_only: bool = False) -> dict:
    """Execute the code cells; return {test grade_id: None if passed else the one-line error}.
    ``visible_only`` leaves out the hidden part of each test cell (what a student runs)."""
    nb = nbformat.read(str(nb_path), as_version=4)
    replace = dict(replace or {})
    ns = {"__name__": "__main__"}
    results = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        src = textwrap.dedent(replace.pop(gid)) if gid in replace else cell.source
        if visible_only and meta.get("grade"):
            src = HIDDEN.sub("", src)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(src, f"<cell {gid}>", "exec"), ns)
            err = None
        except Exception as e:  # noqa: BLE001 - every failure is a result here
            err = f"{type(e).__name__}: {e}"
        if meta.get("grade"):
            results[gid] = err
        elif err is not None and not meta.get("solution"):
            raise RuntimeError(f"{nb_path}: cell {gid} failed: {err}")
    if replace:
        raise KeyError(f"{nb_path}: no solution cells named {sorted(replace)}")
    return results


def check_chapter(assignment: str) -> int:
    spec = importlib.import_module(f"tests.chapters.{assignment}")
    path = solution_path(assignment)
    bad = 0
    ok = run(path)
    failing = {k: v for k, v in ok.items() if v}
    print(f"{assignment}: solution passes {len(ok) - len(failing)}/{len(ok)} test cells", failing or "")
    bad += bool(failing)
    for name, repl, expect in spec.WRONG + getattr(spec, "SHORTCUTS", []):
        res = run(path, repl)
        got = {k for k, v in res.items() if v}
        status = "ok " if got == set(expect) else "BAD"
        bad += got != set(expect)
        print(f"  [{status}] {name}: fails {sorted(got)}" + ("" if got == set(expect) else f", expected {sorted(expect)}"))
        for k in sorted(got):
            print(f"        {k}: {res[k]}")
    return bad


if __name__ == "__main__":
    sys.exit(min(1, sum(check_chapter(a) for a in sys.argv[1:])))
