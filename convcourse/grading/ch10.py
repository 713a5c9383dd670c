"""Hidden tests of chapter 10: beyond the plain convolution.

The oracles are PyTorch itself: ``F.conv_transpose2d`` (values and, on shape-only
``meta`` tensors, output sizes), ``F.interpolate`` and the parameters of real
``nn.Conv2d`` modules.  Never a copy of the solution.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..check import call, check_true, check_value
from . import Item, rand, randint, register


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _fmt(v):
    return str(v) if isinstance(v, int) else f"({v[0]}, {v[1]})"


def _maybe_pair(gen, a, b):
    """An int or, half of the time, a pair of ints, each in [a, b]."""
    if randint(gen, 0, 1):
        return randint(gen, a, b)
    return (randint(gen, a, b), randint(gen, a, b))


# ---- transposed convolution -------------------------------------------------------------


def _out_len(n, k, s, p, d=1, op=0):
    """Only used to skip random configurations PyTorch rejects (empty output)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _ct_case(gen, device, x_shape, w_shape, s, p):
    return (rand(gen, *x_shape, device=device), rand(gen, *w_shape, device=device), s, p)


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


def _describe_ct(case):
    X, W, s, p = case
    return (
        f"input {'x'.join(map(str, X.shape))}, weight {'x'.join(map(str, W.shape))}, "
        f"stride {_fmt(s)}, padding {_fmt(p)}"
    )


def _run_ct(fn, case):
    X, W, s, p = case
    return call(fn, X, W, stride=s, padding=p, name="conv_transpose2d")


def _ct_oracle(case):
    """PyTorch's transposed convolution, run in float64 so that no TF32 rounding (cuDNN's
    default for float32 on recent GPUs) enters the expected values."""
    X, W, s, p = case
    return F.conv_transpose2d(X.double(), W.double(), stride=s, padding=p).to(X.dtype)


# ---- its output size --------------------------------------------------------------------


def _size_oracle(case):
    """PyTorch's own output size, from a shape-only (meta) transposed convolution."""
    (h, w), k, s, p, d, op = case
    kh, kw = _pair(k)
    out = F.conv_transpose2d(
        torch.empty(1, 1, h, w, device="meta"),
        torch.empty(1, 1, kh, kw, device="meta"),
        stride=s,
        padding=p,
        dilation=d,
        output_padding=op,
    )
    return tuple(out.shape[2:])


def _valid(case):
    try:
        _size_oracle(case)
        return True
    except RuntimeError:
        return False


def _size_cases(gen, device):
    cases = [
        ((3, 3), 2, 1, 0, 1, 0),
        ((2, 2), 2, 2, 0, 1, 0),
        ((4, 5), (3, 2), (2, 3), (1, 0), 1, (1, 2)),
        ((3, 4), 3, 1, 1, 2, 0),
        ((1, 1), 1, 1, 0, 1, 0),
        ((5, 2), (2, 4), 2, (0, 1), (3, 1), (1, 0)),
        ((7, 7), 4, 2, 1, 1, 0),
        ((6, 3), 3, 3, 2, 2, 2),
    ]
    while len(cases) < 30:
        s, d = _maybe_pair(gen, 1, 4), _maybe_pair(gen, 1, 3)
        smax = [max(a, b) for a, b in zip(_pair(s), _pair(d))]
        op = (
            randint(gen, 0, min(smax) - 1)
            if randint(gen, 0, 1)
            else (randint(gen, 0, smax[0] - 1), randint(gen, 0, smax[1] - 1))
        )
        case = ((randint(gen, 1, 12), randint(gen, 1, 12)), _maybe_pair(gen, 1, 5), s, _maybe_pair(gen, 0, 3), d, op)
        if _valid(case):
            cases.append(case)
    return cases


def _run_size(fn, case):
    out = call(fn, *case, name="transposed_output_shape")
    check_true(
        isinstance(out, (tuple, list)) and len(out) == 2,
        f"transposed_output_shape should return a pair (height, width), received {out!r}",
    )
    return tuple(int(v) if isinstance(v, torch.Tensor) else v for v in out)


def _describe_size(case):
    hw, k, s, p, d, op = case
    return (
        f"input {hw[0]}x{hw[1]}, kernel {_fmt(k)}, stride {_fmt(s)}, padding {_fmt(p)}, "
        f"dilation {_fmt(d)}, output_padding {_fmt(op)}"
    )


# ---- upsampling -------------------------------------------------------------------------


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
            ((randint(gen, 1, 2), randint(gen, 1, 3), randint(gen, 1, 7), randint(gen, 1, 7)), _maybe_pair(gen, 1, 4))
        )
    return [(rand(gen, *shape, device=device, low=-2, high=2), s) for shape, s in configs]


def _describe_up(case):
    X, s = case
    return f"input {'x'.join(map(str, X.shape))}, scale_factor {_fmt(s)}"


def _run_up(name):
    def run(fn, case):
        return call(fn, *case, name=name)

    return run


# ---- depthwise-separable parameters -----------------------------------------------------


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
        cases.append((randint(gen, 1, 96), randint(gen, 1, 96), _maybe_pair(gen, 1, 7), bool(randint(gen, 0, 1))))
    return cases


def _sep_oracle(case):
    """Parameters of a real depthwise (groups=c_in) plus pointwise (1x1) pair of nn.Conv2d."""
    c_in, c_out, k, bias = case
    block = nn.Sequential(
        nn.Conv2d(c_in, c_in, k, groups=c_in, bias=bias, device="meta"),
        nn.Conv2d(c_in, c_out, 1, bias=bias, device="meta"),
    )
    return sum(p.numel() for p in block.parameters())


def _describe_sep(case):
    c_in, c_out, k, bias = case
    return f"c_in={c_in}, c_out={c_out}, kernel {_fmt(k)}, bias={bias}"


register(
    Item(
        "ch10.conv_transpose_basic",
        forbidden="convolution",
        cases=_ct_basic_cases,
        run=_run_ct,
        oracle=_ct_oracle,
        describe=_describe_ct,
    ),
    Item(
        "ch10.conv_transpose_strided",
        forbidden="convolution",
        cases=_ct_strided_cases,
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
        "ch10.upsample_nearest",
        forbidden="upsampling",
        cases=_up_cases,
        run=_run_up("upsample_nearest"),
        oracle=lambda c: F.interpolate(c[0], scale_factor=c[1], mode="nearest"),
        describe=_describe_up,
    ),
    Item(
        "ch10.upsample_bilinear",
        forbidden="upsampling",
        cases=_up_cases,
        run=_run_up("upsample_bilinear"),
        oracle=lambda c: F.interpolate(c[0], scale_factor=c[1], mode="bilinear", align_corners=True),
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
