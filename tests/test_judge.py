"""The grader's end of the channel, driven by a hand-made kernel: what it serves, when, and what
it records. (The real kernel's side is exercised end to end by the attack corpus.)"""
import json
import socket
import time

import pytest

from autograder import judge
from convcourse import hidden

CELL = 'run_hidden("ch01.corr2d", corr2d)'
PLAN = judge.Plan({"test_corr2d": (judge.HiddenCall("ch01.corr2d", "corr2d"),)}, frozenset(),
                  frozenset({CELL}), {CELL: "test_corr2d"})


@pytest.fixture
def channel(tmp_path):
    ch = judge.Channel(str(tmp_path), PLAN, "cpu", student_cells={"123.py": "cell corr2d"})
    kernel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    kernel.connect(ch.path)
    hidden.recv_frame(kernel, 1 << 20)  # the course's cell files
    yield ch, kernel
    kernel.close()
    ch.close()


def _ask(kernel, item="ch01.corr2d"):
    hidden.send_frame(kernel, hidden.REQUEST, json.dumps({"item": item}).encode())
    return hidden.recv_frame(kernel, 1 << 31)[0]


def _settle(ch, n):
    for _ in range(100):
        if len(ch.evidence) + len(ch.results) >= n:
            return
        time.sleep(0.02)


def test_cases_only_for_the_running_test_cell_and_once(channel):
    ch, kernel = channel
    assert _ask(kernel) == hidden.REFUSED             # no test cell is running
    ch.enter_cell("test_corr2d")
    assert _ask(kernel) == hidden.PAYLOAD
    assert _ask(kernel) == hidden.REFUSED             # a second request in the same run of the cell
    _settle(ch, 2)
    assert [e.item for e in ch.evidence] == [None, "ch01.corr2d"]  # the second one is a forgery


def test_a_copied_test_cell_is_refused_but_the_first_results_stand(channel):
    ch, kernel = channel
    ch.enter_cell("test_corr2d")
    assert _ask(kernel) == hidden.PAYLOAD
    hidden.send_frame(kernel, hidden.RESULTS, b"ch01.corr2d\nfirst")
    ch.enter_cell("test_corr2d")                      # the copy runs later
    assert _ask(kernel) == hidden.REFUSED
    _settle(ch, 2)
    assert ch.results == {"ch01.corr2d": b"first"} and ch.evidence[-1].item is None


def test_two_sets_of_results_fail_the_item(channel):
    ch, kernel = channel
    ch.enter_cell("test_corr2d")
    assert _ask(kernel) == hidden.PAYLOAD
    hidden.send_frame(kernel, hidden.RESULTS, b"ch01.corr2d\nforged")
    hidden.send_frame(kernel, hidden.RESULTS, b"ch01.corr2d\nreal")
    _settle(ch, 2)
    time.sleep(0.1)
    assert "ch01.corr2d" not in ch.results
    assert ch.evidence[-1].item == "ch01.corr2d"


def test_audit_reports_from_student_cells_are_kept_and_tied_to_the_running_item(channel):
    ch, kernel = channel
    report = {"event": "gc.get_objects", "cell": "123.py", "line": 3, "detail": "(-1,)"}
    hidden.send_frame(kernel, hidden.AUDIT, json.dumps(report).encode())
    hidden.send_frame(kernel, hidden.AUDIT, json.dumps({**report, "cell": "999.py"}).encode())  # course's
    ch.enter_cell("test_corr2d")
    assert _ask(kernel) == hidden.PAYLOAD
    hidden.send_frame(kernel, hidden.AUDIT, json.dumps(report).encode())
    _settle(ch, 2)
    time.sleep(0.1)
    assert [(e.text, e.item) for e in ch.evidence] == [
        ("cell corr2d line 3: gc.get_objects (-1,)", None), ("cell corr2d line 3: gc.get_objects (-1,)", "ch01.corr2d")]


def test_an_oversized_frame_ends_the_channel(channel):
    ch, kernel = channel
    kernel.sendall(hidden._HEADER.pack(hidden.AUDIT, judge.FRAME_LIMIT + 1))
    _settle(ch, 1)
    assert "too much data" in ch.evidence[0].text


def test_evidence_is_printable(channel):
    ch, kernel = channel
    report = {"event": "gc.get_objects\x1b[2J", "cell": "123.py", "line": 3, "detail": "\x07\n"}
    hidden.send_frame(kernel, hidden.AUDIT, json.dumps(report).encode())
    _settle(ch, 1)
    assert ch.evidence[0].text.isprintable()
