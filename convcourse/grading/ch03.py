"""Hidden tests of chapter 3: channels, 1x1 convolutions and what a convolution costs.

Oracles: ``F.conv2d`` for values; real ``nn.Conv2d`` modules on the meta device (no data,
no memory) for parameter counts (``sum(p.numel())``), bytes (``element_size()`` of the real
parameters, outputs and gradients) and FLOPs (``torch.utils.flop_counter.FlopCounterMode``).
No oracle repeats a formula that the student is asked to write.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..check import MATRIX_PRODUCTS, CheckError, call, check_true, check_value, watch
from . import Item, Misconception, int_or_pair, pair, rand, randint, register, with_float64


def _compare_values(received, expected, what, hidden=True):
    check_value(received, expected, what, hidden=hidden)


# --- multi-input and multi-output cross-correlation ------------------------------------------


def _multi_shapes(gen):
    """(c_i, n_h, n_w, c_o, k_h, k_w): edge cases, then random."""
    shapes = [
        (2, 3, 3, 3, 2, 2),
        (1, 5, 4, 1, 1, 1),
        (3, 4, 6, 2, 4, 6),
        (4, 6, 5, 1, 3, 2),
        (1, 7, 3, 4, 2, 3),
        (5, 2, 2, 3, 1, 1),
    ]
    for _ in range(4):
        nh, nw = randint(gen, 1, 9), randint(gen, 1, 9)
        shapes.append((randint(gen, 1, 4), nh, nw, randint(gen, 1, 4), randint(gen, 1, nh), randint(gen, 1, nw)))
    return shapes


class CorrCase(NamedTuple):
    X: torch.Tensor
    K: torch.Tensor


def _multi_in_cases(gen, device):
    return [
        CorrCase(rand(gen, ci, nh, nw, device=device), rand(gen, ci, kh, kw, device=device))
        for ci, nh, nw, co, kh, kw in _multi_shapes(gen)
    ]


def _multi_in_out_cases(gen, device):
    return [
        CorrCase(rand(gen, ci, nh, nw, device=device), rand(gen, co, ci, kh, kw, device=device))
        for ci, nh, nw, co, kh, kw in _multi_shapes(gen)
    ]


# --- conv2d as one matrix product -------------------------------------------------------------


def _grouped_channels(gen):
    """(c_i, c_o, groups) with groups 1, 2 or c_i (depthwise), a third of the time each."""
    kind = randint(gen, 0, 2)
    if kind == 0:
        return randint(gen, 1, 4), randint(gen, 1, 5), 1
    if kind == 1:
        return 2 * randint(gen, 1, 3), 2 * randint(gen, 1, 3), 2
    c_i = randint(gen, 1, 5)
    return c_i, c_i * randint(gen, 1, 2), c_i


def _matmul_valid_shapes(gen):
    """(N, c_i, n_h, n_w, c_o, k_h, k_w, groups) with stride 1, no padding and dilation 1."""
    shapes = [
        (1, 2, 3, 3, 3, 2, 2, 1),
        (2, 4, 5, 5, 2, 1, 1, 2),
        (2, 3, 4, 6, 3, 4, 6, 3),
        (2, 2, 6, 5, 4, 3, 2, 2),
        (1, 6, 8, 3, 4, 5, 1, 2),
        (3, 4, 7, 7, 8, 3, 3, 4),
        (2, 6, 5, 5, 6, 3, 3, 1),
        (2, 4, 6, 6, 6, 2, 3, 2),
    ]
    for _ in range(4):
        nh, nw = randint(gen, 1, 10), randint(gen, 1, 10)
        c_i, c_o, g = _grouped_channels(gen)
        k_h, k_w = randint(gen, 1, nh), randint(gen, 1, nw)
        shapes.append((randint(gen, 1, 3), c_i, nh, nw, c_o, k_h, k_w, g))
    return shapes


class MatmulCase(NamedTuple):
    X: torch.Tensor
    K: torch.Tensor
    stride: int | tuple
    padding: int | tuple
    dilation: int | tuple
    groups: int


def _matmul_valid_cases(gen, device):
    cases = []
    for n, ci, nh, nw, co, kh, kw, g in _matmul_valid_shapes(gen):
        X = rand(gen, n, ci, nh, nw, device=device)
        cases.append(MatmulCase(X, rand(gen, co, ci // g, kh, kw, device=device), 1, 0, 1, g))
    return cases


def _fits(n, k, p, d) -> bool:
    """Whether a dilated window fits in the padded input along both axes."""
    sizes = zip(pair(n), pair(k), pair(p), pair(d))
    return all(n_ + 2 * p_ >= d_ * (k_ - 1) + 1 for n_, k_, p_, d_ in sizes)


def _matmul_cases(gen, device):
    # (N, c_i, (n_h, n_w), c_o, (k_h, k_w), stride, padding, dilation, groups)
    fixed = [
        (1, 3, (5, 5), 2, (3, 3), 2, 1, 1, 1),
        (2, 4, (8, 8), 6, (3, 5), (3, 4), (0, 1), 1, 2),
        (3, 2, (7, 7), 2, (2, 2), 2, 0, 2, 2),
        (2, 3, (6, 7), 4, (1, 1), 2, 1, 3, 1),
        (1, 4, (9, 9), 4, (3, 3), 1, 2, 2, 4),
        (2, 6, (9, 9), 3, (2, 2), 4, 0, 3, 3),
        (1, 4, (6, 5), 2, (6, 5), 1, 0, 1, 2),
        (2, 2, (3, 3), 2, (5, 5), 1, 1, 1, 1),
        (3, 3, (7, 5), 6, (3, 2), (1, 3), (2, 0), (2, 1), 3),
        (2, 4, (11, 10), 4, (3, 3), (2, 1), (1, 2), (3, 2), 2),
        (1, 2, (10, 8), 3, (2, 3), 1, (3, 1), (1, 3), 1),
    ]
    while len(fixed) < 18:
        ns = (randint(gen, 1, 12), randint(gen, 1, 12))
        ks = (randint(gen, 1, 5), randint(gen, 1, 5))
        s = int_or_pair(gen, randint(gen, 1, 3), randint(gen, 1, 3))
        p = int_or_pair(gen, randint(gen, 0, 2), randint(gen, 0, 2))
        d = int_or_pair(gen, randint(gen, 1, 3), randint(gen, 1, 3))
        c_i, c_o, g = _grouped_channels(gen)
        if _fits(ns, ks, p, d):
            fixed.append((randint(gen, 1, 3), c_i, ns, c_o, ks, s, p, d, g))
    cases = []
    for n, ci, ns, co, ks, s, p, d, g in fixed:
        X, K = rand(gen, n, ci, *ns, device=device), rand(gen, co, ci // g, *ks, device=device)
        cases.append(MatmulCase(X, K, s, p, d, g))
    return cases


def _counting_products(fn, *args, name: str, **kwargs):
    """``fn(*args, **kwargs)`` called as the student's ``name``, and the matrix products it ran."""
    with watch(MATRIX_PRODUCTS) as counter:
        result = call(fn, *args, name=name, **kwargs)
    return result, counter.seen


