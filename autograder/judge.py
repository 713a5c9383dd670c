"""The grader's end of a kernel's channel: hidden cases out, results and tamper reports in.

One :class:`Channel` per notebook run, in the grading worker (which a kernel cannot reach
except through this socket). It listens on a Unix socket in the run's private folder; the
kernel process connects once, before any student code runs
(:func:`convcourse.hidden.attach`), and the listener is closed at once, so nothing started
later can connect. A thread serves that one connection:

- a request for an item's cases is answered only while the test cell that calls
  ``run_hidden`` for that item *in the course's source* is running, and only once; anything
  else is refused and recorded as suspicious;
- the results sent back for an item are kept, bounded, for :func:`convcourse.grading.verdict`;
- audit reports from the kernel's hook are kept as evidence, tied to the item whose hidden
  cases were running when they arrived (that item then fails).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import nbformat

from convcourse import hidden
from convcourse.grading import RESULTS_LIMIT

CALL = re.compile(r"""run_hidden\(\s*["']([\w.]+)["']\s*,\s*(.+?)\)\s*$""", re.M)
FRAME_LIMIT = 1 << 16  # bytes of a request or an audit report
ACCEPT_SECONDS = 120.0


@dataclass(frozen=True)
class HiddenCall:
    """One ``run_hidden(item, expression)`` line of a test cell in the course's source."""

    item: str
    expression: str


@dataclass(frozen=True)
class Plan:
    """What the course's source says about one notebook: the hidden calls of each test cell,
    the forbidden family of each item, and the file names ipykernel gives its locked cells."""

    calls: dict[str, tuple[HiddenCall, ...]]
    locked_files: frozenset[str]
    locked_sources: frozenset[str]
    test_ids: dict[str, str]  # source of a test cell -> its grade_id

    def test_id(self, source: str) -> str | None:
        """The grade_id of the course's test cell with exactly this source, if any."""
        return self.test_ids.get(source)


def cell_file(source: str) -> str:
    """The file name ipykernel gives a cell's code (its murmur2 hash), as the audit hook sees it."""
    from ipykernel.compiler import get_tmp_hash_seed, murmur2_x86

    return f"{murmur2_x86(source, get_tmp_hash_seed())}.py"


@lru_cache(maxsize=64)
def plan(source_path: str, mtime_ns: int) -> Plan:
    """The :class:`Plan` of a source notebook (read once per version of the file)."""
    nb = nbformat.read(source_path, as_version=4)
    calls, locked, ids = {}, [], {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked") or meta.get("grade"):
            locked.append(cell.source)
        if meta.get("grade") and cell.cell_type == "code":
            calls[meta["grade_id"]] = tuple(HiddenCall(i, e.strip()) for i, e in CALL.findall(cell.source))
            ids[cell.source] = meta["grade_id"]
    return Plan(calls, frozenset(cell_file(s) for s in locked), frozenset(locked), ids)


def split_cells(nb, plan: Plan) -> tuple[list[tuple[str, str]], list[str]]:
    """The code cells a student wrote, as (label, source), and the course's own code cells
    (those whose source is the course's locked or test cell, as nbgrader restored it)."""
    student, course = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.source in plan.locked_sources:
            course.append(cell.source)
        else:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            student.append((f"cell {gid}" if gid else f"added cell {i + 1}", cell.source))
    return student, course


@dataclass
class Evidence:
    """Something the kernel did that a grader should look at."""

    text: str
    item: str | None = None  # the item whose hidden cases were running, if any


@dataclass
class Channel:
    """Serves one kernel (see the module docstring)."""

    folder: str
    plan: Plan
    device: str
    results: dict[str, bytes] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    student_cells: dict[str, str] = field(default_factory=dict)  # cell file -> label

    def __post_init__(self):
        self.path = os.path.join(self.folder, "judge.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        self._lock = threading.Lock()
        self._cell: str | None = None
        self._cell_runs = 0  # cells started so far
        self._served: dict[str, int] = {}  # item -> the cell run that asked for it
        self._running: str | None = None
        self._conn: socket.socket | None = None
        self.fault: str | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="judge-channel")
        self._thread.start()

    def enter_cell(self, grade_id: str | None) -> None:
        """nbclient is about to run this cell (None: a cell of no test)."""
        with self._lock:
            self._cell = grade_id
            self._cell_runs += 1

    def close(self) -> None:
        for s in (self._listener, self._conn):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        self._thread.join(5)

    def _serve(self) -> None:
        self._listener.settimeout(ACCEPT_SECONDS)
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._listener.close()
        self._conn = conn
        try:
            hidden.send_frame(conn, hidden.PAYLOAD, json.dumps(sorted(self.plan.locked_files)).encode())
            while True:
                limit = FRAME_LIMIT if self._running is None else RESULTS_LIMIT
                kind, data = hidden.recv_frame(conn, limit)
                self._handle(conn, kind, data)
        except (ConnectionError, OSError):
            return
        except ValueError as e:  # an oversized frame: the item fails, the channel ends
            self._note(f"the kernel sent too much data ({e})", self._running)
        except Exception as e:  # noqa: BLE001 - a grader fault: the kernel must not wait forever
            self.fault = f"the grader could not serve the hidden tests: {type(e).__name__}: {e}"
            conn.close()

    def _handle(self, conn, kind: bytes, data: bytes) -> None:
        if kind == hidden.AUDIT:
            self._audit(data)
        elif kind == hidden.REQUEST:
            self._request(conn, data)
        elif kind == hidden.RESULTS:
            self._results(data)
        else:
            self._note(f"an unexpected message on the grading channel ({kind!r})", self._running)

    def _results(self, data: bytes) -> None:
        """``<item>\n<bytes>``: accepted once per item whose cases were sent."""
        head, _, body = data.partition(b"\n")
        item = head.decode(errors="replace")
        if item in self.results:  # the harness sends one: a second one is forged
            del self.results[item]
            self._note(f"two sets of results for {item!r}: one of them was not the grader's code's", item)
            return
        if item not in self._served:
            self._note(f"results for {item!r} that the grader did not ask for", None)
            return
        self.results[item] = body
        if self._running == item:
            self._running = None

    def _request(self, conn, data: bytes) -> None:
        try:
            item = str(json.loads(data)["item"])
        except (ValueError, KeyError, TypeError):
            item = "?"
        with self._lock:
            cell, run = self._cell, self._cell_runs
        allowed = {c.item for c in self.plan.calls.get(cell, ())} if cell else set()
        if item not in allowed or item in self._served:
            # A copied test cell asks again from another cell run: its first results stand. Two
            # requests from one run of the cell, which asks once, mean a forged request.
            forged = self._served.get(item) == run
            self._note(
                f"run_hidden({item!r}) was called outside its own test cell "
                f"(running: {cell or 'a cell with no test'}) or twice",
                item if forged else None,
            )
            hidden.send_frame(conn, hidden.REFUSED, b"the grader runs each hidden test once, from its own test cell")
            return
        import torch

        from convcourse.grading import payload

        self._served[item] = run
        self._running = item
        hidden.send_frame(conn, hidden.PAYLOAD, payload(item, torch.device(self.device)))

    def _audit(self, data: bytes) -> None:
        try:
            report = json.loads(data)
            where = self.student_cells.get(str(report["cell"]))
            text = f"{where} line {int(report['line'])}: {str(report['event'])[:60]} {str(report['detail'])[:120]}"
        except (ValueError, KeyError, TypeError):
            self._note("a malformed audit report", self._running)
            return
        if where is not None:  # events under the course's own cells are not the student's
            self._note(text, self._running)

    def _note(self, text: str, item: str | None) -> None:
        """Keep one line of evidence (at most 100), printable only: it reaches the instructor's
        terminal, and a kernel could send escape sequences."""
        if len(self.evidence) < 100:
            self.evidence.append(Evidence(printable(text), item))


def printable(text: str, limit: int = 300) -> str:
    """``text`` as one line of printable characters, at most ``limit`` long."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])
