"""A corpus of cheating attempts: each scores 0 on the item it attacks, nothing else changes.

Every cheater below gets a correct notebook with one answer cell replaced by a wrong
answer plus a trick meant to make the wrong answer pass (or by a forbidden shortcut).
Pass or fail is decided outside the student's process and the kernel runs in the sandbox,
so none of the tricks work. An honest student in the same run gets full marks.
"""
import pytest

from autograder.config import Settings
from autograder.export import item_grades
from autograder.grade import autograde
from autograder.synthetic import submission, write_submission

WRONG_BLUR = "def blur_kernel(k):\n    return torch.ones((k, k))  # not normalised: wrong\n"
KERNELS_OK = '''
def edge_kernel(direction):
    return torch.tensor({"vertical": [[1.0, -1.0]], "horizontal": [[1.0], [-1.0]],
                         "diagonal": [[1.0, 0.0], [0.0, -1.0]]}[direction])

def laplacian_kernel():
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
'''


def blur_cheat(trick: str) -> dict:
    """ch01: a wrong blur_kernel, plus a trick that should make its test pass."""
    return {"kernels": KERNELS_OK + WRONG_BLUR + trick}


CH01 = {  # student: the trick; every one attacks test_blur_kernel (1 point)
    "patch_allclose": blur_cheat(
        "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)\n"
        "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None\n"
        "import numpy.testing\nnumpy.testing.assert_allclose = lambda *a, **k: None\n"),
    "hide_tracebacks": blur_cheat(
        "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
        "ip._showtraceback = lambda *a, **k: None\nimport sys\nsys.excepthook = lambda *a: None\n"),
    "swallow_errors": blur_cheat(
        "ip = get_ipython()\n_orig = ip.run_cell\n"
        "def _quiet(raw_cell, *a, **k):\n"
        "    body = '\\n'.join('    ' + line for line in raw_cell.splitlines()) or '    pass'\n"
        "    return _orig('try:\\n' + body + '\\nexcept BaseException:\\n    pass', *a, **k)\n"
        "ip.run_cell = _quiet\n"),
    "replace_checks": blur_cheat(
        "import convcourse.check as c, convcourse.grading as g\n"
        "c.check_tensor = lambda *a, **k: None\ng.judge = lambda *a, **k: None\n"
        "check_tensor = lambda *a, **k: None\n"),
    "lying_object": {"kernels": KERNELS_OK + '''
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.isclose, torch.Tensor.__eq__, torch.Tensor.__ne__, torch.allclose):
            return torch.zeros((), dtype=torch.bool) if func is torch.Tensor.__ne__ else torch.tensor(True)
        return super().__torch_function__(func, types, args, kwargs or {})

def blur_kernel(k):
    return torch.ones((k, k)).as_subclass(Liar)
'''},
    "read_solutions": blur_cheat(
        "import json, re\nfrom autograder.config import SOLUTIONS\ntry:\n"
        "    nb = json.load(open(SOLUTIONS / 'ch01' / 'ch01.ipynb'))\n"
        "    src = [''.join(c['source']) for c in nb['cells'] if 'def blur_kernel' in ''.join(c['source'])][0]\n"
        "    exec(re.sub(r'.*### (BEGIN|END) SOLUTION.*', '', src))\nexcept OSError:\n    pass\n"),
    "write_others": blur_cheat(
        "for target in (WORK + '/gradebook.db', WORK + '/submitted/honest/ch01/ch01.ipynb'):\n"
        "    try:\n        open(target, 'a').write('x')\n    except OSError:\n        pass\n"),
    "use_network": blur_cheat(
        "import socket\ntry:\n    socket.create_connection(('pypi.org', 443), timeout=2).close()\n"
        "    NET = True\nexcept OSError:\n    NET = False\n"),
}

