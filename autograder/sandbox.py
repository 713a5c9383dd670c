"""The sandbox every student kernel runs in (Linux; the grader runs as root).

Entered by the forked kernel process (:mod:`autograder.forkserver`) before it becomes an
IPython kernel, with plain kernel mechanisms:

- **no network**: a new network namespace (only a loopback that is down); the grader talks
  to the kernel over Unix sockets (ZeroMQ's IPC transport) in a folder both can see;
- **its own files only**: a new mount namespace in which every mount is read-only, the
  instructor's working folder (gradebook, other students' submissions), ``solutions/``,
  ``.git`` and the home folders are covered by empty file systems, ``/tmp`` is a small
  private one, and only the submission's own folder is writable;
- **no privileges**: the kernel runs as ``nobody`` with no capabilities and
  ``no_new_privs`` set;
- **limits**: processes (a ``pids`` cgroup per kernel where the host allows it, and
  ``RLIMIT_NPROC``), address space (not with CUDA), CPU seconds, size of a written file,
  open files; the wall-clock limits per cell and per notebook are the grader's.

:func:`check` tries all of this once in a throw-away child, so that grading refuses to
start with a clear reason when the sandbox cannot work (``--no-sandbox`` opts out).
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import sys
from pathlib import Path

from .config import REPO, SOLUTIONS

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x04000000, 0x08000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
NOBODY = 65534
ENV_KEY = "COURSE_SANDBOX"

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    pass


def _call(name, *args):
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{name}{tuple(a.decode() if isinstance(a, bytes) else a for a in args)}: "
                           f"{os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None):
    enc = (lambda s: s.encode() if isinstance(s, str) else s)
    _call("mount", enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def policy(notebook_dir: str, ipc_dir: str, workdir: Path, *, cpu_seconds: int,
           cuda: bool, memory_bytes: int = 8 << 30, file_bytes: int = 1 << 30,
           processes: int = 256, open_files: int = 1024) -> dict:
    """What the kernel of one notebook may see and use."""
    hide = [str(Path(workdir).resolve()), str(SOLUTIONS), str(REPO / ".git"), str(REPO / "work"),
            "/root", "/home"]
    # What the kernel needs even where it lies under a hidden folder or under /tmp: the course,
    # Python itself (pyenv keeps it under /root) and the data sets, all read-only.
    show = [REPO, sys.prefix, sys.base_prefix, REPO.parent / "shared", os.environ.get("FASHION_MNIST_DIR")]
    show = sorted({os.path.realpath(p) for p in show if p and os.path.isdir(p)})
    return {"notebook_dir": notebook_dir, "ipc_dir": ipc_dir, "hide": hide, "show": show,
            "cpu_seconds": cpu_seconds, "memory_bytes": None if cuda else memory_bytes,
            "file_bytes": file_bytes, "processes": processes, "open_files": open_files}


def prepare_folders(p: dict) -> None:
    """In the grader, before the kernel starts: the kernel's own folders belong to nobody."""
    for folder in (p["notebook_dir"], p["ipc_dir"]):
        for root, dirs, files in os.walk(folder):
            for name in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(name, NOBODY, NOBODY)


def _pids_cgroup(limit: int) -> None:
    base = Path("/sys/fs/cgroup/pids")
    if not (base / "cgroup.procs").exists():
        return
    group = base / f"course-kernel-{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        (group / "pids.max").write_text(str(limit))
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        pass  # RLIMIT_NPROC below still applies


def _bind_back(handles: dict) -> None:
    """Bind each folder (held open by a handle) at its own path again."""
    for target, fd in handles.items():
        os.makedirs(target, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
        os.close(fd)


def enter(request: dict) -> None:
    """Called in the forked kernel process: enter the sandbox described in its environment."""
    raw = request["env"].get(ENV_KEY)
    os.environ.pop(ENV_KEY, None)
    if not raw:
        return
    p = json.loads(raw)
    _pids_cgroup(p["processes"])
    _call("unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Handles on what must stay visible, taken in the new namespace before anything is covered.
    own = {p[k]: os.open(p[k], os.O_RDONLY | os.O_DIRECTORY) for k in ("notebook_dir", "ipc_dir")}
    show = {path: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in p["show"]}
    under = (lambda path, top: path == top or path.startswith(top.rstrip("/") + "/"))
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=1777")
    first = {k: v for k, v in show.items() if under(k, "/tmp")}
    _bind_back(first)
    hidden = [h for h in p["hide"] if os.path.isdir(h)]
    for path in hidden:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    again = {k: v for k, v in show.items() if any(under(k, h) for h in hidden)}
    _bind_back(again)
    for path in p["hide"]:  # hidden folders inside what was just put back stay hidden
        if any(under(path, k) for k in again) and os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    _bind_back(own)
    for path, fd in show.items():
        if path not in first and path not in again:
            os.close(fd)
    writable = {"/tmp", p["notebook_dir"], p["ipc_dir"]}
    for line in open("/proc/self/mountinfo").read().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point in writable or point.startswith(("/proc", "/sys", "/dev")):
            continue
        for flags in (MS_NOSUID | MS_NODEV, 0):
            try:
                _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
                break
            except SandboxError:
                pass  # e.g. a mount now covered by another one: nothing can reach it
    os.chdir(p["notebook_dir"])
    limits = [(resource.RLIMIT_CPU, p["cpu_seconds"]), (resource.RLIMIT_FSIZE, p["file_bytes"]),
              (resource.RLIMIT_NOFILE, p["open_files"]), (resource.RLIMIT_CORE, 0),
              (resource.RLIMIT_NPROC, p["processes"] * 8)]
    if p["memory_bytes"]:
        limits.append((resource.RLIMIT_AS, p["memory_bytes"]))
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    home = "/tmp/home"
    os.makedirs(home, exist_ok=True)
    os.environ.update(HOME=home, IPYTHONDIR=f"{home}/.ipython", MPLCONFIGDIR=f"{home}/.matplotlib",
                      XDG_CACHE_HOME=f"{home}/.cache", TORCH_HOME=f"{home}/.torch")


def check(workdir: Path) -> str | None:
    """None if a sandboxed child can start here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "the sandbox needs the grader to run as root (namespaces, mounts, dropping to nobody)"
    probe = Path(workdir) / ".sandbox-probe"
    ipc = Path("/tmp") / f"cgprobe{os.getpid()}"
    for d in (probe, ipc):
        d.mkdir(parents=True, exist_ok=True)
    p = policy(str(probe), str(ipc), workdir, cpu_seconds=10, cuda=False)
    prepare_folders(p)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            enter({"env": {ENV_KEY: json.dumps(p)}})
            Path("probe").write_text("ok")
            msg = "ok"
        except BaseException as e:  # noqa: BLE001
            msg = f"{type(e).__name__}: {e}"
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4000).decode()
    os.close(r)
    os.waitpid(pid, 0)
    shutil.rmtree(probe, ignore_errors=True)
    shutil.rmtree(ipc, ignore_errors=True)
    return None if msg == "ok" else f"the sandbox could not start: {msg}"
