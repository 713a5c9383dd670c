"""Pass or fail decided outside the student's process.

After a notebook has run, each graded cell that calls ``run_hidden("<item>", ...)`` is
judged again here, in the grader's own process, from the results the kernel saved
(see :func:`convcourse.grading.trusted_verdict`). A cell that the kernel reported as
passing but whose results do not pass here gets an error output, so nbgrader scores it 0.
A cell that already failed in the kernel stays failed.
"""
from __future__ import annotations

import os
import re

import nbformat

_CALL = re.compile(r"""run_hidden\(\s*["']([\w.]+)["']""")


def apply(nb, results_dir: str, device: str) -> list[str]:
    """Judge every hidden-test cell of an executed notebook; return what was overturned."""
    import torch

    from convcourse.grading import trusted_verdict

    overturned = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        found = _CALL.search(cell.source)
        if not found or any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            continue
        item_id = found.group(1)
        reason = trusted_verdict(item_id, os.path.join(results_dir, f"{item_id}.pt"), torch.device(device))
        if reason is not None:
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="CheckError", evalue=reason, traceback=[f"CheckError: {reason}"]))
            overturned.append(f"{meta['grade_id']}: the kernel said pass, the grader's own check says: {reason}")
    return overturned
