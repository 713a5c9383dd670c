"""Hidden tests of chapter 2: padding, stride and dilation.

Every oracle asks PyTorch: output shapes from ``F.conv2d`` on the meta device, "same"
padding by trying paddings until ``F.conv2d`` on the meta device gives ceil(n / s) outputs
(and with stride 1 from ``F.conv2d(padding="same")``), cross-correlations from ``F.conv2d``,
receptive fields from autograd through a real stack of ``nn.Conv2d`` layers, and
mirror padding from ``F.pad(mode="reflect")``.  No oracle repeats a formula that the
student is asked to write.
"""

import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..check import call, check_tensor, check_true, check_value
from . import Item, Misconception, int_or_pair, pair, rand, randint, register, with_float64


def _torch_out_shape(n, k, p=0, s=1, d=1):
    """PyTorch's output shape (h, w) for one channel, computed on the meta device (no data).
    ``p`` as ``F.conv2d`` takes it (an int, a pair, "valid" or "same"), or a 4-tuple
    (left, right, top, bottom) that ``F.pad`` adds before an unpadded convolution."""
    x = torch.empty(1, 1, *pair(n), device="meta")
    w = torch.empty(1, 1, *pair(k), device="meta")
    if isinstance(p, tuple) and len(p) == 4:
        x, p = F.pad(x, p), 0
    return tuple(F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[-2:])


def _valid(n, k, p=0, s=1, d=1):
    try:
        return min(_torch_out_shape(n, k, p, s, d)) >= 1
    except RuntimeError:
        return False


# --- output shape -----------------------------------------------------------------------------


class ShapeCase(NamedTuple):
    input_size: int | tuple
    kernel_size: int | tuple
    padding: int | tuple
    stride: int | tuple
    dilation: int | tuple


def _shape_cases(gen, device):
    # the chapter's 8x8 examples, then edge cases, then random configurations
    cases = [
        ((8, 8), 3, 1, 1, 1),
        ((8, 8), (5, 3), (2, 1), 1, 1),
        ((8, 8), 3, 1, 2, 1),
        ((8, 8), (3, 5), (0, 1), (3, 4), 1),
        ((5, 5), 2, 0, 1, 2),
        ((7, 9), 1, 0, 1, 1),
        ((6, 4), (6, 4), 0, 1, 1),
        ((9, 9), 2, 0, 5, 1),
        ((10, 13), 3, (0, 2), (2, 3), (3, 2)),
        ((1, 1), 3, 1, 1, 1),
        ((4, 5), 3, 3, 1, 4),
        # padding as F.pad takes it (left, right, top, bottom), and as the strings of nn.Conv2d
        ((8, 8), 3, (1, 0, 2, 0), 1, 1),
        ((9, 7), (3, 2), (0, 1, 1, 1), 2, 1),
        ((5, 6), 2, (1, 1, 0, 0), (2, 3), 2),
        ((6, 10), (1, 4), (0, 3, 2, 2), (1, 2), (1, 2)),
        ((8, 8), 3, "same", 1, 1),
        ((8, 9), (4, 5), "same", 1, (2, 1)),  # even kernel: PyTorch puts the extra zero after
        ((7, 7), 3, "valid", 2, 1),
        ((12, 5), (5, 3), "valid", (3, 1), (2, 1)),
    ]
    while len(cases) < 60:
        n = (randint(gen, 1, 40), randint(gen, 1, 40))
        k = (randint(gen, 1, 7), randint(gen, 1, 7))
        p = (randint(gen, 0, 3), randint(gen, 0, 3))
        s = (randint(gen, 1, 4), randint(gen, 1, 4))
        d = (randint(gen, 1, 3), randint(gen, 1, 3))
        if randint(gen, 0, 1):  # square configurations, as ints or pairs
            n, k, p, s, d = ((v[0], v[0]) for v in (n, k, p, s, d))
        args = tuple(int_or_pair(gen, *v) for v in (n, k, p, s, d))
        if randint(gen, 0, 3) == 0:  # a quarter of them padded unevenly, as F.pad would
            args = (*args[:2], tuple(randint(gen, 0, 3) for _ in range(4)), *args[3:])
        if _valid(*args):
            cases.append(args)
    return [ShapeCase(*case) for case in cases]


def _describe_shape(case: ShapeCase):
    return (
        f"input_size={case.input_size}, kernel_size={case.kernel_size}, padding={case.padding}, "
        f"stride={case.stride}, dilation={case.dilation}"
    )


def _run_shape(fn, case: ShapeCase):
    out = call(
        fn,
        case.input_size,
        case.kernel_size,
        padding=case.padding,
        stride=case.stride,
        dilation=case.dilation,
        name="conv_output_shape",
    )
    check_true(
        isinstance(out, (tuple, list)) and len(out) == 2,
        f"conv_output_shape({_describe_shape(case)}) should return a pair (o_h, o_w), received {out!r}"[:200],
    )
    return tuple(out)


