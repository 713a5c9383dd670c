"""``course feedback``: one HTML page per student, assignment and notebook.

Stock nbgrader renders the autograded notebook, which shows the source of hidden
tests and lets students read the checks. This page shows, per graded item, only the
points earned out of the points possible and the one-line reason for a failure.
It never contains the source of a test or a solution.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

from .config import SOLUTIONS, Settings
from .export import MANUAL, item_grades

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_message(cell) -> str | None:
    """One line that says why a graded cell failed, or None if it passed."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), _ANSI.sub("", str(out.get("evalue", "")))
            first = evalue.strip().splitlines()[0] if evalue.strip() else ""
            if ename == "CellTimeoutError":
                return "the test ran past its time limit (an endless loop or very slow code?)"
            if ename in ("CheckError", "ForbiddenCall", "NotRun"):
                return first[:400]
            return f"{ename}: {first}"[:400]
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "the test wrote to stderr, which counts as a failure"
    return None


def graded_cells(path: Path) -> dict:
    """The graded cells of a notebook by grade id, in notebook order."""
    nb = nbformat.read(str(path), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def _headings(nb) -> tuple[str, dict[str, str]]:
    """The notebook's title (its first ``#`` heading) and, for each graded cell, the title of the
    exercise it belongs to (the last ``##`` heading above it)."""
    title, section, titles = "", "", {}
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("# ") and not title:
                    title = line[2:].strip()
                elif line.startswith("## "):
                    section = line[3:].strip()
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid and c.metadata["nbgrader"].get("grade"):
            titles[gid] = section
    return title, titles


def render(
    student: str, assignment: str, notebook: str, items: list, cells: dict, headings: tuple[str, dict] = ("", {})
) -> str:
    """The page: items in the notebook's order, each under its exercise's title (``headings``,
    from the course's source notebook, see :func:`_headings`)."""
    title, titles = headings
    order = {gid: i for i, gid in enumerate(titles)}
    items = sorted(items, key=lambda it: (order.get(it.item, len(order)), it.item))
    rows, total, possible, pending = [], 0.0, 0.0, 0
    for it in items:
        label = html.escape(f"{titles[it.item]} · {it.item}" if titles.get(it.item) else it.item)
        total += it.score
        possible += it.max_score
        if it.needs_manual:
            pending += 1
            rows.append(
                f"<tr class='manual'><td>{label}</td><td>&ndash; / {it.max_score:g}</td>"
                f"<td>{MANUAL}: your instructor has not graded it yet</td></tr>"
            )
            continue
        msg = failure_message(cells[it.item]) if it.item in cells else "not graded"
        ok = it.score >= it.max_score
        reason = "passed" if ok and msg is None else (msg or "no points")
        rows.append(
            f"<tr class='{'ok' if ok else 'fail'}'><td>{label}</td>"
            f"<td>{it.score:g} / {it.max_score:g}</td><td>{html.escape(reason)}</td></tr>"
        )
    so_far = ""
    if pending:
        so_far = f" so far ({pending} of the items {'need' if pending != 1 else 'needs'} manual grading)"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Feedback: {html.escape(title or assignment)} ({html.escape(notebook)}) for {html.escape(student)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em .8em;text-align:left}}
tr.ok td:nth-child(2){{color:#176f2c}}tr.fail td:nth-child(2){{color:#a31515}}</style></head>
<body><h1>{html.escape(title or assignment)}</h1><p>{html.escape(assignment)} / {html.escape(notebook)}</p>
<p>Student: <b>{html.escape(student)}</b>. Score: <b>{total:g} / {possible:g}</b>{so_far}.</p>
<table><thead><tr><th>Item</th><th>Points</th><th>Result</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<p>Each failed item shows the first problem the tests found. Hidden tests use inputs you have not
seen; fix the problem, check your notebook again with the visible tests, and resubmit.</p>
</body></html>
"""


def feedback(settings: Settings, assignments: list[str] | None = None, students: list[str] | None = None) -> list[Path]:
    grouped: dict[tuple[str, str, str], list] = {}
    for it in item_grades(settings):
        if (assignments and it.assignment not in assignments) or (students and it.student not in students):
            continue
        grouped.setdefault((it.student, it.assignment, it.notebook), []).append(it)
    written = []
    for (student, assignment, notebook), items in sorted(grouped.items()):
        nb_path = settings.workdir / "autograded" / student / assignment / f"{notebook}.ipynb"
        cells = graded_cells(nb_path) if nb_path.exists() else {}
        source = SOLUTIONS / assignment / f"{notebook}.ipynb"  # titles from the course, never the student
        headings = _headings(nbformat.read(str(source), as_version=4)) if source.exists() else ("", {})
        out = settings.workdir / "feedback" / student / assignment / f"{notebook}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(student, assignment, notebook, items, cells, headings), encoding="utf-8")
        written.append(out)
    return written
