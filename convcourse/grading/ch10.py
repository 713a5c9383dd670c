"""Hidden tests of chapter 10: beyond the plain convolution.

The oracles are PyTorch itself: ``F.conv_transpose2d`` (values and, on shape-only
``meta`` tensors, output sizes), ``F.interpolate`` and the parameters of real
``nn.Conv2d`` modules.  Never a copy of the solution.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..check import call, check_true, check_value
from . import Item, dims, fmt_pair, pair, rand, randint, register, with_float64


def _random_size(gen, a, b):
    """An int or, half of the time, a pair of ints, each in [a, b]."""
    if randint(gen, 0, 1):
        return randint(gen, a, b)
    return (randint(gen, a, b), randint(gen, a, b))


# ---- transposed convolution -------------------------------------------------------------


def _out_len(n, k, s, p, d=1, op=0):
    """Only used to skip random configurations PyTorch rejects (empty output)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


class TransposeCase(NamedTuple):
    X: torch.Tensor
    W: torch.Tensor
    stride: int | tuple
    padding: int | tuple


def _ct_case(gen, device, x_shape, w_shape, s, p):
    return TransposeCase(rand(gen, *x_shape, device=device), rand(gen, *w_shape, device=device), s, p)


def _ct_basic_cases(gen, device):
    shapes = [
        ((1, 1, 2, 2), (1, 1, 2, 2)),
        ((2, 3, 4, 5), (3, 2, 3, 2)),  # batch, channels in and out, non-square
        ((1, 2, 3, 3), (2, 4, 1, 1)),  # 1x1 kernel
        ((2, 1, 2, 3), (1, 3, 4, 4)),  # kernel larger than the input
        ((3, 2, 1, 1), (2, 2, 3, 3)),  # a single input pixel: a copy of the kernel
        ((1, 1, 5, 1), (1, 1, 2, 1)),
    ]
    for _ in range(3):
        n, ci, co = randint(gen, 1, 3), randint(gen, 1, 4), randint(gen, 1, 4)
        shapes.append(
            ((n, ci, randint(gen, 1, 6), randint(gen, 1, 6)), (ci, co, randint(gen, 1, 4), randint(gen, 1, 4)))
        )
    return [_ct_case(gen, device, xs, ws, 1, 0) for xs, ws in shapes]


def _ct_strided_cases(gen, device):
    configs = [
        ((1, 1, 2, 2), (1, 1, 2, 2), 2, 0),
        ((2, 3, 3, 4), (3, 2, 3, 3), 2, 1),
        ((1, 2, 4, 3), (2, 3, 2, 3), (3, 1), (0, 1)),
        ((2, 1, 3, 3), (1, 2, 2, 2), 3, 0),  # stride larger than the kernel
        ((1, 2, 3, 5), (2, 1, 4, 4), 1, (2, 1)),  # padding only
        ((2, 2, 4, 4), (2, 2, 3, 3), (1, 2), (1, 0)),
        ((1, 1, 4, 4), (1, 1, 4, 4), 2, 1),
    ]  # the DCGAN doubling layer
    while len(configs) < 10:
        ci, co = randint(gen, 1, 3), randint(gen, 1, 3)
        h, w, kh, kw = randint(gen, 1, 6), randint(gen, 1, 6), randint(gen, 1, 4), randint(gen, 1, 4)
        sh, sw = randint(gen, 1, 3), randint(gen, 1, 3)
        ph, pw = randint(gen, 0, kh - 1), randint(gen, 0, kw - 1)
        if _out_len(h, kh, sh, ph) >= 1 and _out_len(w, kw, sw, pw) >= 1:
            configs.append(((randint(gen, 1, 3), ci, h, w), (ci, co, kh, kw), (sh, sw), (ph, pw)))
    return [_ct_case(gen, device, *c) for c in configs]


def _describe_ct(c: TransposeCase):
    return f"input {dims(c.X)}, weight {dims(c.W)}, stride {fmt_pair(c.stride)}, padding {fmt_pair(c.padding)}"


def _run_ct(fn, c: TransposeCase):
    return call(fn, c.X, c.W, stride=c.stride, padding=c.padding, name="conv_transpose2d")


def _ct_oracle(c: TransposeCase):
    """PyTorch's transposed convolution, run in float64 so that no TF32 rounding (cuDNN's
    default for float32 on recent GPUs) enters the expected values."""
    return F.conv_transpose2d(c.X.double(), c.W.double(), stride=c.stride, padding=c.padding).to(c.X.dtype)


# ---- its output size --------------------------------------------------------------------


class SizeCase(NamedTuple):
    input_hw: tuple
    kernel_size: int | tuple
    stride: int | tuple
    padding: int | tuple
    dilation: int | tuple
    output_padding: int | tuple


def _size_oracle(case):
    """PyTorch's own output size, from a transposed convolution of a small zero input on the CPU
    (not the meta device, which does not check that output_padding is below the stride or the
    dilation)."""
    (h, w), k, s, p, d, op = case
    kh, kw = pair(k)
    out = F.conv_transpose2d(
        torch.zeros(1, 1, h, w),
        torch.zeros(1, 1, kh, kw),
        stride=s,
        padding=p,
        dilation=d,
        output_padding=op,
    )
    return tuple(out.shape[2:])


