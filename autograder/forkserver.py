"""Warm kernels: a fork server with torch already imported forks one fresh kernel per notebook.

Starting a kernel and importing torch costs seconds per notebook; forking a process that
has done both once costs well under one. The fork server (a "zygote") is a process started
with the ``spawn`` method, so it inherits nothing from the grader. It imports torch,
IPython, ipykernel and the course package, runs a few torch operations with **one** thread
(an OpenMP thread pool does not survive ``fork``: a warm multi-threaded parent hangs its
first child), and then only forks. It never runs student code, so every child starts
from the same clean state: nothing one student's notebook does is seen by another's.

Each child starts a new session (its own process group, so a timeout's SIGINT and a
kill reach every process it made), switches to the notebook's folder and environment,
runs the optional ``prepare_child`` hook (the sandbox goes there), and becomes an
IPython kernel on the connection file that jupyter_client wrote. CUDA is never touched in
the fork server; a child initialises it on first use.

The grader side is an ordinary jupyter_client kernel manager whose provisioner asks the
fork server for a child instead of starting ``python -m ipykernel``; nbclient and
nbgrader's Execute work with it unchanged.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

KERNEL_ERROR = ".kernel-error.txt"  # written in the notebook's folder when a kernel cannot start
WARM_MODULES = ("numpy", "torch", "torch.nn", "torch.nn.functional", "IPython",
                "ipykernel.kernelapp", "ipykernel.ipkernel", "convcourse.check",
                "convcourse.grading", "convcourse.device")


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphaned kernels after a kill)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _reap(signum, frame):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _warm_up():
    import importlib
    for name in WARM_MODULES:
        importlib.import_module(name)
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, torch.rand(4, 3, 3, 3), padding=1), 2)
    (y.sum() + (x.flatten(1) @ torch.rand(192, 2)).sum()).backward()
    F.avg_pool2d(F.unfold(x, 3, padding=1).reshape(2, 27, 8, 8), 2)
    from convcourse.check import forbid
    with forbid("convolution"):  # the dispatcher-level check's first use is slow: pay it here
        torch.ones(2) + 1


def _child(request: dict, prepare_child) -> None:
    os.setsid()
    _die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    with open(request["connection_file"]) as f:  # read it now: the sandbox may hide it
        connection = f.read()
    if prepare_child is not None:
        prepare_child(request)
    import tempfile
    fd, connection_file = tempfile.mkstemp(prefix="kernel-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(connection)
    from ipykernel.kernelapp import IPKernelApp
    app = IPKernelApp.instance()
    app.initialize(["-f", connection_file, "--HistoryManager.hist_file=:memory:"])
    app.start()


def _serve(conn, prepare_child) -> None:
    _die_with_parent()
    _warm_up()
    signal.signal(signal.SIGCHLD, _reap)
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                conn.close()
                _child(request, prepare_child)
            except BaseException:  # noqa: BLE001 - a child must never return into the server loop
                code = 1
                try:  # leave the reason where the grader looks for it
                    import traceback
                    with open(os.path.join(request["cwd"], KERNEL_ERROR), "w") as f:
                        f.write(traceback.format_exc())
                except OSError:
                    pass
            finally:
                os._exit(code)
        conn.send(pid)


class ForkServer:
    """One warm zygote; ``spawn_kernel`` returns the pid of a new kernel process."""

    def __init__(self, prepare_child=None):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child_conn, prepare_child), daemon=True,
                                 name="course-forkserver")
        self._proc.start()
        child_conn.close()
        if not self._conn.poll(300) or self._conn.recv() != "ready":
            raise RuntimeError("the grading fork server did not start")

    def spawn_kernel(self, connection_file: str, cwd: str, env: dict) -> int:
        self._conn.send({"connection_file": connection_file, "cwd": cwd, "env": dict(env)})
        return self._conn.recv()

    def close(self) -> None:
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()


_server: ForkServer | None = None


def server(prepare_child=None) -> ForkServer:
    """The fork server of this process (started on first use)."""
    global _server
    if _server is None:
        _server = ForkServer(prepare_child)
    return _server


class ForkedKernel:
    """A Popen look-alike for a kernel that is a child of the fork server, not of us."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None
        self.stdin = self.stdout = self.stderr = None

    def poll(self):
        if self.returncode is None:
            try:
                with open(f"/proc/{self.pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state in ("Z", "X"):
                    self.returncode = -1
            except (FileNotFoundError, ProcessLookupError):
                self.returncode = -1
        return self.returncode

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise TimeoutError(f"kernel {self.pid} still running")
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum):
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """Launches the kernel by asking the fork server, instead of running ``python -m ipykernel``."""

    async def launch_kernel(self, cmd, **kwargs):
        km = self.parent
        from .sandbox import enter
        pid = server(prepare_child=enter).spawn_kernel(km.connection_file, kwargs.get("cwd") or os.getcwd(),
                                    kwargs.get("env") or os.environ)
        self.process = ForkedKernel(pid)
        self.pid = self.pgid = pid
        return self.connection_info


class ForkKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels come from the fork server."""

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_id = self.kernel_id or str(uuid.uuid4())
        if self.provisioner is None:
            self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                               parent=self)
        return await super()._async_pre_start_kernel(**kw)
