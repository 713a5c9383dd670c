"""Wrong answers that students are known to give are named in the hidden test's message, and
only those: another wrong answer gets the plain message (graded in-process, as the grader judges)."""
import pytest
import torch

from convcourse.check import CheckError
from convcourse.grading import collect, get_item, judge


def _message(item_id: str, answer) -> str:
    item = get_item(item_id)
    with pytest.raises(CheckError) as info:
        judge(item, collect(item, answer, torch.device("cpu")))
    return str(info.value)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _params(c_i, c_o, kernel_size, bias=True, biases_per_pair=False):
    k_h, k_w = _pair(kernel_size)
    n_bias = (c_o * c_i if biases_per_pair else c_o) if bias else 0
    return c_o * c_i * k_h * k_w + n_bias


def _flops(c_i, c_o, kernel_size, input_size, stride=1, padding=0, factor=2):
    (k_h, k_w), (n_h, n_w), (s_h, s_w), (p_h, p_w) = map(_pair, (kernel_size, input_size, stride, padding))
    return factor * k_h * k_w * c_i * ((n_h + 2 * p_h - k_h) // s_h + 1) * ((n_w + 2 * p_w - k_w) // s_w + 1) * c_o


def _shape(input_size, kernel_size, padding=0, stride=1, dilation=1, extra_stride=False):
    if padding == "same":
        return _pair(input_size)
    padding = 0 if padding == "valid" else padding
    if isinstance(padding, int) or len(padding) == 2:
        totals = tuple(2 * p for p in _pair(padding))
    else:  # (left, right, top, bottom), as F.pad takes it
        totals = (padding[2] + padding[3], padding[0] + padding[1])
    axes = zip(*map(_pair, (input_size, kernel_size, stride, dilation)), totals)
    return tuple((n + t - d * (k - 1) - 1 + (s if extra_stride else 0)) // s + 1 for n, k, s, d, t in axes)


def test_the_bias_count_c_o_times_c_i_is_named():
    named = _message("ch03.conv2d_params", lambda *a, **k: _params(*a, **k, biases_per_pair=True))
    assert "one bias per output channel" in named
    other = _message("ch03.conv2d_params", lambda *a, **k: _params(*a, **k) + 1)
    assert "bias" not in other.split(":")[-1]


def test_multiply_adds_counted_once_are_named():
    assert "counts each as two FLOPs" in _message("ch03.conv2d_flops", lambda *a, **k: _flops(*a, **k, factor=1))
    assert "two FLOPs" not in _message("ch03.conv2d_flops", lambda *a, **k: _flops(*a, **k, factor=3))


def test_the_stride_counted_twice_is_named():
    named = _message("ch02.conv_output_shape", lambda *a, **k: _shape(*a, **k, extra_stride=True))
    assert "counts the stride twice" in named
    assert "stride twice" not in _message("ch02.conv_output_shape", lambda *a, **k: _shape(*a, **k)[::-1] + (0,))


def test_right_answers_pass():
    for item_id, answer in [("ch03.conv2d_params", _params), ("ch03.conv2d_flops", _flops),
                            ("ch02.conv_output_shape", _shape)]:
        item = get_item(item_id)
        judge(item, collect(item, answer, torch.device("cpu")))