MATMUL_OK_SIG = "def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):\n"
CH03 = {  # student: a conv2d_matmul that reaches a forbidden convolution routine
    "alias": MATMUL_OK_SIG + "    f = torch.nn.functional.conv2d\n    return f(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)",
    "torch_ops": MATMUL_OK_SIG + "    s = (stride, stride) if isinstance(stride, int) else stride\n"
                 "    p = (padding, padding) if isinstance(padding, int) else padding\n"
                 "    return torch.ops.aten.convolution(X, K, None, list(s), list(p), [dilation] * 2 if isinstance(dilation, int) else list(dilation), False, [0, 0], groups)",
    "importlib": MATMUL_OK_SIG + "    import importlib\n    F2 = importlib.reload(importlib.import_module('torch.nn.functional'))\n"
                 "    return F2.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)",
    "module": MATMUL_OK_SIG + "    m = nn.Conv2d(K.shape[1] * groups, K.shape[0], K.shape[2:], stride=stride, padding=padding,\n"
              "                  dilation=dilation, groups=groups, bias=False).to(X.device)\n    with torch.no_grad():\n        m.weight.copy_(K)\n"
              "    return m(X)",
}

TAMPERING = {"torch_ops", "importlib"}  # torch.ops and importlib: nothing in an exercise needs them


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("cheats")
    write_submission(work, "honest", "ch01", submission("ch01"))
    write_submission(work, "honest", "ch03", submission("ch03"))
    for student, replace in CH01.items():
        replace = {k: f"WORK = {str(work)!r}\n" + v for k, v in replace.items()}
        write_submission(work, student, "ch01", submission("ch01", replace=replace))
    honest = (work / "submitted" / "honest" / "ch01" / "ch01.ipynb").read_bytes()
    for student, source in CH03.items():
        write_submission(work, student, "ch03", submission("ch03", replace={"conv2d_matmul": source}))
    settings = Settings(work, cell_timeout=30, notebook_timeout=150, jobs=2)
    outcomes = autograde(settings, ["ch01", "ch03"], progress=False)
    scores = {}
    for g in item_grades(settings):
        scores.setdefault((g.student, g.assignment), {})[g.item] = g.score
    assert (work / "submitted" / "honest" / "ch01" / "ch01.ipynb").read_bytes() == honest
    return outcomes, scores


def test_honest_student_gets_full_marks(graded):
    outcomes, scores = graded
    assert sum(scores[("honest", "ch01")].values()) == 10
    assert sum(scores[("honest", "ch03")].values()) == 13


# Cheats that reach into grading itself (the course's grading package, the grader's modules):
# from then on nothing the kernel sends back can be trusted, so every item scores 0.
GLOBAL = {"replace_checks", "read_solutions"}


@pytest.mark.parametrize("student", sorted(set(CH01) - GLOBAL))
def test_ch01_cheat_scores_zero_on_its_item_only(graded, student):
    _, scores = graded
    got, honest = scores[(student, "ch01")], scores[("honest", "ch01")]
    assert got["test_blur_kernel"] == 0
    assert {k: v for k, v in got.items() if k != "test_blur_kernel"} == \
        {k: v for k, v in honest.items() if k != "test_blur_kernel"}


@pytest.mark.parametrize("student", sorted(GLOBAL))
def test_reaching_into_grading_scores_zero_everywhere_and_is_reported(graded, student):
    outcomes, scores = graded
    assert set(scores[(student, "ch01")].values()) == {0}
    assert next(o for o in outcomes if o.student == student).suspicious


@pytest.mark.parametrize("student", sorted(CH03))
def test_forbidden_routine_scores_zero_on_conv2d_matmul_only(graded, student):
    outcomes, scores = graded
    got, honest = scores[(student, "ch03")], scores[("honest", "ch03")]
    attacked = {"test_conv2d_matmul_valid", "test_conv2d_matmul"}
    assert all(got[k] == 0 for k in attacked)
    if student in TAMPERING:  # reaching into torch's internals fails every item, on the record
        assert set(got.values()) == {0}
        assert next(o for o in outcomes if o.student == student and o.assignment == "ch03").suspicious
        return
    assert {k: v for k, v in got.items() if k not in attacked} == \
        {k: v for k, v in honest.items() if k not in attacked}