def _run_shifted_products(fn, case: CorrCase):
    """corr2d_multi_in_out, which must run one matrix product per kernel position."""
    Y, products = _counting_products(fn, case.X, case.K, name="corr2d_multi_in_out")
    n, positions = len(products), case.K.shape[2] * case.K.shape[3]
    if n != positions:
        raise CheckError(
            f"corr2d_multi_in_out ran {n} matrix products for a {case.K.shape[2]}x{case.K.shape[3]} "
            f"kernel: the exercise asks for exactly one per kernel position, {positions} (a shifted "
            "1x1 product: K[:, :, a, b] times the input shifted by (a, b))"
        )
    return Y


def _run_matmul(fn, case: MatmulCase, *, defaults):
    X, K, g = case.X, case.K, case.groups
    if defaults:
        Y, products = _counting_products(fn, X, K, groups=g, name="conv2d_matmul")
    else:
        s, p, d = case.stride, case.padding, case.dilation
        Y, products = _counting_products(fn, X, K, stride=s, padding=p, dilation=d, groups=g, name="conv2d_matmul")
    if len(products) != 1:
        ops = ", ".join(sorted(set(f"aten.{o}" for o in products)))
        raise CheckError(
            f"conv2d_matmul ran {len(products)} matrix products"
            + (f" ({ops})" if ops else "")
            + " for one call: the exercise asks for the whole batch and all groups as ONE matrix"
            " product (unfold the patches of every image, then multiply once by the reshaped"
            " kernels)"
        )
    return Y


