"""Hidden tests of chapter 4: pooling.

The oracles are PyTorch's own pooling routines (``F.max_pool2d``, ``F.avg_pool2d``),
run on the same inputs, never a copy of the solution.  Inputs take negative values
(some cases are entirely negative), so that padding with zeros instead of
``-inf`` shows up in max pooling.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..check import FORBIDDEN_FAMILIES, call, check_true, check_value, watch
from . import Item, dims, fmt_pair, pair, rand, randint, register, with_float64


class PoolCase(NamedTuple):
    X: torch.Tensor
    kernel_size: int | tuple
    stride: int | tuple | None  # None: the default (the kernel size)
    padding: int | tuple


class AvgPoolCase(NamedTuple):
    X: torch.Tensor
    kernel_size: int | tuple
    stride: int | tuple | None
    padding: int | tuple
    count_include_pad: bool


def _describe_pool(case: PoolCase | AvgPoolCase):
    stride = "default" if case.stride is None else fmt_pair(case.stride)
    text = (
        f"input {dims(case.X)}, kernel {fmt_pair(case.kernel_size)}, stride {stride}, padding {fmt_pair(case.padding)}"
    )
    if isinstance(case, AvgPoolCase):
        text += f", count_include_pad={case.count_include_pad}"
    return text


# (input shape, kernel, stride, padding, value range): edge cases first.
_FIXED = [
    ((1, 1, 3, 3), 2, 1, 0, (-1.0, 1.0)),  # the chapter's example size
    ((1, 2, 4, 4), 3, (2, 1), 1, (-1.0, 1.0)),  # channels pooled separately
    ((2, 3, 5, 7), (2, 3), (1, 2), (1, 1), (-1.0, 1.0)),
    ((2, 2, 6, 5), 1, 1, 0, (-1.0, 1.0)),  # 1x1 window
    ((1, 3, 4, 6), (4, 6), 1, 0, (-1.0, 1.0)),  # window as large as the input
    ((2, 1, 9, 8), 2, 3, 0, (-1.0, 1.0)),  # stride larger than the window
    ((3, 2, 5, 5), 3, None, 1, (-1.0, 1.0)),  # default stride (= kernel size)
    ((2, 2, 5, 6), 2, 2, 1, (-3.0, -1.0)),  # all negative, padded
    ((1, 4, 7, 3), (3, 2), (2, 1), (1, 0), (-2.0, -0.5)),
]


def _random_config(gen):
    kh, kw = randint(gen, 1, 4), randint(gen, 1, 4)
    ph, pw = randint(gen, 0, kh // 2), randint(gen, 0, kw // 2)
    h = randint(gen, max(1, kh - 2 * ph), 10)
    w = randint(gen, max(1, kw - 2 * pw), 10)
    s = (randint(gen, 1, 3), randint(gen, 1, 3))
    shape = (randint(gen, 1, 3), randint(gen, 1, 4), h, w)
    return shape, (kh, kw), s, (ph, pw), (-1.0, 1.0)


def _configs(gen, extra=4):
    return list(_FIXED) + [_random_config(gen) for _ in range(extra)]


def pool_cases(gen, device):
    return [
        PoolCase(rand(gen, *shape, device=device, low=lo, high=hi), k, s, p)
        for shape, k, s, p, (lo, hi) in _configs(gen)
    ]


def avg_cases(gen, device):
    cases = []
    for i, (shape, k, s, p, (lo, hi)) in enumerate(_configs(gen, extra=5)):
        X = rand(gen, *shape, device=device, low=lo, high=hi)
        cases.append(AvgPoolCase(X, k, s, p, i % 2 == 1))
    # make sure both settings meet real padding
    cases.append(AvgPoolCase(rand(gen, 2, 3, 5, 4, device=device), 3, 2, 1, True))
    cases.append(AvgPoolCase(rand(gen, 2, 3, 5, 4, device=device), 3, 2, 1, False))
    return cases


def _run_pool(mode):
    def run(fn, case):  # an AvgPoolCase when mode is "avg", else a PoolCase
        kwargs = {"stride": case.stride, "padding": case.padding, "mode": mode}
        if mode == "avg":
            kwargs["count_include_pad"] = case.count_include_pad
        return call(fn, case.X, case.kernel_size, name="pool2d", **kwargs)

    return run


def _max_oracle(case: PoolCase):
    return F.max_pool2d(case.X, case.kernel_size, stride=case.stride, padding=case.padding)


def _avg_oracle(c: AvgPoolCase):
    return F.avg_pool2d(c.X, c.kernel_size, stride=c.stride, padding=c.padding, count_include_pad=c.count_include_pad)


# ---- average pooling as a convolution -------------------------------------------------


def _conv_cases(gen, device):
    return [
        PoolCase(rand(gen, *shape, device=device, low=lo, high=hi), k, s, p)
        for shape, k, s, p, (lo, hi) in _configs(gen)
    ]


def _run_avg_conv(fn, case: PoolCase):
    with watch(FORBIDDEN_FAMILIES["convolution"]) as ran:
        out = call(fn, case.X, case.kernel_size, stride=case.stride, padding=case.padding, name="avg_pool_conv")
    check_true(ran.seen, "avg_pool_conv should compute its result with F.conv2d, but no convolution ran")
    return out


# ---- maxima from ReLUs ------------------------------------------------------------------


class MaxCase(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor


def _max2_cases(gen, device):
    cases = []
    for shape in ((1,), (5,), (3, 4), (2, 3, 4)):
        cases.append(
            MaxCase(rand(gen, *shape, device=device, low=-3, high=3), rand(gen, *shape, device=device, low=-3, high=3))
        )
    a = rand(gen, 6, device=device, low=-2, high=-1)
    cases.append(MaxCase(a, a.clone()))  # ties
    cases.append(MaxCase(a, rand(gen, 6, device=device, low=-5, high=-3)))  # both negative
    return cases


class MaxPoolCase(NamedTuple):
    X: torch.Tensor


def _maxpool_relu_cases(gen, device):
    shapes = [(1, 1, 2, 2), (1, 1, 4, 4), (2, 3, 6, 8), (1, 2, 5, 7), (3, 1, 3, 2), (2, 2, 8, 5)]
    cases = [MaxPoolCase(rand(gen, *s, device=device, low=-2, high=2)) for s in shapes]
    cases.append(MaxPoolCase(rand(gen, 2, 2, 6, 6, device=device, low=-4, high=-1)))
    return cases


# ---- cost ------------------------------------------------------------------------------


class PoolOpsCase(NamedTuple):
    shape: tuple
    kernel_size: int | tuple
    stride: int | tuple | None
    padding: int | tuple


def _cost_cases(gen, device):
    fixed = [
        ((1, 1, 3, 3), 2, 1, 0),
        ((1, 2, 4, 4), 3, (2, 1), 1),
        ((8, 64, 32, 32), 2, None, 0),
        ((2, 3, 7, 9), (3, 2), (2, 3), (1, 1)),
        ((4, 16, 5, 5), 1, 1, 0),
        ((1, 1, 6, 4), (6, 4), 1, 0),
    ]
    for _ in range(4):
        shape, k, s, p, _ = _random_config(gen)
        fixed.append((shape, k, s, p))
    return [PoolOpsCase(*case) for case in fixed]


def _cost_oracle(case: PoolOpsCase):
    """Window outputs counted by PyTorch itself (meta tensors: shapes only), times k_h*k_w - 1."""
    shape, k, s, p = case
    out = F.max_pool2d(torch.empty(shape, device="meta"), k, stride=s, padding=p)
    kh, kw = pair(k)
    return out.numel() * (kh * kw - 1)


def _run_cost(fn, case: PoolOpsCase):
    out = call(fn, case.shape, case.kernel_size, stride=case.stride, padding=case.padding, name="pool_ops")
    check_true(
        isinstance(out, int) or (isinstance(out, float) and out.is_integer()),
        f"pool_ops should return a whole number, received {type(out).__name__} {out!r}",
    )
    return out


register(
    Item(
        "ch04.pool2d_max",
        forbidden="pooling",
        cases=with_float64(pool_cases),
        run=_run_pool("max"),
        oracle=_max_oracle,
        describe=_describe_pool,
    ),
    Item(
        "ch04.pool2d_avg",
        forbidden="pooling",
        cases=with_float64(avg_cases),
        run=_run_pool("avg"),
        oracle=_avg_oracle,
        describe=_describe_pool,
    ),
    Item(
        "ch04.avg_pool_conv",
        forbidden="pooling",
        cases=with_float64(_conv_cases),
        run=_run_avg_conv,
        oracle=lambda c: F.avg_pool2d(c.X, c.kernel_size, stride=c.stride, padding=c.padding),
        describe=_describe_pool,
    ),
    Item(
        "ch04.max_relu",
        forbidden="maximum",
        cases=_max2_cases,
        oracle=lambda c: torch.maximum(c.a, c.b),
    ),
    Item(
        "ch04.max_pool_relu",
        forbidden="maximum",
        cases=with_float64(_maxpool_relu_cases),
        oracle=lambda c: F.max_pool2d(c.X, 2),
    ),
    Item(
        "ch04.pool_ops",
        forbidden="derivation",
        cases=_cost_cases,
        run=_run_cost,
        oracle=_cost_oracle,
        compare=check_value,
        describe=lambda c: (
            f"input {c.shape}, kernel {fmt_pair(c.kernel_size)}, "
            f"stride {'default' if c.stride is None else fmt_pair(c.stride)}, padding {fmt_pair(c.padding)}"
        ),
    ),
)
