"""What a grading run tells the instructor: one :class:`Outcome` per submission, the plain-text
summary ``course autograde`` prints, and ``autograde-report.json``.

Both show the current state of every submission, accumulated across runs: a submission that a
run skips (unchanged since it was graded) keeps the flags and reasons of its last grading, and
the report keeps the submissions that a run did not touch (other assignments, other students)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from .config import Settings
from .safeio import read_bounded, write_atomic

Status = Literal["graded", "flagged", "skipped"]  # skipped: already graded and unchanged


@dataclass
class Outcome:
    """What happened to one submission (student, assignment) in this run."""

    student: str
    assignment: str
    status: Status = "graded"
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)  # tampering evidence, for the instructor only
    last_status: Literal["graded", "flagged", ""] = ""  # for a skipped submission: as its last grading found


REPORT = "autograde-report.json"


def previous_outcomes(settings: Settings) -> dict[tuple[str, str], dict]:
    """The submissions of the last report, by (student, assignment); nothing if it is missing or
    unreadable (read without following links, and bounded)."""
    try:
        data = json.loads(read_bounded(settings.workdir / REPORT, 64 << 20))
    except (ValueError, OSError, RecursionError):
        return {}
    entries = data.get("submissions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return {}
    return {
        (e["student"], e["assignment"]): e
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("student"), str) and isinstance(e.get("assignment"), str)
    }


def _texts(value) -> list[str]:
    return [str(v) for v in value][:1000] if isinstance(value, list) else []


def carry_over(settings: Settings, outcomes: list[Outcome]) -> None:
    """A submission this run skipped keeps the flags, reasons and time of its last grading."""
    previous = previous_outcomes(settings)
    for o in outcomes:
        last = previous.get((o.student, o.assignment))
        if o.status != "skipped" or last is None:
            continue
        o.problems, o.suspicious = _texts(last.get("problems")), _texts(last.get("suspicious"))
        status = last.get("last_status") if last.get("status") == "skipped" else last.get("status")
        o.last_status = status if status in ("graded", "flagged") else ""
        seconds = last.get("seconds")
        o.seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0


def write_report(settings: Settings, outcomes: list[Outcome]) -> None:
    """``autograde-report.json``: this run's outcomes, and the earlier report's other submissions."""
    entries = previous_outcomes(settings)
    entries.update({(o.student, o.assignment): asdict(o) for o in outcomes})
    report = {
        "device": settings.device,
        "sandbox": "on" if settings.sandbox else "OFF (--no-sandbox)",
        "submissions": [entries[k] for k in sorted(entries)],
    }
    write_atomic(settings.workdir / REPORT, json.dumps(report, indent=1).encode())


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of the run: one line per submission, then flagged ones and why."""
    lines = [f"{'student':<20} {'assignment':<10} {'score':>11} {'time':>7}  status"]
    for o in sorted(outcomes, key=lambda o: (o.assignment, o.student)):
        status = f"unchanged ({o.last_status})" if o.status == "skipped" and o.last_status else o.status
        lines.append(
            f"{o.student:<20} {o.assignment:<10} {o.score:>5g} / {o.max_score:<3g} {o.seconds:>6.1f}s  {status}"
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