def _accepted_size(case) -> tuple | None:
    """:func:`_size_oracle`, or None where PyTorch refuses the configuration."""
    try:
        return _size_oracle(case)
    except RuntimeError:
        return None


def _size_cases(gen, device):
    fixed = [
        ((3, 3), 2, 1, 0, 1, 0),
        ((2, 2), 2, 2, 0, 1, 0),
        ((4, 5), (3, 2), (2, 3), (1, 0), 1, (1, 2)),
        ((3, 4), 3, 1, 1, 2, 0),
        ((1, 1), 1, 1, 0, 1, 0),
        ((5, 2), (2, 4), 2, (0, 1), (3, 1), (1, 0)),
        ((7, 7), 4, 2, 1, 1, 0),
        ((6, 3), 3, 3, 2, 2, 2),
    ]
    cases = [SizeCase(*case) for case in fixed]
    while len(cases) < 30:
        s, d = _random_size(gen, 1, 4), _random_size(gen, 1, 3)
        smax = [max(a, b) for a, b in zip(pair(s), pair(d))]
        op = (
            randint(gen, 0, min(smax) - 1)
            if randint(gen, 0, 1)
            else (randint(gen, 0, smax[0] - 1), randint(gen, 0, smax[1] - 1))
        )
        case = SizeCase(
            (randint(gen, 1, 12), randint(gen, 1, 12)), _random_size(gen, 1, 5), s, _random_size(gen, 0, 3), d, op
        )
        if _accepted_size(case) is not None:
            cases.append(case)
    return cases


def _run_size(fn, case: SizeCase):
    out = call(fn, *case, name="transposed_output_shape")
    check_true(
        isinstance(out, (tuple, list)) and len(out) == 2,
        f"transposed_output_shape should return a pair (height, width), received {out!r}",
    )
    return tuple(int(v) if isinstance(v, torch.Tensor) else v for v in out)


def _describe_size(c: SizeCase):
    h, w = c.input_hw
    return (
        f"input {h}x{w}, kernel {fmt_pair(c.kernel_size)}, stride {fmt_pair(c.stride)}, padding {fmt_pair(c.padding)}, "
        f"dilation {fmt_pair(c.dilation)}, output_padding {fmt_pair(c.output_padding)}"
    )


# ---- the output_padding that reaches a target size -----------------------------------------


class TargetCase(NamedTuple):
    input_hw: tuple
    target_hw: tuple
    kernel_size: int | tuple
    stride: int | tuple
    padding: int | tuple
    dilation: int | tuple


def _target_oracle(case: TargetCase):
    """The output_padding PyTorch accepts that gives ``target_hw``, found by trying each value
    with real transposed convolutions (one axis at a time); None if there is none."""
    found = []
    for axis in (0, 1):
        for op in range(16):  # PyTorch refuses output_padding >= max(stride, dilation)
            ops = (op, 0) if axis == 0 else (0, op)
            size = _accepted_size(
                SizeCase(case.input_hw, case.kernel_size, case.stride, case.padding, case.dilation, ops)
            )
            if size is not None and size[axis] == case.target_hw[axis]:
                found.append(op)
                break
        else:
            return None
    return tuple(found)


def _target_cases(gen, device):
    fixed = [
        ((4, 4), (8, 8), 4, 2, 1, 1),  # the classic x2 upsampling layer: no output_padding
        ((4, 4), (9, 9), 4, 2, 1, 1),
        ((4, 4), (10, 8), 4, 2, 1, 1),  # 2 more rows would need output_padding 2 = stride
        ((3, 5), (8, 12), 3, 2, 1, 2),
        ((2, 2), (3, 4), 2, 1, 0, 1),  # stride 1, dilation 1: no output_padding at all
        ((5, 3), (14, 13), (3, 2), (3, 4), (1, 0), 1),  # output_padding (1, 3)
        ((6, 6), (11, 11), 3, 1, 1, 3),  # dilation 3 allows output_padding up to 2
        ((3, 3), (2, 5), 3, 2, 1, 1),  # target below the size without output_padding
        ((7, 4), (14, 8), 3, (2, 2), (1, 1), (1, 1)),
    ]
    cases = [TargetCase(*case) for case in fixed]
    while len(cases) < 24:
        s, d = (randint(gen, 1, 4), randint(gen, 1, 4)), (randint(gen, 1, 3), randint(gen, 1, 3))
        k, p = (randint(gen, 1, 5), randint(gen, 1, 5)), (randint(gen, 0, 2), randint(gen, 0, 2))
        hw = (randint(gen, 1, 10), randint(gen, 1, 10))
        base = _accepted_size(SizeCase(hw, k, s, p, d, 0))
        if base is None:
            continue
        # mostly a reachable size; now and then one below or beyond what output_padding can add
        reach = [max(s[i], d[i]) for i in (0, 1)]
        extra = [randint(gen, 0, r - 1) if randint(gen, 0, 3) else (-1 if randint(gen, 0, 1) else r) for r in reach]
        target = tuple(n + e for n, e in zip(base, extra))
        cases.append(TargetCase(hw, target, k, s, p, d))
    return cases