def _matmul_oracle(case: MatmulCase):
    s, p, d, g = case.stride, case.padding, case.dilation, case.groups
    return F.conv2d(case.X, case.K, stride=s, padding=p, dilation=d, groups=g)


def _describe_matmul(case: MatmulCase):
    return (
        f"X {tuple(case.X.shape)}, K {tuple(case.K.shape)}, stride={case.stride!r}, "
        f"padding={case.padding!r}, dilation={case.dilation!r}, groups={case.groups}"
    )


# --- costs: FLOPs, parameters, bytes ----------------------------------------------------------


class CostCase(NamedTuple):
    c_i: int
    c_o: int
    kernel_size: int | tuple
    input_size: int | tuple
    stride: int | tuple
    padding: int | tuple


def _cost_cases(gen, device, n=40):
    """(c_i, c_o, kernel_size, input_size, stride, padding): valid layers, small and large."""
    cases = [
        (1, 64, 4, 28, 2, 1),
        (64, 128, 4, 14, 2, 1),
        (3, 2, 3, 5, 2, 1),
        (3, 96, 11, 224, 4, 2),
        (256, 512, 3, 14, 1, 1),
        (16, 16, 1, 7, 1, 0),
        (2, 3, (3, 5), (8, 8), (3, 4), (0, 1)),
        (5, 7, (1, 7), (17, 17), 1, (0, 3)),
        (8, 4, 5, 5, 1, 0),
        (3, 3, 2, 9, 3, 0),
    ]
    while len(cases) < n:
        ci, co = randint(gen, 1, 512), randint(gen, 1, 512)
        k = int_or_pair(gen, randint(gen, 1, 7), randint(gen, 1, 7))
        size = int_or_pair(gen, randint(gen, 1, 224), randint(gen, 1, 224))
        s = int_or_pair(gen, randint(gen, 1, 4), randint(gen, 1, 4))
        p = int_or_pair(gen, randint(gen, 0, 3), randint(gen, 0, 3))
        if all(n_ + 2 * p_ >= k_ for n_, p_, k_ in zip(pair(size), pair(p), pair(k))):
            cases.append((ci, co, k, size, s, p))
    return [CostCase(*case) for case in cases]


def _meta_layer(ci, co, k, s=1, p=0, bias=True, groups=1, dtype=torch.float32):
    return nn.Conv2d(ci, co, k, stride=s, padding=p, bias=bias, groups=groups, device="meta", dtype=dtype)


def _flops_oracle(case: CostCase):
    layer = _meta_layer(case.c_i, case.c_o, case.kernel_size, case.stride, case.padding)
    with FlopCounterMode(display=False) as counter:
        layer(torch.empty(1, case.c_i, *pair(case.input_size), device="meta"))
    return int(counter.get_total_flops())


def _describe_cost(case: CostCase):
    return (
        f"c_i={case.c_i}, c_o={case.c_o}, kernel_size={case.kernel_size!r}, input_size={case.input_size!r}, "
        f"stride={case.stride!r}, padding={case.padding!r}"
    )


def _run_flops(fn, c: CostCase):
    return call(fn, c.c_i, c.c_o, c.kernel_size, c.input_size, stride=c.stride, padding=c.padding, name="conv2d_flops")


class ParamsCase(NamedTuple):
    c_i: int
    c_o: int
    kernel_size: int | tuple
    bias: bool


def _params_case_list(gen, fixed: list[tuple], c_max: int) -> list[ParamsCase]:
    """The ``fixed`` cases, then 10 random layers with up to ``c_max`` channels in and out."""
    cases = list(fixed)
    for _ in range(10):
        c_i, c_o = randint(gen, 1, c_max), randint(gen, 1, c_max)
        cases.append((c_i, c_o, int_or_pair(gen, randint(gen, 1, 7), randint(gen, 1, 7)), bool(randint(gen, 0, 1))))
    return [ParamsCase(*case) for case in cases]


def _params_cases(gen, device):
    fixed = [(1, 64, 4, True), (64, 128, 4, True), (3, 2, 3, True), (3, 2, 3, False), (7, 5, (1, 3), True)]
    return _params_case_list(gen, [*fixed, (1, 1, 1, False), (256, 512, 3, True)], c_max=512)


def _params_oracle(case: ParamsCase):
    return sum(p.numel() for p in _meta_layer(case.c_i, case.c_o, case.kernel_size, bias=case.bias).parameters())


