"""Run one sanitised submission notebook in a kernel, whatever the student's code does.

nbgrader's own ``Execute`` preprocessor does the work (same kernel, same error
recording). Around it this module adds what grading a class needs:

- a wall-clock limit for the whole notebook as well as for each cell: at the deadline the
  kernel is killed, however many cells are left;
- a kernel that dies (``os._exit``, a segfault, the memory limit) or cannot be
  interrupted does not stop grading: every code cell that never ran gets an error
  output, so a test that did not run can never be scored as passed;
- the kernel gets an environment chosen here (never the grader's: no secret) and a private
  channel to the grader (:mod:`autograder.judge`), over which its hidden tests receive their
  cases and return what the student's code gave;
- the verdict of every graded cell is then decided here and written into the notebook
  (:mod:`autograder.verdicts`), together with the static findings (:mod:`autograder.scan`).

It runs in a worker process and never touches the gradebook.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float
from traitlets.config import Config

from . import judge, scan, verdicts
from . import sandbox as sb
from .config import SOLUTIONS

# What of the grader's environment a kernel may see (by name or prefix); nothing else passes.
KERNEL_ENV = (
    "PATH",
    "LANG",
    "LC_",
    "TZ",
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "CUDA_",
    "NVIDIA_",
    "FASHION_MNIST_DIR",
    "COURSE_SMOKE",
    "PYDEVD_",
)
ERROR_LIMIT = 16 << 10


@dataclass
class ExecResult:
    path: str
    seconds: float
    problem: str | None = None  # why the notebook did not run to the end, if it did not
    suspicious: list[str] = field(default_factory=list)  # evidence for the instructor only


class RobustExecute(Execute):
    """nbgrader's Execute with a per-notebook wall: the kernel is killed at the deadline."""

    notebook_timeout = Float(300.0, help="Seconds the whole notebook may run").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        deadline = time.monotonic() + self.notebook_timeout
        # nbclient asks timeout_func for each cell's limit: the cell limit, cut to what is left.
        self.timeout_func = lambda cell: max(1, int(min(self.timeout, deadline - time.monotonic())))
        wall = threading.Timer(self.notebook_timeout, self._kill_kernel)
        wall.daemon = True
        wall.start()
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            wall.cancel()

    def _kill_kernel(self) -> None:
        self.wall_hit = True
        process = getattr(getattr(getattr(self, "km", None), "provisioner", None), "process", None)
        if process is not None:
            process.kill()


def kernel_env(device: str) -> dict[str, str]:
    """The kernel's whole environment: a few harmless names of the grader's, and the device."""
    env = {k: v for k, v in os.environ.items() if k.startswith(KERNEL_ENV)}
    env.update(COURSE_DEVICE=device, NBGRADER_EXECUTION="autograde", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def _mark_unrun(nb: NotebookNode, reason: str) -> int:
    """Give every code cell that did not run an error output; return how many."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("execution_count") is None and cell.source.strip():
            cell.outputs = [
                nbformat.v4.new_output("error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"])
            ]
            count += 1
    return count


def _source_plan(path: str) -> judge.Plan:
    """The plan of the course's source for the notebook at ``path`` (…/<assignment>/<name>.ipynb)."""
    source = SOLUTIONS / Path(path).parent.name / Path(path).name
    return judge.plan(str(source), source.stat().st_mtime_ns)


def _run(
    nb, path: str, config: Config, cell_timeout: int, notebook_timeout: int, extra: dict, channel: judge.Channel
) -> str | None:
    """Execute ``nb`` in a kernel; return why it stopped early, if it did."""
    from .forkserver import KERNEL_OPTIONS

    def on_cell(cell, cell_index):
        channel.enter_cell(channel.plan.test_id(cell.source))

    limit = f"the cell ran past its time limit ({cell_timeout} s per cell, {notebook_timeout} s per notebook)"
    ep = RobustExecute(
        config=config,
        timeout=cell_timeout,
        notebook_timeout=notebook_timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        on_cell_execute=on_cell,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": limit, "traceback": [f"CellTimeoutError: {limit}"]},
        # every reply is in once the last cell ran: stop the kernel at once
        shutdown_kernel="immediate",
        extra_arguments=KERNEL_OPTIONS,
        **extra,
    )
    try:
        ep.preprocess(nb, {"metadata": {"path": os.path.dirname(path)}})
    except Exception as e:  # noqa: BLE001 - the kernel died, hung or could not start: the notebook is still scored
        kind = type(e).__name__
        why = "the notebook time limit" if getattr(ep, "wall_hit", False) else kind
        _mark_unrun(nb, f"the kernel stopped before this cell ran ({why})")
        if getattr(ep, "wall_hit", False):
            return f"the notebook ran past its {notebook_timeout} s limit and was stopped"
        return f"{kind}: {str(e).strip().splitlines()[0] if str(e).strip() else 'kernel stopped'}"
    return None


def _kernel_error(path: str) -> str | None:
    """The last line a kernel that could not start wrote, read without following links."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        lines = [ln for ln in f.read(ERROR_LIMIT).decode(errors="replace").splitlines() if ln.strip()]
    return judge.printable(lines[-1]) if lines else "?"


def _read_unrun(path: str) -> NotebookNode:
    """The notebook at ``path`` with its execution counts cleared (it is about to run)."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
    return nb


def _kernel_config(ipc_dir: str, device: str, warm: bool, judge_socket: str, policy: dict | None):
    """The jupyter_client configuration of one kernel: Unix sockets in ``ipc_dir``, the environment
    the grader chose (with the sandbox policy, if any) and the grader's channel."""
    from .forkserver import ForkKernelManager, GradingKernelManager

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = os.path.join(ipc_dir, "k")
    env = kernel_env(device)
    if policy is not None:
        env[sb.ENV_KEY] = json.dumps(policy)
    manager = ForkKernelManager if warm else GradingKernelManager
    config[manager.__name__].kernel_env = env
    config[manager.__name__].judge_socket = judge_socket
    config[manager.__name__].error_file = os.path.join(ipc_dir, "kernel-error.txt")
    return config, manager


def _problems(nb, problem: str | None, error: str | None, fault: str | None, cell_timeout: int) -> str | None:
    """One line on what went wrong while the notebook ran, or None."""
    if error:
        problem = f"{problem}; the kernel could not start: {error}"
    timed_out = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("ename") == "CellTimeoutError"
    )
    if timed_out and problem is None:
        problem = f"{timed_out} cell(s) ran past the {cell_timeout} s cell limit"
    if fault:
        problem = f"{problem}; {fault}" if problem else fault
    return problem


