"""Under the course's grader the kernel only collects; the grader's process judges, once.

These run the two halves in this process (no kernel) to pin down what each half keeps and
decides: the kernel's results are small (the weights the grader compares with are drawn from
a seed, not saved), the grader's verdict passes a right network and names the fault of a wrong
one, every ``run_hidden`` of a cell is judged, and the hidden cases follow the instructor's
secret (the per-process cache never serves one secret's cases for another).
"""
import nbformat
import torch
from torch import nn

from autograder import verdicts
from convcourse import grading
from convcourse.grading import RESULTS_ENV, hidden_cases, run_hidden, trusted_verdict
from convcourse.grading.ch06 import alexnet_reference


def _alexnet_without_first_relu(in_channels, num_classes):
    net = alexnet_reference(in_channels, num_classes)
    net[1] = nn.Identity()
    return net


def test_kernel_saves_little_and_the_grader_judges(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    run_hidden("ch06.alexnet", alexnet_reference)
    assert "the grader judges the results" in capsys.readouterr().out
    saved = tmp_path / "ch06.alexnet.pt"
    # two AlexNets' weights would be 375 MB; shapes, layer traces and outputs are a few kB
    assert saved.stat().st_size < 100_000
    assert trusted_verdict("ch06.alexnet", str(saved), torch.device("cpu")) is None

    run_hidden("ch06.alexnet", _alexnet_without_first_relu)  # the kernel does not judge: no error here
    reason = trusted_verdict("ch06.alexnet", str(saved), torch.device("cpu"))
    assert reason is not None and "\n" not in reason
    assert "layer 2" in reason and "Identity" in reason


def test_every_run_hidden_of_a_cell_is_judged_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))

    def grouped_params(c_i, c_o, kernel_size, groups, bias=True):
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        return c_o * (c_i // groups * k[0] * k[1] + int(bias))

    def separable_wrong(c_i, c_o, kernel_size, bias=True):
        return 0

    run_hidden("ch03.grouped_params", grouped_params)
    run_hidden("ch03.separable_params", separable_wrong)
    cell = nbformat.v4.new_code_cell(
        'run_hidden("ch03.grouped_params", grouped_params)\n'
        'run_hidden("ch03.separable_params", separable_params)',
        metadata={"nbgrader": {"grade": True, "grade_id": "test_grouped", "points": 2}})
    nb = nbformat.v4.new_notebook(cells=[cell])
    failed = verdicts.apply(nb, str(tmp_path), "cpu")
    kinds = [o["output_type"] for o in cell.outputs]
    assert kinds == ["stream", "error"]
    assert "ch03.grouped_params: all hidden cases passed" in cell.outputs[0]["text"]
    assert len(failed) == 1 and failed[0].startswith("test_grouped: ")


def test_hidden_cases_follow_the_secret(monkeypatch):
    item = grading.get_item("ch01.corr2d")
    monkeypatch.setenv("COURSE_GRADING_SEED", "first secret")
    first = hidden_cases(item, torch.device("cpu"))
    assert hidden_cases(item, torch.device("cpu")) is first  # made once per process
    monkeypatch.setenv("COURSE_GRADING_SEED", "second secret")
    second = hidden_cases(item, torch.device("cpu"))
    assert len(first) == len(second)
    assert any(not torch.equal(a[0], b[0]) if a[0].shape == b[0].shape else True
               for a, b in zip(first, second))
