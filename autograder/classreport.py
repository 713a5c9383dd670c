"""``course report``: the whole class on one HTML page, for the instructor after a grading run.

Per assignment: the distribution of total scores, the pass rate of every item, the most frequent
reasons each item failed (with how many students got each), the flagged and suspicious
submissions with their reasons, and the grading times. Scores come from the gradebook, reasons
from the graded notebooks (the grader's own verdicts), flags and times from
``autograde-report.json``. Figures are PNG files beside the page (matplotlib, no display).
Everything a student could have written is escaped.
"""

from __future__ import annotations

import html
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .export import ItemGrade, item_grades, submission_totals
from .feedback import failure_message, graded_cells
from .report import previous_outcomes

_CASE = re.compile(r"^hidden case \d+ of \d+( \([^)]*\))?(\[\d+\])?: ")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(\.\d+)?(e-?\d+)?")
TOP_REASONS = 3


@dataclass
class ItemStats:
    item: str
    max_score: float
    scores: list[float] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)

    @property
    def passed(self) -> int:
        return sum(s >= self.max_score for s in self.scores)


def reason_pattern(message: str) -> str:
    """A failure message without its case and numbers, so that students' failures group."""
    return _NUMBER.sub("N", _CASE.sub("", message.strip()))[:300]


def _reasons(settings: Settings, grade: ItemGrade, cache: dict) -> str | None:
    """Why the graded cell of ``grade`` failed, read from its autograded notebook."""
    key = (grade.student, grade.assignment, grade.notebook)
    if key not in cache:
        path = settings.workdir / "autograded" / grade.student / grade.assignment / f"{grade.notebook}.ipynb"
        try:
            cache[key] = graded_cells(path)
        except (OSError, ValueError):
            cache[key] = {}
    cell = cache[key].get(grade.item)
    return failure_message(cell) if cell is not None else None


def item_stats(settings: Settings, grades: list[ItemGrade]) -> dict[str, dict[str, ItemStats]]:
    """{assignment: {item: ItemStats}} from the gradebook and the graded notebooks."""
    stats: dict[str, dict[str, ItemStats]] = {}
    cache: dict = {}
    for g in grades:
        if g.needs_manual:
            continue
        s = stats.setdefault(g.assignment, {}).setdefault(g.item, ItemStats(g.item, g.max_score))
        s.scores.append(g.score)
        if g.score < g.max_score:
            s.reasons[reason_pattern(_reasons(settings, g, cache) or "no points")] += 1
    return stats


def _totals(grades: list[ItemGrade], assignment: str) -> dict[str, tuple[float, float]]:
    """Each student's (score, max_score) in ``assignment``."""
    return {student: t for (student, a), t in submission_totals(grades).items() if a == assignment}


def _figures(out: Path, assignment: str, totals: dict, items: dict[str, ItemStats]) -> list[str]:
    """The score histogram and the item pass rates as PNG files; their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [score for score, _ in totals.values()]
    top = max((m for _, m in totals.values()), default=1.0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].hist(scores, bins=min(20, max(1, int(top) + 1)), range=(0, top), color="tab:blue")
    axes[0].set(xlabel=f"total score (of {top:g})", ylabel="students", title=f"{assignment}: scores")
    names = list(items)
    rates = [100 * items[n].passed / len(items[n].scores) for n in names]
    axes[1].barh(names, rates, color="tab:green")
    axes[1].set(xlim=(0, 100), xlabel="% of students with full points", title=f"{assignment}: items")
    axes[1].invert_yaxis()
    fig.tight_layout()
    name = f"{assignment}.png"
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return [name]


def _item_rows(items: dict[str, ItemStats]) -> str:
    rows = []
    for s in items.values():
        reasons = "".join(
            f"<li>{count} &times; {html.escape(text)}</li>" for text, count in s.reasons.most_common(TOP_REASONS)
        )
        rows.append(
            f"<tr><td>{html.escape(s.item)}</td><td>{s.max_score:g}</td>"
            f"<td>{s.passed} of {len(s.scores)}</td><td><ul>{reasons}</ul></td></tr>"
        )
    return "".join(rows)


def _flag_rows(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        notes = [("flagged", p) for p in r.get("problems", [])] + [("suspicious", p) for p in r.get("suspicious", [])]
        for kind, text in notes[:20]:
            rows.append(
                f"<tr><td>{html.escape(str(r['student']))}</td><td>{kind}</td><td>{html.escape(str(text)[:400])}</td></tr>"
            )
    return "".join(rows) or "<tr><td colspan='3'>none</td></tr>"


def _times(runs: list[dict]) -> str:
    seconds = [float(r["seconds"]) for r in runs if isinstance(r.get("seconds"), (int, float)) and r["seconds"] > 0]
    if not seconds:
        return "no grading times recorded"
    return (
        f"{len(seconds)} submissions timed: median {statistics.median(seconds):.1f} s, "
        f"slowest {max(seconds):.1f} s, {sum(seconds):.0f} s in all (kernel time, before parallelism)"
    )


def _section(out: Path, assignment: str, grades: list[ItemGrade], items: dict[str, ItemStats], runs: list[dict]) -> str:
    totals = _totals(grades, assignment)
    figure = _figures(out, assignment, totals, items)[0]
    full = sum(score >= top for score, top in totals.values())
    return f"""<section id="{html.escape(assignment)}"><h2>{html.escape(assignment)}</h2>
<p>{len(totals)} students; {full} with full marks; mean {statistics.mean(s for s, _ in totals.values()):.2f}
of {max(t for _, t in totals.values()):g}. {_times(runs)}.</p>
<img src="{figure}" alt="score distribution and item pass rates of {html.escape(assignment)}" width="900">
<h3>Items</h3><table><thead><tr><th>item</th><th>points</th><th>full points</th>
<th>most frequent reasons for a failure (numbers shown as N)</th></tr></thead><tbody>{_item_rows(items)}</tbody></table>
<h3>Flagged and suspicious submissions</h3><table><thead><tr><th>student</th><th>kind</th><th>reason</th></tr></thead>
<tbody>{_flag_rows([r for r in runs if r.get("problems") or r.get("suspicious")])}</tbody></table></section>"""


def class_report(settings: Settings, assignments: list[str] | None = None) -> Path:
    """Write ``WORKDIR/report/index.html`` (and one PNG per assignment); return the page's path."""
    grades = [g for g in item_grades(settings) if not assignments or g.assignment in assignments]
    stats = item_stats(settings, grades)
    runs = previous_outcomes(settings)
    out = settings.workdir / "report"
    out.mkdir(parents=True, exist_ok=True)
    sections = [
        _section(out, a, grades, stats[a], [r for (_, ra), r in sorted(runs.items()) if ra == a]) for a in sorted(stats)
    ]
    links = ", ".join(f'<a href="#{html.escape(a)}">{html.escape(a)}</a>' for a in sorted(stats)) or "none graded"
    page = out / "index.html"
    page.write_text(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}td,th{{padding:.3em .8em;text-align:left;
vertical-align:top}}ul{{margin:0;padding-left:1.2em}}</style></head>
<body><h1>Class report</h1><p>Assignments: {links}.</p>
{"".join(sections)}</body></html>
""",
        encoding="utf-8",
    )
    return page
