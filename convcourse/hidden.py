"""The kernel's half of a hidden test: ``run_hidden(item_id, obj)`` and the grader's channel.

Under the course's grader (``course autograde``) the kernel holds nothing that decides a
score: no secret, no hidden case, no oracle, no verdict. Before any student code runs, the
kernel process connects to its grader over a private Unix socket (:func:`attach`) and installs
an audit hook, which cannot be removed, that reports tampering events raised by student code
(ctypes, the garbage collector's object lists, frame access, ``exec``/``compile``) on that
socket as they happen. When a hidden-test cell calls ``run_hidden``, the kernel asks the grader
for the item; the grader answers only while that very test cell runs, once per item, with
the hidden cases and the code that applies the student's object to them (sent by value, so
nothing a student patched in the course package is used). The kernel runs it and sends back
what the student's code returned; the grader judges in its own process.

Anywhere else (a student's own Jupyter, stock ``nbgrader autograde``) there is no channel and
``run_hidden`` judges here with :mod:`convcourse.grading` — convenient, but a student's code in
the same process could fool it; only ``course autograde`` is trusted (see the README).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading

# Frame kinds on the channel: kernel -> grader
AUDIT, REQUEST, RESULTS = b"A", b"Q", b"R"
# grader -> kernel
PAYLOAD, REFUSED = b"P", b"E"
_HEADER = struct.Struct("!cI")
CELL_PREFIX = "/tmp/ipykernel_"  # where ipykernel says a cell's code comes from
# Audit events that grading code never needs and tampering does.
WATCHED = (
    "ctypes.",
    "gc.get_",
    "sys._getframe",
    "sys._current_frames",
    "object.__getattr__",
    "object.__setattr__",
    "object.__delattr__",
    "exec",
    "compile",
    "code.__new__",
    "function.__new__",
    "marshal.loads",
    "pickle.find_class",
    "sys.addaudithook",
    "sys.setprofile",
    "sys.settrace",
    "os.kill",
    "os.killpg",
    "os.fork",
    "os.exec",
    "os.posix_spawn",
    "subprocess.Popen",
    "os.system",
    "socket.connect",
    "socket.bind",
    "socket.__new__",
    "open",
)
# "open" only counts for these paths: another process's or one's own descriptors and memory.
WATCHED_PATHS = ("/proc", "/dev/fd", "/dev/mem", "/dev/kmem")
# Events that libraries raise on their own behalf (dataclasses exec, traceback formatting
# reads tb_frame, unpickling builds functions): they count only when a cell's code raised them
# itself, not when it merely called a library that did.
DIRECT_ONLY = (
    "exec",
    "compile",
    "object.__getattr__",
    "code.__new__",
    "function.__new__",
    "pickle.find_class",
    "marshal.loads",
)
MAX_AUDIT_REPORTS = 200
JUDGE_ENV = "COURSE_JUDGE_SOCKET"  # only for cold (unsandboxed) kernels, which connect late

_channel: socket.socket | None = None
_lock = threading.Lock()


def send_frame(sock: socket.socket, kind: bytes, data: bytes) -> None:
    sock.sendall(_HEADER.pack(kind, len(data)) + data)


def recv_frame(sock: socket.socket, limit: int) -> tuple[bytes, bytes]:
    """One frame; raises ``ValueError`` if it announces more than ``limit`` bytes."""
    kind, size = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > limit:
        raise ValueError(f"a frame of {size} bytes is over the limit of {limit}")
    return kind, _recv_exact(sock, size)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the channel closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _where(frame, trusted: frozenset, direct: bool) -> tuple[str, int] | None:
    """The innermost student cell (file, line) on the stack from ``frame`` (only ``frame``
    itself if ``direct``), or None; cells named in ``trusted`` (the course's own) end the search."""
    depth = 0
    while frame is not None and depth < 64:
        name = frame.f_code.co_filename
        if name.startswith(CELL_PREFIX):
            base = os.path.basename(name)
            return None if base in trusted else (base, frame.f_lineno)
        if direct:
            return None
        frame, depth = frame.f_back, depth + 1
    return None


def _audit_hook(sock: socket.socket, trusted: frozenset):
    """An audit hook that reports watched events raised under student cells on ``sock``."""
    getframe, busy, sent = sys._getframe, threading.local(), [0]

    def hook(event, args):
        if not event.startswith(WATCHED) or getattr(busy, "on", False) or sent[0] >= MAX_AUDIT_REPORTS:
            return
        if event == "open" and not str(args[0] if args else "").startswith(WATCHED_PATHS):
            return
        busy.on = True
        try:
            where = _where(getframe(1), trusted, event.startswith(DIRECT_ONLY))
            if where is not None:
                sent[0] += 1
                detail = repr(args)[:160]
                data = json.dumps({"event": event, "cell": where[0], "line": where[1], "detail": detail}).encode()
                with _lock:
                    os.write(sock.fileno(), _HEADER.pack(AUDIT, len(data)) + data)
        except Exception:  # noqa: BLE001 - a closed channel is seen by the grader
            pass
        finally:
            busy.on = False

    return hook


def attach(path: str) -> None:
    """Connect to the grader at ``path`` and install the audit hook (before any student code)."""
    global _channel
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    kind, data = recv_frame(sock, 1 << 20)  # the file names of the course's own cells
    _channel = sock
    sys.addaudithook(_audit_hook(sock, frozenset(json.loads(data))))


def run_hidden(item_id: str, obj) -> None:
    """The hidden test of one item, as called from its hidden-test cell."""
    if _channel is None and os.environ.get(JUDGE_ENV):
        attach(os.environ[JUDGE_ENV])
    if _channel is None:
        return _judge_here(item_id, obj)
    import cloudpickle

    with _lock:
        send_frame(_channel, REQUEST, json.dumps({"item": item_id}).encode())
    kind, data = recv_frame(_channel, 1 << 31)
    if kind != PAYLOAD:
        from .check import CheckError

        raise CheckError(data.decode(errors="replace"))
    results = cloudpickle.loads(data)(obj)  # the grader's code, run on the student's object
    with _lock:
        send_frame(_channel, RESULTS, item_id.encode() + b"\n" + results)
    print(f"{item_id}: the hidden cases ran; the grader judges the results in its own process")


def _judge_here(item_id: str, obj) -> None:
    """Without the grader: run and judge in this process (a student's own check)."""
    from .device import full_float32, get_device
    from .grading import collect, get_item, judge, passed_message

    full_float32()
    item, device = get_item(item_id), get_device()
    judge(item, collect(item, obj, device))
    print(passed_message(item_id, device))
