"""The static scan: honest answers pass untouched; forbidden routines and reflection in the code
an item uses fail that item; tampering elsewhere is reported, not scored.

The scan runs in the grader on the notebook's text, so nothing a student's code does at run
time can switch it off. Each case below is a real answer cell as a student would write it.
"""
import os

import nbformat
import pytest

from autograder import judge, scan
from autograder.config import SOLUTIONS
from autograder.synthetic import submission

CHAPTERS = [f"ch{i:02d}" for i in range(1, 11)]


def _plan(assignment):
    source = SOLUTIONS / assignment / f"{assignment}.ipynb"
    return judge.plan(str(source), os.stat(source).st_mtime_ns)


def _as_graded(assignment, replace=None):
    """A submission with its test cells as the grader runs them (restored from the source)."""
    nb = submission(assignment, replace=replace)
    source = nbformat.read(str(SOLUTIONS / assignment / f"{assignment}.ipynb"), as_version=4)
    locked = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
              if c.metadata.get("nbgrader", {}).get("locked")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in locked:
            cell.source = locked[gid]
    return nb


@pytest.mark.parametrize("assignment", CHAPTERS)
def test_the_course_solutions_raise_nothing(assignment):
    findings = scan.scan(_as_graded(assignment), _plan(assignment))
    assert findings.blocked == {} and findings.suspicious == []


SIG = "def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):\n"
BLOCKED = {  # answer for ch03's conv2d_matmul -> what the reason must mention
    "alias at top level": ("f = torch.nn.functional.conv2d\n" + SIG + "    return f(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)",
                           "torch.nn.functional.conv2d"),
    "module": (SIG + "    return nn.Conv2d(1, 1, 3)(X)", "nn.Conv2d"),
    "helper": ("def helper(X, K):\n    import torch.nn.functional as G\n    return G.conv2d(X, K)\n"
               + SIG + "    return helper(X, K)", "G.conv2d"),
    "computed getattr": (SIG + "    return getattr(torch.nn.functional, 'con' + 'v2d')(X, K)", "getattr"),
    "star import": ("from torch.nn.functional import *\n" + SIG + "    return conv2d(X, K)", "conv2d"),
}


@pytest.mark.parametrize("name", sorted(BLOCKED))
def test_forbidden_routines_and_reflection_fail_the_item(name):
    answer, mention = BLOCKED[name]
    findings = scan.scan(_as_graded("ch03", {"conv2d_matmul": answer}), _plan("ch03"))
    assert set(findings.blocked) == {"ch03.conv2d_matmul", "ch03.conv2d_matmul_valid"}
    assert mention in findings.blocked["ch03.conv2d_matmul"]
    assert "\n" not in findings.blocked["ch03.conv2d_matmul"]


# ch01's corr2d: the chapter's per-pixel loop moved out of PyTorch's dispatcher, where the
# operation budget of the hidden test cannot count it (a loop over NumPy arrays or Python lists)
_LOOP = '''
    h, w = len(k), len(k[0])
    rows, cols = len(x) - h + 1, len(x[0]) - w + 1
    y = [[sum(x[i + a][j + b] * k[a][b] for a in range(h) for b in range(w)) for j in range(cols)]
         for i in range(rows)]
    return torch.tensor(y, dtype=X.dtype, device=X.device)
'''
OUT_OF_DISPATCH = {
    "numpy": ("import numpy as np\ndef corr2d(X, K):\n    x, k = np.asarray(X.detach().cpu()), np.asarray(K.detach().cpu())"
              + _LOOP, "numpy"),
    "tolist": ("def corr2d(X, K):\n    x, k = X.tolist(), K.tolist()" + _LOOP, "X.tolist"),
}


@pytest.mark.parametrize("name", sorted(OUT_OF_DISPATCH))
def test_a_loop_outside_the_dispatcher_fails_corr2d(name):
    answer, mention = OUT_OF_DISPATCH[name]
    findings = scan.scan(_as_graded("ch01", {"corr2d": answer}), _plan("ch01"))
    assert set(findings.blocked) == {"ch01.corr2d"}
    assert mention in findings.blocked["ch01.corr2d"] and "forbids" in findings.blocked["ch01.corr2d"]


def test_a_name_hidden_from_the_visible_check_is_refused_as_reflection():
    """The visible check reads the names a function's code uses, so ``getattr(X, 'to' + 'list')``
    passes it; the grader's scan refuses the computed attribute itself, and says so."""
    answer = "def corr2d(X, K):\n    x, k = getattr(X, 'to' + 'list')(), getattr(K, 'to' + 'list')()" + _LOOP
    findings = scan.scan(_as_graded("ch01", {"corr2d": answer}), _plan("ch01"))
    assert set(findings.blocked) == {"ch01.corr2d"}
    assert "getattr() with a computed or private name" in findings.blocked["ch01.corr2d"]


