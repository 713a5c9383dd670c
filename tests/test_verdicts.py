"""Under the course's grader the kernel only runs what the grader sends; the grader decides.

These run the two halves in this process (no kernel) to pin down what each half keeps and
decides: what the kernel runs arrives by value and never holds an oracle, its results are small
(the weights the grader compares with are drawn from a seed, not saved), the grader's verdict
passes a right network and names the fault of a wrong one, every ``run_hidden`` of a cell is
judged, the score of a graded cell is the verdict whatever the cell printed, and the hidden
cases follow the instructor's secret.
"""
import cloudpickle
import nbformat
import torch
from torch import nn

from autograder import judge, verdicts
from autograder.scan import Findings
from convcourse import grading
from convcourse.grading import hidden_cases, payload, set_secret, verdict
from convcourse.grading.ch06 import alexnet_reference

CPU = torch.device("cpu")


def _alexnet_without_first_relu(in_channels, num_classes, image_size=224):
    net = alexnet_reference(in_channels, num_classes, image_size)
    net[1] = nn.Identity()
    return net


def _kernel(item_id: str, obj) -> bytes:
    """What a kernel does with the grader's payload."""
    return cloudpickle.loads(payload(item_id, CPU))(obj)


def test_payload_carries_the_run_and_the_cases_but_no_oracle():
    data = payload("ch01.corr2d", CPU)
    assert b"cross-correlation of one matrix" not in data  # the docstring of ch01's oracle helper
    assert b"def learn_oracle" not in data and b"learn_oracle" not in data
    assert payload("ch01.corr2d", CPU) is data  # made once per grading process


def test_kernel_sends_little_and_the_grader_judges():
    results = _kernel("ch06.alexnet", alexnet_reference)
    # two AlexNets' weights would be 375 MB; shapes, layer traces and outputs are a few kB
    assert len(results) < 100_000
    assert verdict("ch06.alexnet", results, CPU) is None
    reason = verdict("ch06.alexnet", _kernel("ch06.alexnet", _alexnet_without_first_relu), CPU)
    assert reason is not None and "\n" not in reason
    assert "layer 2" in reason and "Identity" in reason


def test_hostile_results_fail_without_crashing():
    assert verdict("ch01.corr2d", None, CPU).startswith("the hidden tests of this item did not")
    assert verdict("ch01.corr2d", b"\x80\x04junk", CPU) == "the results of the hidden tests could not be read"
    import io
    buffer = io.BytesIO()
    torch.save([{"received": torch.zeros(2, 2), "error": None}] * 99, buffer)
    assert "incomplete" in verdict("ch01.corr2d", buffer.getvalue(), CPU)


def test_results_that_would_blow_up_in_the_grader_are_refused():
    import io
    import zipfile
    huge = torch.zeros(1).expand(1 << 40)  # a view of 2**40 elements on one float
    buffer = io.BytesIO()
    torch.save([{"received": huge, "error": None}], buffer)
    assert "far larger" in verdict("ch01.corr2d", buffer.getvalue(), CPU)
    bomb = io.BytesIO()  # a zip whose member inflates: torch.save never writes one
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\0" * (8 << 20))
    assert len(bomb.getvalue()) < 100_000
    assert "not in the form" in verdict("ch01.corr2d", bomb.getvalue(), CPU)


class _Channel:
    def __init__(self, results, evidence=()):
        self.results, self.evidence = results, list(evidence)


def _graded_cell(source, grade_id, outputs=()):
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id,
                                                                    "points": 2}})
    cell.outputs = list(outputs)
    return cell


def _plan(cells):
    calls = {c.metadata["nbgrader"]["grade_id"]: tuple(
        judge.HiddenCall(i, e) for i, e in judge.CALL.findall(c.source)) for c in cells}
    return judge.Plan(calls, frozenset(), frozenset(c.source for c in cells),
                      {c.source: c.metadata["nbgrader"]["grade_id"] for c in cells})


def test_every_run_hidden_of_a_cell_is_judged_in_order():
    def grouped_params(c_i, c_o, kernel_size, groups, bias=True):
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        return c_o * (c_i // groups * k[0] * k[1] + int(bias))

    cell = _graded_cell('run_hidden("ch03.grouped_params", grouped_params)\n'
                        'run_hidden("ch03.separable_params", separable_params)', "test_grouped")
    results = {"ch03.grouped_params": _kernel("ch03.grouped_params", grouped_params),
               "ch03.separable_params": _kernel("ch03.separable_params", lambda *a, **k: 0)}
    nb = nbformat.v4.new_notebook(cells=[cell])
    failed = verdicts.apply(nb, _plan([cell]), _Channel(results), Findings(), "cpu")
    assert [o["output_type"] for o in cell.outputs] == ["error"]
    assert len(failed) == 1 and failed[0].startswith("test_grouped: ")
    results["ch03.separable_params"] = _kernel("ch03.separable_params",
                                               lambda c_i, c_o, kernel_size, bias=True: grouped_params(
                                                   c_i, c_i, kernel_size, c_i, bias) + grouped_params(
                                                   c_i, c_o, 1, 1, bias))
    assert verdicts.apply(nb, _plan([cell]), _Channel(results), Findings(), "cpu") == []


def _true_convolution(X, K):
    """A right answer to ch01.conv2d_flip in plain tensor operations (the item forbids F.conv2d)."""
    kh, kw = K.shape
    flipped = K.flip(0, 1)
    return torch.stack([torch.stack([(X[i:i + kh, j:j + kw] * flipped).sum() for j in range(X.shape[1] - kw + 1)])
                        for i in range(X.shape[0] - kh + 1)])


def test_the_score_is_the_verdict_whatever_the_cell_printed():
    """A forged value, display or error text in a test cell changes nothing: outputs are rewritten."""
    forged = [nbformat.v4.new_output("execute_result", data={"text/plain": "10"}, execution_count=1),
              nbformat.v4.new_output("stream", name="stdout", text="all hidden cases passed\n")]
    blank = _graded_cell('run_hidden("ch01.corr2d", corr2d)', "test_corr2d", forged)
    warned = _graded_cell('run_hidden("ch01.conv2d_flip", conv2d)', "test_conv2d_flip",
                          [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n")])
    nb = nbformat.v4.new_notebook(cells=[blank, warned])
    flip = _kernel("ch01.conv2d_flip", _true_convolution)
    verdicts.apply(nb, _plan([blank, warned]), _Channel({"ch01.conv2d_flip": flip}), Findings(), "cpu")
    assert all(o["output_type"] != "execute_result" for o in blank.outputs)
    assert blank.outputs[-1]["output_type"] == "error"            # no results: 0, whatever it printed
    assert [o.get("name") for o in warned.outputs] == ["stdout", "stdout"]  # the warning kept, as text
    assert "careful" in warned.outputs[0]["text"]
    tampered = _Channel({"ch01.conv2d_flip": flip}, [judge.Evidence("cell x line 1: gc.get_objects", "ch01.conv2d_flip")])
    verdicts.apply(nb, _plan([blank, warned]), tampered, Findings(), "cpu")
    assert warned.outputs[-1]["evalue"] == verdicts.REVIEW


def test_hidden_cases_follow_the_secret():
    item = grading.get_item("ch01.corr2d")
    try:
        set_secret("first secret")
        first = hidden_cases(item, CPU)
        assert hidden_cases(item, CPU) is first  # made once per process
        set_secret("second secret")
        second = hidden_cases(item, CPU)
    finally:
        set_secret(None)
    assert len(first) == len(second)
    assert any(not torch.equal(a[0], b[0]) if a[0].shape == b[0].shape else True
               for a, b in zip(first, second))