def _bias_per_channel_pair(case: ParamsCase) -> int:
    """The count with c_o x c_i biases, a common mistake."""
    k_h, k_w = pair(case.kernel_size)
    return case.c_o * case.c_i * k_h * k_w + (case.c_o * case.c_i if case.bias else 0)


def _multiply_adds(case: CostCase) -> int:
    """The FLOPs with each multiply-add counted once, a common mistake."""
    (k_h, k_w), (n_h, n_w), (s_h, s_w), (p_h, p_w) = (
        pair(v) for v in (case.kernel_size, case.input_size, case.stride, case.padding)
    )
    o_h, o_w = (n_h + 2 * p_h - k_h) // s_h + 1, (n_w + 2 * p_w - k_w) // s_w + 1
    return k_h * k_w * case.c_i * o_h * o_w * case.c_o


BIASES = Misconception(
    _bias_per_channel_pair, "This count has c_o x c_i biases; a layer has one bias per output channel, c_o in all"
)
MULTIPLY_ADDS = Misconception(
    _multiply_adds, "This is the number of multiply-adds; the convention counts each as two FLOPs"
)


def _run_params(fn, case: ParamsCase):
    return call(fn, case.c_i, case.c_o, case.kernel_size, bias=case.bias, name="conv2d_params")


def _describe_params(case: ParamsCase):
    return f"c_i={case.c_i}, c_o={case.c_o}, kernel_size={case.kernel_size!r}, bias={case.bias}"


class MemoryCase(NamedTuple):
    c_i: int
    c_o: int
    kernel_size: int | tuple
    input_size: int | tuple
    batch: int
    stride: int | tuple
    padding: int | tuple
    dtype: torch.dtype


def _memory_cases(gen, device):
    cases = []
    for i, c in enumerate(_cost_cases(gen, device, n=16)):
        dtype = (torch.float32, torch.float16, torch.float64, torch.bfloat16)[i % 4] if i >= 2 else torch.float32
        batch = randint(gen, 1, 64) if i > 0 else 1
        cases.append(MemoryCase(c.c_i, c.c_o, c.kernel_size, c.input_size, batch, c.stride, c.padding, dtype))
    return cases


def _memory_oracle(c: MemoryCase):
    """Bytes of the real parameters, the real output, and the real parameter gradients (meta device)."""
    layer = _meta_layer(c.c_i, c.c_o, c.kernel_size, c.stride, c.padding, dtype=c.dtype)
    Y = layer(torch.empty(c.batch, c.c_i, *pair(c.input_size), device="meta", dtype=c.dtype))
    Y.sum().backward()
    params = list(layer.parameters())
    return {
        "weights": sum(t.numel() * t.element_size() for t in params),
        "activations": Y.numel() * Y.element_size(),
        "gradients": sum(t.grad.numel() * t.grad.element_size() for t in params),
    }


def _run_memory(fn, c: MemoryCase):
    out = call(
        fn,
        c.c_i,
        c.c_o,
        c.kernel_size,
        c.input_size,
        batch=c.batch,
        stride=c.stride,
        padding=c.padding,
        dtype=c.dtype,
        name="conv2d_memory",
    )
    check_true(isinstance(out, dict), f"conv2d_memory should return a dict, received a {type(out).__name__}")
    missing = {"weights", "activations", "gradients"} - set(out)
    check_true(
        not missing,
        f"conv2d_memory should return a dict with the keys 'weights', 'activations' "
        f"and 'gradients'; missing {sorted(missing)}",
    )
    return out


def _compare_memory(received, expected, what, hidden=True):
    for key in ("weights", "activations", "gradients"):
        check_value(received[key], expected[key], f"{what}['{key}']", hidden=hidden)


def _describe_memory(c: MemoryCase):
    return (
        f"c_i={c.c_i}, c_o={c.c_o}, kernel_size={c.kernel_size!r}, input_size={c.input_size!r}, batch={c.batch}, "
        f"stride={c.stride!r}, padding={c.padding!r}, dtype={c.dtype}"
    )


class GroupedCase(NamedTuple):
    c_i: int
    c_o: int
    kernel_size: int | tuple
    groups: int
    bias: bool


