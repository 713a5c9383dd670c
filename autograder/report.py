"""What a grading run tells the instructor: one :class:`Outcome` per submission, the plain-text
summary ``course autograde`` prints, and ``autograde-report.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .config import Settings


@dataclass
class Outcome:
    """What happened to one submission (student, assignment) in this run."""

    student: str
    assignment: str
    status: str = "graded"  # graded, flagged or skipped (already graded)
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)  # tampering evidence, for the instructor only


def write_report(settings: Settings, outcomes: list[Outcome]) -> None:
    report = {
        "device": settings.device,
        "sandbox": "on" if settings.sandbox else "OFF (--no-sandbox)",
        "submissions": [asdict(o) for o in outcomes],
    }
    (settings.workdir / "autograde-report.json").write_text(json.dumps(report, indent=1))


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of the run: one line per submission, then flagged ones and why."""
    lines = [f"{'student':<20} {'assignment':<10} {'score':>11} {'time':>7}  status"]
    for o in sorted(outcomes, key=lambda o: (o.assignment, o.student)):
        lines.append(
            f"{o.student:<20} {o.assignment:<10} {o.score:>5g} / {o.max_score:<3g} {o.seconds:>6.1f}s  {o.status}"
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "flagged", "skipped")}
    lines.append(
        f"{counts['graded']} graded, {counts['flagged']} flagged, "
        f"{counts['skipped']} already graded (unchanged; --force regrades)"
    )
    flagged = [o for o in outcomes if o.problems]
    if flagged:
        lines.append("Problems:")
        for o in flagged:
            for p in o.problems:
                lines.append(f"  {o.student}/{o.assignment}: {p}")
    suspicious = [o for o in outcomes if o.suspicious]
    if suspicious:
        lines.append("Suspicious (evidence of tampering, for the instructor; see autograde-report.json):")
        for o in suspicious:
            lines += [f"  {o.student}/{o.assignment}: {s}" for s in o.suspicious[:10]]
            if len(o.suspicious) > 10:
                lines.append(f"  {o.student}/{o.assignment}: ... and {len(o.suspicious) - 10} more")
    return "\n".join(lines)