def _run_target(fn, case: TargetCase):
    out = call(fn, *case, name="output_padding_for")
    check_true(
        out is None or (isinstance(out, (tuple, list)) and len(out) == 2),
        f"output_padding_for should return a pair (o_h, o_w) or None, received {out!r}",
    )
    return None if out is None else tuple(out)


def _describe_target(c: TargetCase):
    (h, w), (th, tw) = c.input_hw, c.target_hw
    return (
        f"from {h}x{w} to {th}x{tw}, kernel {fmt_pair(c.kernel_size)}, stride {fmt_pair(c.stride)}, "
        f"padding {fmt_pair(c.padding)}, dilation {fmt_pair(c.dilation)}"
    )


# ---- upsampling -------------------------------------------------------------------------


class UpCase(NamedTuple):
    X: torch.Tensor
    scale_factor: int | tuple


def _up_cases(gen, device):
    configs = [
        ((1, 1, 2, 2), 2),
        ((2, 3, 3, 4), 3),
        ((1, 2, 1, 5), (2, 3)),
        ((2, 1, 4, 1), (1, 4)),
        ((1, 1, 3, 3), 1),
        ((1, 1, 1, 1), 3),
        ((2, 2, 5, 3), (3, 2)),
    ]
    for _ in range(3):
        configs.append(
            ((randint(gen, 1, 2), randint(gen, 1, 3), randint(gen, 1, 7), randint(gen, 1, 7)), _random_size(gen, 1, 4))
        )
    return [UpCase(rand(gen, *shape, device=device, low=-2, high=2), s) for shape, s in configs]


def _describe_up(c: UpCase):
    return f"input {dims(c.X)}, scale_factor {fmt_pair(c.scale_factor)}"


def _run_up(name):
    def run(fn, case):
        return call(fn, *case, name=name)

    return run


# ---- depthwise-separable parameters -----------------------------------------------------


class SepCase(NamedTuple):
    c_in: int
    c_out: int
    kernel_size: int | tuple
    bias: bool


def _sep_cases(gen, device):
    cases = [
        (3, 16, 3, True),
        (32, 64, 3, False),
        (16, 16, (3, 5), True),
        (1, 8, 1, True),
        (64, 128, 5, False),
        (128, 256, (1, 7), True),
    ]
    for _ in range(3):
        cases.append((randint(gen, 1, 96), randint(gen, 1, 96), _random_size(gen, 1, 7), bool(randint(gen, 0, 1))))
    return [SepCase(*case) for case in cases]


def _sep_oracle(case):
    """Parameters of a real depthwise (groups=c_in) plus pointwise (1x1) pair of nn.Conv2d."""
    c_in, c_out, k, bias = case
    block = nn.Sequential(
        nn.Conv2d(c_in, c_in, k, groups=c_in, bias=bias, device="meta"),
        nn.Conv2d(c_in, c_out, 1, bias=bias, device="meta"),
    )
    return sum(p.numel() for p in block.parameters())


def _describe_sep(c: SepCase):
    return f"c_in={c.c_in}, c_out={c.c_out}, kernel {fmt_pair(c.kernel_size)}, bias={c.bias}"


register(
    Item(
        "ch10.conv_transpose_basic",
        forbidden="convolution",
        cases=with_float64(_ct_basic_cases),
        run=_run_ct,
        oracle=_ct_oracle,
        describe=_describe_ct,
    ),
    Item(
        "ch10.conv_transpose_strided",
        forbidden="convolution",
        cases=with_float64(_ct_strided_cases),
        run=_run_ct,
        oracle=_ct_oracle,
        describe=_describe_ct,
    ),
    Item(
        "ch10.transposed_output_shape",
        forbidden="derivation",
        cases=_size_cases,
        run=_run_size,
        oracle=_size_oracle,
        compare=check_value,
        describe=_describe_size,
    ),
    Item(
        "ch10.output_padding_for",
        forbidden="derivation",
        cases=_target_cases,
        run=_run_target,
        oracle=_target_oracle,
        compare=check_value,
        describe=_describe_target,
    ),
    Item(
        "ch10.upsample_nearest",
        forbidden="upsampling",
        cases=with_float64(_up_cases),
        run=_run_up("upsample_nearest"),
        oracle=lambda c: F.interpolate(c.X, scale_factor=c.scale_factor, mode="nearest"),
        describe=_describe_up,
    ),
    Item(
        "ch10.upsample_bilinear",
        forbidden="upsampling",
        cases=with_float64(_up_cases),
        run=_run_up("upsample_bilinear"),
        oracle=lambda c: F.interpolate(c.X, scale_factor=c.scale_factor, mode="bilinear", align_corners=True),
        describe=_describe_up,
    ),
    Item(
        "ch10.separable_params",
        forbidden="derivation",
        cases=_sep_cases,
        oracle=_sep_oracle,
        compare=check_value,
        describe=_describe_sep,
    ),
)
