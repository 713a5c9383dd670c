"""Pass or fail decided outside the student's process.

Under the course's grader a hidden-test cell (one or more ``run_hidden("<item>", ...)``) only runs the
student's code on the hidden cases and saves what it returned; it does not judge. After the
notebook has run, each such cell is judged here, in the grader's own process, from the saved
results (see :func:`convcourse.grading.trusted_verdict`): a pass adds the line "all hidden
cases passed", a failure adds an error output with the one-line reason, so nbgrader scores
the cell 0. A cell that already failed in the kernel (an error, a timeout) stays failed.
"""
from __future__ import annotations

import os
import re

import nbformat

_CALL = re.compile(r"""run_hidden\(\s*["']([\w.]+)["']""")


def apply(nb, results_dir: str, device: str) -> list[str]:
    """Judge every hidden-test cell of an executed notebook; return the failures, one line each."""
    import torch

    from convcourse.grading import passed_message, trusted_verdict

    failed = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        items = _CALL.findall(cell.source)
        if not items or any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            continue
        for item_id in items:  # in order; the first failure ends the cell, as it would in the kernel
            reason = trusted_verdict(item_id, os.path.join(results_dir, f"{item_id}.pt"), torch.device(device))
            if reason is not None:
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="CheckError", evalue=reason, traceback=[f"CheckError: {reason}"]))
                failed.append(f"{meta['grade_id']}: {reason}")
                break
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=passed_message(item_id, torch.device(device)) + "\n"))
    return failed