def execute_notebook(
    path: str,
    cell_timeout: int,
    notebook_timeout: int,
    device: str,
    warm: bool = True,
    sandbox_workdir: str | None = None,
    secret: str | None = None,
) -> ExecResult:
    """Execute the notebook at ``path`` and decide its graded cells; write it back in place.

    With ``warm`` the kernel is forked from the warm fork server (:mod:`autograder.forkserver`);
    otherwise jupyter_client starts a fresh ``python -m ipykernel`` as stock nbgrader does.
    With ``sandbox_workdir`` (warm kernels only) the kernel runs in the sandbox of
    :mod:`autograder.sandbox`, hiding that working folder. The kernel is reached over Unix
    sockets in a short-lived private folder, which also holds the grader's channel.
    ``secret`` seeds the hidden cases (made here, in the grader; never given to the kernel).
    """
    from convcourse.grading import set_secret

    set_secret(secret)
    start = time.monotonic()
    nb = _read_unrun(path)
    plan = _source_plan(path)
    ipc_dir = tempfile.mkdtemp(prefix="cg", dir="/tmp")
    if sandbox_workdir:
        sb.bound_folder(ipc_dir)
    student = {judge.cell_file(src): label for label, src in judge.split_cells(nb, plan)[0]}
    channel = judge.Channel(ipc_dir, plan, device, student_cells=student)
    policy = None
    if sandbox_workdir:
        policy = sb.policy(
            os.path.dirname(os.path.abspath(path)),
            ipc_dir,
            Path(sandbox_workdir),
            cpu_seconds=int(notebook_timeout) + 30,
            cuda=device == "cuda",
        )
        sb.prepare_folders(policy)
    config, manager = _kernel_config(ipc_dir, device, warm, channel.path, policy)
    try:
        problem = _run(nb, path, config, cell_timeout, notebook_timeout, {"kernel_manager_class": manager}, channel)
        error = _kernel_error(os.path.join(ipc_dir, "kernel-error.txt"))
    finally:
        channel.close()
        if policy is not None:
            sb.cleanup(policy)
        if sandbox_workdir:
            sb.release_folder(ipc_dir)
        shutil.rmtree(ipc_dir, ignore_errors=True)
    problem = _problems(nb, problem, error, channel.fault, cell_timeout)
    findings = scan.scan(nb, plan)
    verdicts.apply(nb, plan, channel, findings, device)
    suspicious = [e.text for e in channel.evidence] + [f.text for f in findings.suspicious]
    nbformat.write(nb, path)
    return ExecResult(path, time.monotonic() - start, problem, suspicious)