def _stride_counted_twice(case: ShapeCase) -> tuple | None:
    """What the circulating 'correction' (n - k + 2p + s)/s + 1 gives, per axis (for a padding
    given on each side, the form the formula is written for; None for the other forms)."""
    if isinstance(case.padding, str) or len(pair(case.padding)) != 2:
        return None
    axes = zip(*(pair(v) for v in case))  # (n, k, p, s, d) along each axis
    return tuple((n + 2 * p - d * (k - 1) - 1 + s) // s + 1 for n, k, p, s, d in axes)


STRIDE_TWICE = Misconception(
    _stride_counted_twice,
    "These are the sizes that (n - k + 2p + s)/s + 1 gives, a formula that counts the stride "
    "twice; along each axis the size is floor((n + 2p - d(k - 1) - 1)/s) + 1",
)


def _compare_values(received, expected, what, hidden=True):
    check_value(received, expected, what, hidden=hidden)


# --- "same" padding, any stride --------------------------------------------------------------


class SameCase(NamedTuple):
    input_size: int | tuple
    kernel_size: int | tuple
    stride: int | tuple
    dilation: int | tuple
    X: torch.Tensor  # an input of that size and a kernel of that size, to try the padding on
    W: torch.Tensor


def _same_cases(gen, device):
    # (input_size, kernel_size, stride, dilation)
    cases = [
        (8, 3, 1, 1),  # the chapter's stride-1 rule: odd kernel
        (8, 4, 1, 1),  # even kernel: the extra pixel after
        ((9, 7), (5, 3), 1, (1, 2)),
        (7, 2, 1, 3),
        (8, 3, 2, 1),  # stride 2: one pixel is enough, after
        (7, 3, 2, 1),  # n not divisible by s
        (10, 3, 3, 1),
        (10, 3, 2, 2),  # dilation with a stride
        (9, 2, 4, 1),  # s > k
        (12, 2, 5, 1),  # s > k, no padding needed
        (3, 2, 4, 1),  # tiny input: the formula goes negative
        (2, 1, 3, 1),
        (1, 3, 2, 1),  # tiny input, a kernel larger than it
        (2, 5, 3, 1),
        ((7, 12), (3, 2), (3, 5), 1),
        ((5, 11), (4, 1), (2, 3), (2, 1)),
        ((16, 13), 3, (1, 2), 1),
    ]
    while len(cases) < 45:
        n = (randint(gen, 1, 20), randint(gen, 1, 20))
        k = (randint(gen, 1, 7), randint(gen, 1, 7))
        s = (randint(gen, 1, 5), randint(gen, 1, 5))
        d = (randint(gen, 1, 3), randint(gen, 1, 3))
        if randint(gen, 0, 1):  # square configurations, as ints or pairs
            n, k, s, d = ((v[0], v[0]) for v in (n, k, s, d))
        cases.append(tuple(int_or_pair(gen, *v) for v in (n, k, s, d)))
    return [
        SameCase(n, k, s, d, rand(gen, 1, 1, *pair(n), device=device), rand(gen, 1, 1, *pair(k), device=device))
        for n, k, s, d in cases
    ]


def _describe_same(case: SameCase):
    return (
        f"input_size={case.input_size!r}, kernel_size={case.kernel_size!r}, stride={case.stride!r}, "
        f"dilation={case.dilation!r}"
    )


def _run_same(fn, case: SameCase):
    n, k, s, d, X, W = case
    pads = call(fn, n, k, stride=s, dilation=d, name="same_padding")
    head = f"same_padding({n!r}, {k!r}, stride={s!r}, dilation={d!r})"
    check_true(
        isinstance(pads, (tuple, list)) and len(pads) == 4,
        f"{head} should return four numbers (left, right, top, bottom), received {pads!r}"[:200],
    )
    check_true(
        all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pads),
        f"{head} should return four non-negative ints, received {tuple(pads)!r}",
    )
    target = tuple(-(-size // step) for size, step in zip(pair(n), pair(s)))  # ceil(n / s) per axis
    try:
        Y = F.conv2d(F.pad(X, tuple(pads)), W, stride=s, dilation=d)
        got = tuple(Y.shape[-2:])
    except RuntimeError:  # the padded input is still smaller than the dilated kernel
        Y, got = None, None
    gives = f"an output of {got[0]}x{got[1]}" if got else "no output (the kernel does not fit)"
    check_true(
        got == target,
        f"{head} = {tuple(pads)} gives {gives}; 'same' padding must give ceil(n / s) = {target[0]}x{target[1]}",
    )
    return tuple(pads), Y


def _smallest_total(n: int, k: int, s: int, d: int) -> int:
    """The smallest total padding after which a real convolution (on the meta device, along
    one axis) gives ceil(n / s) outputs, found by trying 0, 1, 2, ..."""
    target = -(-n // s)
    w = torch.empty(1, 1, k, 1, device="meta")
    for total in range(n + d * k + s):
        x = torch.empty(1, 1, n + total, 1, device="meta")
        try:
            size = F.conv2d(x, w, stride=(s, 1), dilation=(d, 1)).shape[-2]
        except RuntimeError:  # the input is smaller than the dilated kernel
            continue
        if size == target:
            return total
    raise AssertionError(f"no padding gives ceil({n} / {s}) outputs for k={k}, d={d}")


def _same_oracle(case: SameCase):
    th, tw = (_smallest_total(*axis) for axis in zip(*(pair(v) for v in case[:4])))
    pads = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    if pair(case.stride) == (1, 1):  # PyTorch's own "same" padding is the reference
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch warns that even kernels need an extra copy
            Y = F.conv2d(case.X, case.W, padding="same", dilation=case.dilation)
    else:  # PyTorch refuses padding="same" with a stride: the smallest total, the extra after
        Y = F.conv2d(F.pad(case.X, pads), case.W, stride=case.stride, dilation=case.dilation)
    return pads, Y


def _compare_same(received, expected, what, hidden=True):
    (pads, Y), (pads_ref, Y_ref) = received, expected
    pads = tuple(pads)
    totals = (pads[0] + pads[1], pads[2] + pads[3])
    check_true(
        totals == (pads_ref[0] + pads_ref[1], pads_ref[2] + pads_ref[3]),
        f"{what}: your padding {pads} gives ceil(n / s) outputs, but it is not the smallest total "
        "padding that does (more padding shifts the windows)",
    )
    check_true(
        pads == tuple(pads_ref),
        f"{what}: your padding {pads} has the right totals but not the right split: half before, "
        "half after, and an odd extra pixel after (right, bottom)",
    )
    check_tensor(Y, Y_ref, f"{what}: the output of the convolution after your padding {pads}", hidden=hidden)


# --- cross-correlation with padding and stride ------------------------------------------------


class PadStrideCase(NamedTuple):
    X: torch.Tensor
    K: torch.Tensor
    padding: int | tuple
    stride: int | tuple


def _pad_stride_cases(gen, device):
    fixed = [
        ((5, 5), (2, 2), 0, 1),
        ((5, 5), (2, 2), 0, 2),
        ((5, 5), (2, 2), 1, 1),
        ((8, 8), (3, 3), 1, 2),
        ((8, 8), (3, 5), (0, 1), (3, 4)),
        ((6, 7), (1, 1), 0, 1),
        ((6, 4), (6, 4), 0, 1),
        ((4, 4), (3, 3), 2, 1),
        ((9, 9), (2, 2), 0, 4),
        ((7, 5), (3, 2), (2, 0), (1, 3)),
        ((3, 3), (5, 5), 1, 1),
    ]
    while len(fixed) < 18:
        nh, nw = randint(gen, 1, 12), randint(gen, 1, 12)
        kh, kw = randint(gen, 1, 5), randint(gen, 1, 5)
        p = int_or_pair(gen, randint(gen, 0, 2), randint(gen, 0, 2))
        s = int_or_pair(gen, randint(gen, 1, 4), randint(gen, 1, 4))
        if _valid((nh, nw), (kh, kw), p, s):
            fixed.append(((nh, nw), (kh, kw), p, s))
    return [PadStrideCase(rand(gen, *xs, device=device), rand(gen, *ks, device=device), p, s) for xs, ks, p, s in fixed]


def _pad_stride_oracle(case: PadStrideCase):
    return F.conv2d(case.X[None, None], case.K[None, None], stride=case.stride, padding=case.padding)[0, 0]


def _run_pad_stride(fn, case: PadStrideCase):
    return call(fn, case.X, case.K, padding=case.padding, stride=case.stride, name="corr2d_pad_stride")


def _describe_pad_stride(case: PadStrideCase):
    X, K = case.X, case.K
    return f"X {X.shape[0]}x{X.shape[1]}, K {K.shape[0]}x{K.shape[1]}, padding={case.padding!r}, stride={case.stride!r}"


# --- receptive field --------------------------------------------------------------------------


def receptive_field_oracle(layers):
    """Receptive field of output pixel (0, 0) of a real stack of ``nn.Conv2d`` layers.

    All weights are one and there is no padding, so the gradient of that output pixel
    with respect to the input is positive exactly on the input pixels it depends on;
    the receptive field is the extent (first to last) of those pixels along one axis.
    The input is made larger until the stack produces at least one output pixel.
    """
    stack = nn.Sequential(*(nn.Conv2d(1, 1, k, stride=s, dilation=d, bias=False) for k, s, d in layers))
    stack = stack.double()
    with torch.no_grad():
        for conv in stack:
            conv.weight.fill_(1.0)
    n = 4
    while True:
        X = torch.zeros(1, 1, n, n, dtype=torch.float64, requires_grad=True)
        try:
            Y = stack(X)
        except RuntimeError:  # the input is smaller than the stack's window
            Y = None
        if Y is not None and Y.shape[-1] >= 1:
            break
        n *= 2
    (grad,) = torch.autograd.grad(Y[0, 0, 0, 0], X)
    rows = grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = grad[0, 0].abs().sum(0).nonzero().flatten()
    extent_h = int(rows.max() - rows.min() + 1)
    extent_w = int(cols.max() - cols.min() + 1)
    assert extent_h == extent_w
    return extent_h


class RFCase(NamedTuple):
    layers: list  # (kernel_size, stride, dilation) per layer


def _rf_cases(gen, device):
    cases = [
        [],
        [(3, 1, 1)],
        [(3, 1, 1), (3, 1, 1)],
        [(3, 1, 1)] * 3,
        [(5, 1, 1)],
        [(2, 2, 1)] * 3,
        [(3, 2, 1), (3, 2, 1)],
        [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
        [(7, 2, 1), (3, 2, 1), (3, 1, 1)],
        [(1, 1, 1), (1, 3, 1), (3, 1, 1)],
        [(2, 3, 1), (3, 1, 2)],
        [(3, 1, 2)] * 2,
    ]
    for _ in range(8):
        cases.append([(randint(gen, 1, 5), randint(gen, 1, 3), randint(gen, 1, 3)) for _ in range(randint(gen, 1, 4))])
    return [RFCase(layers) for layers in cases]


def _run_rf(fn, case: RFCase):
    return call(fn, [tuple(layer) for layer in case.layers], name="receptive_field")


# --- reflect padding --------------------------------------------------------------------------


class ReflectCase(NamedTuple):
    X: torch.Tensor
    padding: int | tuple


def _reflect_cases(gen, device):
    shapes = [
        ((3, 3), 1),
        ((5, 5), 2),
        ((4, 6), (1, 3)),
        ((2, 2), 1),
        ((6, 3), (5, 2)),
        ((4, 4), 0),
        ((3, 4, 5), 2),
        ((2, 3, 5, 4), (3, 1)),
        ((1, 7), (0, 6)),
    ]
    for _ in range(4):
        h, w = randint(gen, 2, 9), randint(gen, 2, 9)
        lead = [randint(gen, 1, 3) for _ in range(randint(gen, 0, 2))]
        shapes.append(((*lead, h, w), int_or_pair(gen, randint(gen, 0, h - 1), randint(gen, 0, w - 1))))
    return [ReflectCase(rand(gen, *s, device=device), p) for s, p in shapes]


def _reflect_oracle(case: ReflectCase):
    X = case.X
    ph, pw = pair(case.padding)
    X3 = X.reshape(-1, *X.shape[-2:])
    return F.pad(X3, (pw, pw, ph, ph), mode="reflect").reshape(
        *X.shape[:-2], X.shape[-2] + 2 * ph, X.shape[-1] + 2 * pw
    )


register(
    Item(
        "ch02.conv_output_shape",
        forbidden="derivation",
        misconceptions=(STRIDE_TWICE,),
        cases=_shape_cases,
        run=_run_shape,
        oracle=lambda c: _torch_out_shape(*c),
        compare=_compare_values,
        describe=_describe_shape,
    ),
    Item(
        "ch02.same_padding",
        forbidden="derivation",
        cases=_same_cases,
        run=_run_same,
        oracle=_same_oracle,
        compare=_compare_same,
        describe=_describe_same,
    ),
    Item(
        "ch02.corr2d_pad_stride",
        cases=with_float64(_pad_stride_cases),
        run=_run_pad_stride,
        oracle=_pad_stride_oracle,
        forbidden="convolution",
        describe=_describe_pad_stride,
    ),
    Item(
        "ch02.receptive_field",
        forbidden="derivation",
        cases=_rf_cases,
        run=_run_rf,
        oracle=lambda c: receptive_field_oracle(c.layers),
        compare=_compare_values,
        describe=lambda c: f"layers={c.layers!r}",
    ),
    Item(
        "ch02.reflect_pad",
        cases=with_float64(_reflect_cases),
        forbidden="mirror_padding",
        oracle=_reflect_oracle,
        describe=lambda c: f"X of shape {tuple(c.X.shape)}, padding={c.padding!r}",
    ),
)
