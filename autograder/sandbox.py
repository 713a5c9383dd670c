"""The sandbox every student kernel runs in (Linux; the grader runs as root).

Entered by the forked kernel process (:mod:`autograder.forkserver`) before it becomes an
IPython kernel, with plain kernel mechanisms:

- **its own processes only**: a new PID namespace. :func:`enter` forks once more; the inner
  process becomes the kernel, PID 1 of the namespace, and sees only its own processes in a
  private ``/proc``. When it dies Linux kills every process left in the namespace (daemons
  and new sessions included). The outer process only waits for it and exits with its status;
- **a cgroup per kernel** (cgroup v2 where mounted, and the v1 ``pids`` controller where
  present), named in the policy: it limits processes, and :func:`cleanup` (the grader, after
  the kernel ended) kills whatever is still in it and removes it;
- **no network**: a new network namespace (only a loopback that is down); the grader talks
  to the kernel over Unix sockets (ZeroMQ's IPC transport) in a folder both can see;
- **its own files only**: a new mount namespace in which every mount is read-only, the
  instructor's working folder (gradebook, other students' submissions), ``solutions/``,
  ``.git``, the grader's code (``autograder/``, ``convcourse/grading/``) and the home folders
  are covered by empty file systems. The notebook's folder is a private ``tmpfs`` of
  ``disk_bytes`` holding copies of the submission's regular files: what the kernel writes
  there is bounded and disappears with it, and the real folder is never writable by it (only
  the results folder inside it is the real one). ``/tmp`` and ``/dev/shm`` are small private
  ones;
- **no privileges**: the kernel runs as ``nobody`` with no capabilities and
  ``no_new_privs`` set, and holds no descriptor it did not open itself;
- **limits**: processes (the cgroup, and ``RLIMIT_NPROC``), address space (not with CUDA),
  CPU seconds, size of a written file, open files; the wall-clock limits per cell and per
  notebook are the grader's.

:func:`check` tries all of this once in a throw-away child, so that grading refuses to
start with a clear reason when the sandbox cannot work (``--no-sandbox`` opts out).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import sys
import time
import uuid
from pathlib import Path

from .config import REPO, SOLUTIONS

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x04000000, 0x08000000, 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    8,
    32,
    4096,
    16384,
    1 << 18,
)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
NOBODY = 65534
ENV_KEY = "COURSE_SANDBOX"
CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "course-kernel-"
# Hidden from kernels: the grader, its hidden tests, and the course's model builders (an answer
# that imports the chapter's network instead of writing it must fail to import it).
GRADER_CODE = (REPO / "autograder", REPO / "convcourse" / "grading", REPO / "convcourse" / "models")

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    pass


def _call(name, *args, what: str | None = None):
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        shown = what or f"{name}{tuple(a.decode() if isinstance(a, bytes) else a for a in args)}"
        raise SandboxError(f"{shown}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None):
    def enc(s):
        return s.encode() if isinstance(s, str) else s

    _call("mount", enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def cgroup_prefix(workdir: Path) -> str:
    """The start of the name of every kernel cgroup of one working folder (so a test, or an
    instructor, can tell which cgroups a grading run made)."""
    digest = hashlib.sha256(str(Path(workdir).resolve()).encode()).hexdigest()[:8]
    return f"{CGROUP_PREFIX}{digest}-"


def policy(
    notebook_dir: str,
    ipc_dir: str,
    workdir: Path,
    *,
    cpu_seconds: int,
    cuda: bool,
    memory_bytes: int = 8 << 30,
    file_bytes: int = 1 << 30,
    processes: int = 256,
    open_files: int = 1024,
    disk_bytes: int = 512 << 20,
    tmp_bytes: int = 256 << 20,
    shm_bytes: int = 64 << 20,
) -> dict:
    """What the kernel of one notebook may see and use. The one real folder it may write in is
    ``ipc_dir`` (its sockets; a small tmpfs of its own, see :func:`bound_folder`); everything
    else it writes goes to tmpfs and disappears with it."""
    hide = [
        str(Path(workdir).resolve()),
        str(SOLUTIONS),
        str(REPO / ".git"),
        str(REPO / "work"),
        *(str(p) for p in GRADER_CODE),
        "/root",
        "/home",
    ]
    # What the kernel needs even where it lies under a hidden folder or under /tmp: the course,
    # Python itself (pyenv keeps it under /root) and the data sets, all read-only.
    wanted: list[str | Path | None] = [
        REPO,
        sys.prefix,
        sys.base_prefix,
        REPO.parent / "shared",
        os.environ.get("FASHION_MNIST_DIR"),
    ]
    show = sorted({os.path.realpath(p) for p in wanted if p and os.path.isdir(p)})
    return {
        "notebook_dir": notebook_dir,
        "ipc_dir": ipc_dir,
        "hide": hide,
        "show": show,
        "cgroup": f"{cgroup_prefix(workdir)}{uuid.uuid4().hex[:12]}",
        "cpu_seconds": cpu_seconds,
        "memory_bytes": None if cuda else memory_bytes,
        "file_bytes": file_bytes,
        "processes": processes,
        "open_files": open_files,
        "disk_bytes": disk_bytes,
        "tmp_bytes": tmp_bytes,
        "shm_bytes": shm_bytes,
    }


def prepare_folders(p: dict) -> None:
    """In the grader, before the kernel starts: the one real folder the kernel writes in (the
    sockets' folder) belongs to nobody. The notebook's folder stays root's: the kernel works on
    a copy of it."""
    for root, dirs, files in os.walk(p["ipc_dir"]):
        for name in [root] + [os.path.join(root, f) for f in dirs + files]:
            os.chown(name, NOBODY, NOBODY, follow_symlinks=False)


# --- cgroups -------------------------------------------------------------------------------


def _cgroup_bases() -> list[Path]:
    """The hierarchies a kernel's cgroup is made in: the cgroup2 one (pure v2 at
    /sys/fs/cgroup, or the hybrid layout's ``unified``) for ``cgroup.kill`` and, where it has
    the controller, ``pids.max``; and the v1 ``pids`` hierarchy, which limits on hybrid hosts."""
    bases = [b for b in (CGROUP_FS, CGROUP_FS / "unified") if (b / "cgroup.controllers").exists()][:1]
    if (CGROUP_FS / "pids" / "tasks").exists():
        bases.append(CGROUP_FS / "pids")
    return bases


def _join_cgroups(name: str, limit: int) -> list[str]:
    """Put this process (and so all it starts) in a new cgroup ``name`` of each hierarchy, with
    at most ``limit`` processes where the hierarchy has the pids controller. A host that does
    not allow it still has RLIMIT_NPROC and the PID namespace: failures are not fatal."""
    joined = []
    for base in _cgroup_bases():
        group = base / name
        try:
            controllers = base / "cgroup.controllers"
            if controllers.exists() and "pids" in controllers.read_text().split():
                try:  # the root cgroup hands the controller down; a cgroup namespace may refuse
                    (base / "cgroup.subtree_control").write_text("+pids")
                except OSError:
                    pass
            group.mkdir(exist_ok=True)
            if (group / "pids.max").exists():
                (group / "pids.max").write_text(str(limit))
            (group / "cgroup.procs").write_text(str(os.getpid()))
            joined.append(str(group))
        except OSError:
            pass
    return joined


def _members(group: Path) -> list[int]:
    try:
        return [int(x) for x in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _empty_cgroup(group: Path, seconds: float) -> bool:
    """Kill every process in ``group`` until none is left (``cgroup.kill`` on v2; on v1 SIGKILL
    to each member, again and again, since a member may fork meanwhile). True once empty."""
    kill = group / "cgroup.kill"
    deadline = time.monotonic() + seconds
    while True:
        pids = _members(group)
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        try:
            if kill.exists():
                kill.write_text("1")
            else:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass
        time.sleep(0.01)


def _remove_cgroup(group: Path, seconds: float) -> None:
    """rmdir the (empty) cgroup; it stays busy for a moment while its last processes exit."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)


def cleanup(p: dict, seconds: float = 5.0) -> None:
    """In the grader, after the kernel ended: kill whatever is still in its cgroups, remove
    them. Safe to call more than once, and for a kernel that
    never started."""
    name = p.get("cgroup") or ""
    if re.fullmatch(rf"{CGROUP_PREFIX}[0-9a-f]+-[0-9a-f]+", name):
        for base in _cgroup_bases():
            group = base / name
            if group.is_dir():
                _empty_cgroup(group, seconds)
                _remove_cgroup(group, seconds)


IPC_BYTES = 16 << 20  # the run's private folder (sockets, a kernel's error): tiny on purpose


def bound_folder(path: str, size: int = IPC_BYTES) -> None:
    """In the grader, before the kernel starts: give the run's private folder (which the kernel
    can write, since it holds the sockets) a tmpfs of its own, so that a kernel cannot fill
    the host's /tmp through it. :func:`release_folder` undoes it."""
    _tmpfs(path, size, "700")


def release_folder(path: str) -> None:
    """Detach the tmpfs of :func:`bound_folder` (whatever the kernel left there goes with it)."""
    _call("umount2", path.encode(), 2, what=f"umount2({path})")  # MNT_DETACH


# --- the PID namespace ---------------------------------------------------------------------


def _wait_then_exit(pid: int) -> None:
    """The outer process: wait for the kernel (the inner one) and exit with its status. It
    ignores SIGINT (the grader interrupts a cell with SIGINT to the process group, which the
    kernel gets too); any other signal ends it, and then the kernel, which has PDEATHSIG."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
    finally:
        os._exit(code)


def _enter_pid_namespace() -> None:
    """Fork into a new PID namespace: returns in the inner process (PID 1 there, same process
    group, dies when the outer one dies); the outer process never returns."""
    _call("unshare", CLONE_NEWPID, what="unshare(CLONE_NEWPID) (a PID namespace)")
    pid = os.fork()
    if pid:
        _wait_then_exit(pid)
    _call("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0, what="prctl(PR_SET_PDEATHSIG)")


# --- mounts --------------------------------------------------------------------------------


def _bind_back(handles: dict) -> None:
    """Bind each folder (held open by a handle) at its own path again."""
    for target, fd in handles.items():
        os.makedirs(target, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
        os.close(fd)


def _tmpfs(path: str, size: int, mode: str = "1777", owner: str = "") -> None:
    os.makedirs(path, exist_ok=True)
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}{owner}")


def _copy_file(src_dir: int, name: str, dest_dir: int, budget: int) -> int:
    """Copy one regular file (never a link, FIFO or device) of at most ``budget`` bytes, owned
    by nobody; return the bytes copied."""
    try:
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src_dir)
    except OSError:
        return 0
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode) or st.st_size > budget:
            return 0
        dest = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dest_dir
        )
        try:
            left = st.st_size
            while left > 0:
                chunk = os.read(src, min(left, 1 << 20))
                if not chunk:
                    break
                os.write(dest, chunk)
                left -= len(chunk)
            os.fchown(dest, NOBODY, NOBODY)
        finally:
            os.close(dest)
        return st.st_size - left
    finally:
        os.close(src)


def _copy_folder(src_dir: int, dest_dir: int, budget: int, skip: set, depth: int = 4) -> int:
    """Copy the regular files of a folder, and of its real sub-folders down to ``depth``,
    skipping notebooks (the grader runs the notebook; the kernel does not need the file) and
    the names in ``skip``; at most ``budget`` bytes in all. Return the bytes copied."""
    used = 0
    for name in sorted(os.listdir(src_dir)):
        if name in skip or name.endswith(".ipynb"):
            continue
        st = os.stat(name, dir_fd=src_dir, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            used += _copy_file(src_dir, name, dest_dir, budget - used)
        elif stat.S_ISDIR(st.st_mode) and depth > 0:
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
            except OSError:
                continue
            try:
                os.mkdir(name, 0o755, dir_fd=dest_dir)
                os.chown(name, NOBODY, NOBODY, dir_fd=dest_dir, follow_symlinks=False)
                dsub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dest_dir)
                try:
                    used += _copy_folder(sub, dsub, budget - used, set(), depth - 1)
                finally:
                    os.close(dsub)
            finally:
                os.close(sub)
    return used


def _own_folder(p: dict, real: int) -> None:
    """Mount the kernel's notebook folder: a tmpfs of ``disk_bytes`` with copies of the real
    folder's files (read through the handle ``real``)."""
    folder = p["notebook_dir"]
    _tmpfs(folder, p["disk_bytes"], "755", f",uid={NOBODY},gid={NOBODY}")
    dest = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_folder(real, dest, p["disk_bytes"], set())
    finally:
        os.close(dest)
        os.close(real)


def _hide(p: dict, show: dict, under) -> None:
    """Cover the hidden folders with empty file systems, and put back what must stay visible
    under them (and hide again what is hidden inside that)."""
    hidden = [h for h in p["hide"] if os.path.isdir(h)]
    for path in hidden:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    again = {k: v for k, v in show.items() if any(under(k, h) for h in hidden)}
    _bind_back(again)
    for path in p["hide"]:  # hidden folders inside what was just put back stay hidden
        if any(under(path, k) for k in again) and os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for path, fd in show.items():
        if path not in again:
            os.close(fd)


def _read_only_rest(writable: set) -> None:
    """Remount every other mount read-only (``/proc``, ``/sys`` and ``/dev`` keep their own
    permissions: device nodes such as /dev/nvidia* must stay usable)."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(("/proc", "/sys", "/dev")):
            continue
        if point in writable:  # writable, but never a setuid program or a device node
            try:
                _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
            except SandboxError:
                pass
            continue
        for flags in (MS_NOSUID | MS_NODEV, 0):
            try:
                _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
                break
            except SandboxError:
                pass  # e.g. a mount now covered by another one: nothing can reach it


def _mounts(p: dict) -> None:
    """The kernel's file system view (in the inner process: its /proc is the new namespace's)."""
    _call(
        "unshare",
        CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
        what="unshare(mount, network, IPC, UTS namespaces)",
    )
    _mount(None, "/", None, MS_REC | MS_PRIVATE)

    # Handles on what must stay visible, taken in the new namespace before anything is covered.
    def opened(path):
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    real, ipc = opened(p["notebook_dir"]), {p["ipc_dir"]: opened(p["ipc_dir"])}
    show = {path: opened(path) for path in p["show"]}

    def under(path, top):
        return path == top or path.startswith(top.rstrip("/") + "/")

    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _tmpfs("/dev/shm", p["shm_bytes"])
    _tmpfs("/tmp", p["tmp_bytes"])
    _bind_back({k: show.pop(k) for k in list(show) if under(k, "/tmp")})
    _hide(p, show, under)
    _bind_back(ipc)
    _own_folder(p, real)
    _read_only_rest({"/tmp", p["notebook_dir"], p["ipc_dir"]})


# --- entering ------------------------------------------------------------------------------


def _limits_and_nobody(p: dict) -> None:
    limits = [
        (resource.RLIMIT_CPU, p["cpu_seconds"]),
        (resource.RLIMIT_FSIZE, p["file_bytes"]),
        (resource.RLIMIT_NOFILE, p["open_files"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, p["processes"] * 8),
    ]
    if p["memory_bytes"]:
        limits.append((resource.RLIMIT_AS, p["memory_bytes"]))
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, what="prctl(PR_SET_NO_NEW_PRIVS)")


def close_inherited(keep=()) -> None:
    """Close every descriptor above 2 but those in ``keep``: whatever the fork server held (a
    multiprocessing resource-tracker pipe, say) must not reach student code. The fork server
    calls it for every kernel; :func:`enter` again, for the probe of :func:`check`."""
    keep = {int(fd) for fd in keep or ()}
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir itself used
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    if tracker is not None:  # it would write to a closed (or reused) descriptor: forget it
        tracker._resource_tracker.__dict__.update(_fd=None, _pid=None)


def _forget_grader_modules() -> None:
    """The fork server imported the grader's own package; drop it from the kernel's module
    table so that student code cannot import it (its files are hidden too)."""
    for name in [n for n in sys.modules if n == "autograder" or n.startswith("autograder.")]:
        del sys.modules[name]


def enter(request: dict) -> None:
    """Called in the forked kernel process: enter the sandbox described in its environment.

    Returns in a new process (the kernel, PID 1 of its own PID namespace); the process that
    called it stays behind as its waiter and never returns."""
    raw = request["env"].get(ENV_KEY)
    os.environ.pop(ENV_KEY, None)
    if not raw:
        return
    p = json.loads(raw)
    close_inherited(request.get("keep_fds"))
    _join_cgroups(p["cgroup"], p["processes"])  # before the fork: the kernel is born inside
    _enter_pid_namespace()
    _mounts(p)
    os.chdir(p["notebook_dir"])
    _limits_and_nobody(p)
    _forget_grader_modules()
    home = "/tmp/home"
    os.makedirs(home, exist_ok=True)
    os.environ.update(
        HOME=home,
        IPYTHONDIR=f"{home}/.ipython",
        MPLCONFIGDIR=f"{home}/.matplotlib",
        XDG_CACHE_HOME=f"{home}/.cache",
        TORCH_HOME=f"{home}/.torch",
    )


def _probe(p: dict, report: int) -> str:
    """In the probe's sandboxed child: "ok", or what does not work (it reports on ``report``)."""
    enter({"env": {ENV_KEY: json.dumps(p)}, "keep_fds": [report]})
    if os.getpid() != 1:
        return f"the kernel is not alone in a PID namespace (it is PID {os.getpid()})"
    seen = sorted(int(n) for n in os.listdir("/proc") if n.isdigit())
    if seen != [1]:
        return f"/proc shows processes outside the kernel ({len(seen)} of them)"
    if Path("seed.txt").read_text() != "seed":
        return "the notebook folder's files were not copied into its private tmpfs"
    vfs = os.statvfs(".")
    if vfs.f_blocks * vfs.f_frsize > p["disk_bytes"]:
        return "the notebook folder is not a private tmpfs of the configured size"
    Path("probe").write_text("ok")
    return "ok"


def check(workdir: Path) -> str | None:
    """None if a sandboxed child can start here, else the reason it cannot (one line)."""
    if os.geteuid() != 0:
        return "the sandbox needs the grader to run as root (namespaces, mounts, dropping to nobody)"
    probe = Path(workdir) / ".sandbox-probe"
    ipc = Path("/tmp") / f"cgprobe{os.getpid()}"
    for d in (probe, ipc):
        d.mkdir(parents=True, exist_ok=True)
    (probe / "seed.txt").write_text("seed")
    p = policy(str(probe), str(ipc), workdir, cpu_seconds=10, cuda=False)
    prepare_folders(p)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            msg = _probe(p, w)
        except BaseException as e:  # noqa: BLE001
            msg = f"{type(e).__name__}: {e}"
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4000).decode() or "the probe died before it reported"
    os.close(r)
    os.waitpid(pid, 0)
    cleanup(p)
    if msg == "ok" and (probe / "probe").exists():
        msg = "the kernel wrote into the real notebook folder (it should get a private copy)"
    shutil.rmtree(probe, ignore_errors=True)
    shutil.rmtree(ipc, ignore_errors=True)
    return None if msg == "ok" else f"the sandbox could not start: {msg.splitlines()[0] if msg else '?'}"
