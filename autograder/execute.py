"""Run one sanitised submission notebook in a kernel, whatever the student's code does.

nbgrader's own ``Execute`` preprocessor does the work (same kernel, same error
recording). Around it this module adds what grading a class needs:

- a wall-clock limit for the whole notebook as well as for each cell;
- a kernel that dies (``os._exit``, a segfault, the memory limit) or cannot be
  interrupted does not stop grading: every code cell that never ran gets an error
  output, so a test that did not run can never be scored as passed;
- the selected device reaches the kernel as ``COURSE_DEVICE``.

It runs in a worker process and never touches the gradebook.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float
from traitlets.config import Config

from . import sandbox as sb
from . import verdicts

RESULTS_ENV = "COURSE_RESULTS_DIR"  # where run_hidden saves what the student's code returned


@dataclass
class ExecResult:
    path: str
    seconds: float
    problem: str | None = None      # why the notebook did not run to the end, if it did not


class RobustExecute(Execute):
    """nbgrader's Execute with a per-notebook time limit."""

    notebook_timeout = Float(300.0, help="Seconds the whole notebook may run").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        deadline = time.monotonic() + self.notebook_timeout
        # nbclient asks timeout_func for each cell's limit: the cell limit, cut to what is left.
        self.timeout_func = lambda cell: max(1, int(min(self.timeout, deadline - time.monotonic())))
        return super().preprocess(nb, resources, km=km)


def _mark_unrun(nb: NotebookNode, reason: str) -> int:
    """Give every code cell that did not run an error output; return how many."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("execution_count") is None and cell.source.strip():
            cell.outputs = [nbformat.v4.new_output(
                "error", ename="NotRun", evalue=reason,
                traceback=[f"NotRun: {reason}"])]
            count += 1
    return count


def execute_notebook(path: str, cell_timeout: int, notebook_timeout: int, device: str,
                     warm: bool = True, sandbox_workdir: str | None = None) -> ExecResult:
    """Execute the notebook at ``path`` in place (its folder is the kernel's working folder).

    With ``warm`` the kernel is forked from the warm fork server (:mod:`autograder.forkserver`);
    otherwise jupyter_client starts a fresh ``python -m ipykernel`` as stock nbgrader does.
    With ``sandbox_workdir`` (warm kernels only) the kernel runs in the sandbox of
    :mod:`autograder.sandbox`, hiding that working folder. The kernel is reached over Unix
    sockets in a short-lived folder.
    """
    start = time.monotonic()
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
    os.environ["COURSE_DEVICE"] = device
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    results_dir = os.path.join(os.path.dirname(os.path.abspath(path)), ".results")
    shutil.rmtree(results_dir, ignore_errors=True)
    os.makedirs(results_dir)
    os.environ[RESULTS_ENV] = results_dir
    ipc_dir = tempfile.mkdtemp(prefix="cg", dir="/tmp")
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = os.path.join(ipc_dir, "k")
    extra = {}
    if warm:
        from .forkserver import ForkKernelManager
        extra["kernel_manager_class"] = ForkKernelManager
    if sandbox_workdir:
        p = sb.policy(os.path.dirname(os.path.abspath(path)), ipc_dir, sandbox_workdir,
                      cpu_seconds=int(notebook_timeout) + 30, cuda=device == "cuda")
        sb.prepare_folders(p)
        os.environ[sb.ENV_KEY] = json.dumps(p)
    ep = RobustExecute(config=config, timeout=cell_timeout, notebook_timeout=notebook_timeout,
                       interrupt_on_timeout=True, allow_errors=True,
                       # every reply is in once the last cell ran: stop the kernel at once
                       shutdown_kernel="immediate",
                       extra_arguments=["--HistoryManager.hist_file=:memory:"], **extra)
    problem = None
    try:
        ep.preprocess(nb, {"metadata": {"path": os.path.dirname(path)}})
    except Exception as e:  # the kernel died, hung or could not start: the notebook is still scored
        kind = type(e).__name__
        problem = f"{kind}: {str(e).strip().splitlines()[0] if str(e).strip() else 'kernel stopped'}"
        _mark_unrun(nb, f"the kernel stopped before this cell ran ({kind})")
    finally:
        os.environ.pop(sb.ENV_KEY, None)
        os.environ.pop(RESULTS_ENV, None)
        shutil.rmtree(ipc_dir, ignore_errors=True)
    verdicts.apply(nb, results_dir, device)  # a failed item is a score, not a problem of the run
    shutil.rmtree(results_dir, ignore_errors=True)
    err_file = os.path.join(os.path.dirname(path), ".kernel-error.txt")
    if os.path.exists(err_file):
        lines = [ln for ln in open(err_file).read().splitlines() if ln.strip()]
        problem = f"{problem}; the kernel could not start: {lines[-1] if lines else '?'}"
        os.remove(err_file)
    if time.monotonic() - start >= notebook_timeout and problem is None:
        problem = f"the notebook ran past its {notebook_timeout} s limit"
    timed_out = sum(1 for c in nb.cells if c.cell_type == "code"
                    for o in c.get("outputs", []) if o.get("ename") == "CellTimeoutError")
    if timed_out and problem is None:
        problem = f"{timed_out} cell(s) ran past the {cell_timeout} s cell limit"
    nbformat.write(nb, path)
    return ExecResult(path, time.monotonic() - start, problem)