TAMPERING = {  # answer for ch03's conv2d_matmul -> what the reason must mention
    "disable modes": (SIG + "    from torch.utils._python_dispatch import _disable_current_modes\n"
                      "    with _disable_current_modes():\n        return X", "torch.utils._python_dispatch"),
    "eval": (SIG + "    return eval('torch.nn.functional.conv' + '2d')(X, K)", "eval"),
    "private torch": (SIG + "    torch._C._set_dispatch_mode(None)\n    return X", "torch._C"),
    "frames": (SIG + "    import sys\n    return sys._getframe(1).f_locals['case'][0]", "sys"),
    "dispatch mode": ("from torch.utils import _python_dispatch as d\n"
                      "class Rewrite(d.TorchDispatchMode):\n    pass\n" + SIG + "    return X", "dispatch mode (Rewrite)"),
    "sys.modules": ("import sys\nsys.modules['convcourse.hidden'].run_hidden = print\n" + SIG + "    return X",
                    "sys.modules"),
    "exec as a value": ("run = exec\n" + SIG + "    return X", "exec"),
    "attrgetter": ("from operator import attrgetter\n" + SIG +
                   "    pop = attrgetter('_C.' + '_pop_torch_dispatch_stack')(torch)\n    return X", "attrgetter"),
    "getattr as a value": ("import functools\n" + SIG + "    d = functools.reduce(getattr, ['utils', "
                           "'_python_dispatch'], torch)\n    return X", "getattr as a value"),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampering_with_grading_fails_every_item(name):
    """From the moment such code runs, nothing the kernel sends back can be trusted."""
    answer, mention = TAMPERING[name]
    findings = scan.scan(_as_graded("ch03", {"conv2d_matmul": answer}), _plan("ch03"))
    assert set(findings.blocked) == {c.item for calls in _plan("ch03").calls.values() for c in calls}
    assert any(mention in f.text for f in findings.suspicious)
    assert "\n" not in findings.blocked["ch03.corr2d_multi_in"]


def test_switching_the_check_off_for_everything_fails_every_item():
    """A top-level patch of the dispatch machinery belongs to the code of every item."""
    patch = ("import torch.utils._python_dispatch as d\nd.TorchDispatchMode.__enter__ = lambda self: self\n")
    nb = _as_graded("ch03", {"conv2d_matmul": patch + SIG + "    return X"})
    findings = scan.scan(nb, _plan("ch03"))
    assert set(findings.blocked) == {c.item for calls in _plan("ch03").calls.values() for c in calls}
    assert any("torch.utils._python_dispatch" in f.text for f in findings.suspicious)


def test_patching_elsewhere_is_reported_not_scored():
    trick = ("def blur_kernel(k):\n    return torch.ones((k, k)) / k**2\n"
             "torch.allclose = lambda *a, **k: True\nip = get_ipython()\n")
    kernels = _as_graded("ch01").cells
    original = next(c.source for c in kernels if c.metadata.get("nbgrader", {}).get("grade_id") == "kernels")
    findings = scan.scan(_as_graded("ch01", {"kernels": original.split("def blur_kernel")[0] + trick}),
                         _plan("ch01"))
    assert findings.blocked == {}
    assert any("get_ipython" in f.text for f in findings.suspicious)
    assert all(f.cell == "cell kernels" for f in findings.suspicious)


def test_a_crash_is_not_tampering():
    """``os._exit`` in an answer kills the kernel (its own loss), it does not reach into grading."""
    findings = scan.scan(_as_graded("ch01", {"kernels": "import os\nos._exit(3)"}), _plan("ch01"))
    assert findings.blocked == {}
    assert [f.what for f in findings.suspicious] == ["imports os", "reaches the private os._exit"]
    assert not any(f.tampering for f in findings.suspicious)


# The course's own answers reached in ways that the visible test's in-process check
# (convcourse.check.course_answer_used, which follows names, not values in containers) does not
# see: the grader's scan is what decides, and it blocks each of them.
HIDDEN_COURSE_ANSWERS = {
    "kept in a list": "import convcourse.train as _t\nBOX = [_t.evaluate_accuracy]\n\n"
                      "def accuracy(net, data_iter):\n    return BOX[0](net, data_iter)\n",
    "through __import__": 'TOOLS = {"ea": getattr(__import__("convcourse.train", fromlist=["x"]), '
                          '"evaluate_accuracy")}\n\ndef accuracy(net, data_iter):\n'
                          '    return TOOLS["ea"](net, data_iter)\n',
    "package attribute": "def accuracy(net, data_iter):\n    import convcourse.train\n"
                         "    return convcourse.train.evaluate_accuracy(net, data_iter)\n",
}


@pytest.mark.parametrize("name", sorted(HIDDEN_COURSE_ANSWERS))
def test_the_course_answers_are_blocked_however_they_are_reached(name):
    findings = scan.scan(_as_graded("ch05", {"accuracy": HIDDEN_COURSE_ANSWERS[name]}), _plan("ch05"))
    assert "convcourse.train" in findings.blocked["ch05.accuracy"] or "__import__" in findings.blocked["ch05.accuracy"]
