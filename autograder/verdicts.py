"""The score of every graded cell is the grader's verdict, whatever the kernel printed.

After a notebook has run, each graded cell of the course's source is decided here, in the
grader's process, from what its hidden calls sent back over the channel
(:func:`convcourse.grading.verdict`), from the static findings on the code its items use
(:mod:`autograder.scan`) and from tampering seen while its hidden tests ran
(:mod:`autograder.judge`). Then the cell's outputs are **replaced**: the text the cell printed
(stdout and stderr, as one plain stream, so a warning never costs points) followed by the
verdict, a pass line or one error output with the one-line reason. nbgrader scores a code cell
from its outputs, so no execute_result, display, hook or input transformer of the student's
can add points, and a blank notebook scores 0.
"""

from __future__ import annotations

import nbformat

from .judge import Channel, Plan
from .scan import Findings

COURSE_ERRORS = ("CheckError", "ForbiddenCall", "TamperedCheck")
TEXT_LIMIT = 4000  # characters of a cell's own printed text kept for feedback
REVIEW = (
    "the grader saw your code tamper with grading while this item's hidden tests ran; "
    "it scores 0 until your instructor reviews it"
)


def _printed(cell) -> str:
    """What the cell printed, as one text (stdout and stderr), cut to ``TEXT_LIMIT``."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "\n[... output cut]\n"


def _kernel_error(cell) -> str | None:
    """The one line that says why the cell failed in the kernel: a time limit first (the
    interrupt it causes shows as a bare KeyboardInterrupt), else the first error."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    errors.sort(key=lambda o: (o.get("ename") != "CellTimeoutError", o.get("ename") == "KeyboardInterrupt"))
    if not errors:
        return None
    o = errors[0]
    if o.get("ename") == "CellTimeoutError":
        return " ".join(str(o.get("evalue", "")).split())[:200] or "the cell ran past its time limit"
    ename, evalue = str(o.get("ename", "Error")), str(o.get("evalue", ""))
    # the course's own checks say what is wrong in their message; other errors need their type
    line = (evalue if ename in COURSE_ERRORS and evalue.strip() else f"{ename}: {evalue}").strip()
    return line.splitlines()[0][:300] if line else None


def decide(grade_id: str, plan: Plan, channel: Channel, findings: Findings, device, cell) -> str | None:
    """None if every hidden call of the test cell ``grade_id`` passed, else the one-line reason."""
    import torch

    from convcourse.grading import verdict

    tampered = {e.item for e in channel.evidence if e.item}
    for call in plan.calls.get(grade_id, ()):
        if call.item in findings.blocked:
            return findings.blocked[call.item]
        if call.item in tampered:
            return REVIEW
        if call.item not in channel.results:
            return _kernel_error(cell) or "the hidden tests of this item did not run"
        reason = verdict(call.item, channel.results[call.item], torch.device(device))
        if reason is not None:
            return reason
    return None


def apply(nb, plan: Plan, channel: Channel, findings: Findings, device: str) -> list[str]:
    """Decide every graded cell of ``nb`` and rewrite its outputs; return the failures."""
    import torch

    from convcourse.grading import passed_message

    failed = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        grade_id = plan.test_id(cell.source)
        if grade_id is None or grade_id != meta.get("grade_id"):
            meta["grade"] = False  # not a test of the course's (a student's copy): scores nothing
            continue
        reason = decide(grade_id, plan, channel, findings, device, cell)
        printed = _printed(cell)
        outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)] if printed else []
        if reason is None:
            lines = "".join(passed_message(c.item, torch.device(device)) + "\n" for c in plan.calls[grade_id])
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=lines))
        else:
            outputs.append(
                nbformat.v4.new_output("error", ename="CheckError", evalue=reason, traceback=[f"CheckError: {reason}"])
            )
            failed.append(f"{grade_id}: {reason}")
        cell.outputs = outputs
    return failed
