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

import asyncio
import gc
import multiprocessing
import os
import signal
import time
import uuid
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Dict, DottedObjectName, Type, Unicode

KERNEL_ERROR = ".kernel-error.txt"  # written in the notebook's folder when a kernel cannot start
# Imported once in the fork server, so that no kernel pays for them: the teaching stack, every
# chapter's grading module, and what an IPython kernel loads while it starts (its debugger
# support alone, debugpy, costs about half a second per kernel otherwise).
# The grader-side package (convcourse.grading: cases, oracles) is deliberately not among them:
# a kernel never holds it (the sandbox hides it, and this process never imports it).
WARM_MODULES = (
    "numpy",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.utils.flop_counter",
    "torchvision",
    "cloudpickle",
    "convcourse.check",
    "convcourse.device",
    "convcourse.data",
    "convcourse.hidden",
    "IPython",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "faulthandler",
    "tornado.platform.asyncio",
    "sqlite3",
    "pdb",
    "pydoc",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "debugpy",
)


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


# Every grading kernel's options, warm or cold: no history file; plain tracebacks (the grader
# keeps only an error's type and message, and IPython's verbose ones cost 0.1 s or more each).
KERNEL_OPTIONS = ["--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Plain"]


def _warm_up():
    import importlib

    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's import-time warning
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # optional: a kernel that needs it imports it (and reports why not)
            pass
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
    from .sandbox import close_inherited

    close_inherited()  # a kernel keeps nothing of the fork server's
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    with open(request["connection_file"]) as f:  # read it now: the sandbox may hide it
        connection = f.read()
    if prepare_child is not None:
        prepare_child(request)
    if request.get("judge_socket"):  # before any student code: the channel and the audit hook
        from convcourse.hidden import attach

        attach(request["judge_socket"])
    import tempfile

    fd, connection_file = tempfile.mkstemp(prefix="kernel-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(connection)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", connection_file, *KERNEL_OPTIONS])
    app.start()


def _serve(conn, prepare_child) -> None:
    _die_with_parent()
    _warm_up()
    gc.collect()
    gc.freeze()
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
                try:  # leave the reason where the grader looks for it (the run's private folder)
                    import traceback

                    fd = os.open(request["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(traceback.format_exc()[-4000:])
                except (OSError, KeyError):
                    pass
            finally:
                os._exit(code)
        conn.send(pid)


class ForkServer:
    """One warm zygote; ``spawn_kernel`` returns the pid of a new kernel process."""

    def __init__(self, prepare_child=None):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child_conn, prepare_child), daemon=True, name="course-forkserver")
        from .config import SECRET_ENV

        secret = os.environ.pop(SECRET_ENV, None)  # the zygote's environment block is every kernel's
        try:
            self._proc.start()
        finally:
            if secret is not None:
                os.environ[SECRET_ENV] = secret
        child_conn.close()
        if not self._conn.poll(300) or self._conn.recv() != "ready":
            raise RuntimeError("the grading fork server did not start")

    def spawn_kernel(self, request: dict) -> int:
        """A new kernel for ``request``: connection_file, cwd, env, and optionally judge_socket
        (the grader's channel) and error_file (where a kernel that cannot start says why)."""
        self._conn.send(request)
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
        # Wait (briefly) until it is gone, so that the manager's first liveness check already
        # sees it dead instead of sleeping a tenth of a second before the next one.
        end = time.monotonic() + 0.5
        while self.poll() is None and time.monotonic() < end:
            time.sleep(0.002)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


def start() -> ForkServer:
    """This process's fork server, with the sandbox's entry step, started now if it is not
    yet running (a worker that starts it before its first notebook does not make that
    notebook pay for the warm-up)."""
    from .sandbox import enter

    return server(prepare_child=enter)


class ForkProvisioner(LocalProvisioner):
    """Launches the kernel by asking the fork server, instead of running ``python -m ipykernel``."""

    async def launch_kernel(self, cmd, **kwargs):
        km = self.parent
        pid = start().spawn_kernel(
            {
                "connection_file": km.connection_file,
                "cwd": kwargs.get("cwd") or os.getcwd(),
                "env": dict(km.kernel_env),
                "judge_socket": km.judge_socket,
                "error_file": km.error_file,
            }
        )
        self.process = ForkedKernel(pid)
        self.pid = self.pgid = pid
        await self._sockets_bound(km)
        return self.connection_info

    async def _sockets_bound(self, km, limit: float = 60.0) -> None:
        """Return once the kernel has bound its sockets (or died, or ``limit`` passed).

        A client that connects before the kernel listens waits for ZeroMQ's reconnect
        interval, and its first messages on IOPub can be lost, which costs jupyter_client a
        timeout and a retry: together about a third of a second per kernel. Over Unix
        sockets, the kernel has bound a channel when the channel's socket file exists.
        """
        if km.transport != "ipc":
            return
        ports = (km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port)
        files = [f"{km.ip}-{port}" for port in ports]
        end = time.monotonic() + limit
        while not all(os.path.exists(f) for f in files):
            if self.process is None or self.process.poll() is not None or time.monotonic() > end:
                return  # nbclient reports the dead or silent kernel as usual
            await asyncio.sleep(0.002)


class WarmKernelClient(AsyncKernelClient):
    """jupyter_client's client, with a shorter wait once the kernel has answered.

    jupyter_client's ``wait_for_ready`` ends by draining IOPub until nothing arrives for 0.2 s,
    a fixed 0.2 s per kernel. The drain only discards the status messages of the
    ``kernel_info`` exchange, which nbclient would ignore anyway (they answer another
    request), so a short drain is enough. Readiness is checked as before: a
    ``kernel_info_reply`` on the shell channel and a message on IOPub (so IOPub is connected).
    """

    async def wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
                if reply["msg_type"] == "kernel_info_reply":
                    await self.iopub_channel.get_msg(timeout=0.2)
                    self._handle_kernel_info_reply(reply)
                    break
            except Empty:
                pass
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:
            try:
                await self.iopub_channel.get_msg(timeout=0.01)
            except Empty:
                return


class GradingKernelManager(AsyncKernelManager):
    """A kernel manager that gives the kernel exactly the environment the grader chose
    (nothing else of the grader's), and the path of the grader's channel."""

    kernel_env = Dict(help="The kernel's whole environment").tag(config=True)
    judge_socket = Unicode("", help="The grader's channel (autograder.judge)").tag(config=True)
    error_file = Unicode("", help="Where a kernel that cannot start writes why").tag(config=True)

    async def _async_pre_start_kernel(self, **kw):
        env = dict(self.kernel_env)
        if self.judge_socket:
            from convcourse.hidden import JUDGE_ENV

            env[JUDGE_ENV] = self.judge_socket  # a cold kernel connects on its first hidden test
        kw["env"] = env
        return await super()._async_pre_start_kernel(**kw)


class ForkKernelManager(GradingKernelManager):
    """A kernel manager whose kernels come from the fork server."""

    client_class = DottedObjectName("autograder.forkserver.WarmKernelClient")
    # jupyter_client builds clients with client_factory, whose default does not follow client_class
    client_factory = Type(WarmKernelClient, klass=AsyncKernelClient)

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_id = self.kernel_id or str(uuid.uuid4())
        if self.provisioner is None:
            self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)