def _grouped_cases(gen, device):
    cases = [
        (4, 8, 3, 2, True),
        (4, 8, 3, 4, False),
        (6, 6, 3, 6, True),
        (8, 4, 1, 4, True),
        (3, 6, (3, 5), 3, True),
        (12, 18, 5, 1, True),
        (2, 4, 2, 2, False),
    ]
    for _ in range(10):
        g = randint(gen, 1, 16)
        cases.append(
            (
                g * randint(gen, 1, 16),
                g * randint(gen, 1, 16),
                int_or_pair(gen, randint(gen, 1, 7), randint(gen, 1, 7)),
                g,
                bool(randint(gen, 0, 1)),
            )
        )
    return [GroupedCase(*case) for case in cases]


def _grouped_oracle(c: GroupedCase):
    return sum(p.numel() for p in _meta_layer(c.c_i, c.c_o, c.kernel_size, bias=c.bias, groups=c.groups).parameters())


def _run_grouped(fn, case: GroupedCase):
    return call(fn, case.c_i, case.c_o, case.kernel_size, case.groups, bias=case.bias, name="grouped_params")


def _separable_cases(gen, device):
    fixed = [(3, 16, 3, False), (3, 16, 3, True), (32, 64, 3, True), (1, 1, 1, False), (8, 4, (3, 5), True)]
    return _params_case_list(gen, fixed, c_max=256)


def _separable_oracle(case: ParamsCase):
    """A real depthwise nn.Conv2d (groups = c_i) followed by a real 1x1 nn.Conv2d."""
    ci, co, k, bias = case
    block = nn.Sequential(_meta_layer(ci, ci, k, bias=bias, groups=ci), _meta_layer(ci, co, 1, bias=bias))
    return sum(p.numel() for p in block.parameters())


def _run_separable(fn, case: ParamsCase):
    return call(fn, case.c_i, case.c_o, case.kernel_size, bias=case.bias, name="separable_params")


register(
    Item(
        "ch03.corr2d_multi_in",
        cases=with_float64(_multi_in_cases),
        forbidden="convolution",
        oracle=lambda c: F.conv2d(c.X[None], c.K[None])[0, 0],
    ),
    Item(
        "ch03.corr2d_multi_in_out",
        cases=with_float64(_multi_in_out_cases),
        forbidden="convolution",
        run=_run_shifted_products,
        oracle=lambda c: F.conv2d(c.X[None], c.K)[0],
    ),
    Item(
        "ch03.conv2d_matmul_valid",
        cases=with_float64(_matmul_valid_cases),
        forbidden="convolution",
        run=lambda fn, c: _run_matmul(fn, c, defaults=True),
        oracle=_matmul_oracle,
        describe=lambda c: f"X {tuple(c.X.shape)}, K {tuple(c.K.shape)}, groups={c.groups}",
    ),
    Item(
        "ch03.conv2d_matmul",
        cases=with_float64(_matmul_cases),
        forbidden="convolution",
        run=lambda fn, c: _run_matmul(fn, c, defaults=False),
        oracle=_matmul_oracle,
        describe=_describe_matmul,
    ),
    Item(
        "ch03.conv2d_flops",
        forbidden="derivation",
        misconceptions=(MULTIPLY_ADDS,),
        cases=_cost_cases,
        run=_run_flops,
        oracle=_flops_oracle,
        compare=_compare_values,
        describe=_describe_cost,
    ),
    Item(
        "ch03.conv2d_params",
        forbidden="derivation",
        misconceptions=(BIASES,),
        cases=_params_cases,
        run=_run_params,
        oracle=_params_oracle,
        compare=_compare_values,
        describe=_describe_params,
    ),
    Item(
        "ch03.conv2d_memory",
        forbidden="derivation",
        cases=_memory_cases,
        run=_run_memory,
        oracle=_memory_oracle,
        compare=_compare_memory,
        describe=_describe_memory,
    ),
    Item(
        "ch03.grouped_params",
        forbidden="derivation",
        cases=_grouped_cases,
        run=_run_grouped,
        oracle=_grouped_oracle,
        compare=_compare_values,
        describe=lambda c: f"c_i={c.c_i}, c_o={c.c_o}, kernel_size={c.kernel_size!r}, groups={c.groups}, bias={c.bias}",
    ),
    Item(
        "ch03.separable_params",
        forbidden="derivation",
        cases=_separable_cases,
        run=_run_separable,
        oracle=_separable_oracle,
        compare=_compare_values,
        describe=_describe_params,
    ),
)
