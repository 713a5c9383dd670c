"""Hidden tests of chapter 1: cross-correlation and the convolutional layer.

The oracle is always PyTorch (``F.conv2d``, ``F.avg_pool2d``, autograd), never a
copy of the solution.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .. import reference
from ..check import CheckError, call, check_tensor, check_true, watch
from . import Item, dims, fmt_pair, pair, rand, randint, register


def _conv(X, K):
    """PyTorch's 2-D cross-correlation of one matrix with one kernel."""
    return F.conv2d(X[None, None], K[None, None])[0, 0]


def _shapes(gen):
    """Input and kernel shapes: edge cases first, then random ones."""
    fixed = [((3, 3), (2, 2)), ((5, 4), (1, 1)), ((4, 6), (4, 6)), ((1, 7), (1, 3)), ((7, 2), (3, 1)), ((6, 8), (1, 2))]
    for _ in range(4):
        nh, nw = randint(gen, 1, 12), randint(gen, 1, 12)
        fixed.append(((nh, nw), (randint(gen, 1, nh), randint(gen, 1, nw))))
    return fixed


class CorrCase(NamedTuple):
    X: torch.Tensor
    K: torch.Tensor


def corr_cases(gen, device):
    """Random cases in float32, and one in float64: the output must follow the input's dtype (and
    device), as code that creates its output with ``dtype=X.dtype, device=X.device`` does."""
    cases = [CorrCase(rand(gen, *xs, device=device), rand(gen, *ks, device=device)) for xs, ks in _shapes(gen)]
    wide = torch.float64
    return [*cases, CorrCase(rand(gen, 5, 6, device=device, dtype=wide), rand(gen, 2, 3, device=device, dtype=wide))]


# corr2d asks for shift-and-add: one shifted slice of X per kernel entry. The tensor operations
# of one call (every operator the dispatcher runs: slices, products, sums, copies) may grow with
# the kernel but not with the output, and no window view of X (the chapter's unfold version).
_WINDOW_OPS = frozenset({"unfold", "unfold_copy", "as_strided", "as_strided_", "as_strided_copy", "im2col"})
OPS_PER_ENTRY, OPS_EXTRA = 10, 20


def _every_operator() -> frozenset:
    """The name of every operator the dispatcher knows (``add``, ``slice``, ``unfold``...)."""
    return frozenset(n.split("::")[-1].split(".")[0] for n in torch._C._dispatch_get_all_op_names())


def _run_corr2d(fn, case: CorrCase):
    X, K = case
    with watch(_every_operator()) as ops:
        Y = call(fn, X, K, name="corr2d")
    windows = sorted(f"aten.{o}" for o in set(ops.seen) & _WINDOW_OPS)
    if windows:
        raise CheckError(
            f"corr2d took windows of X ({', '.join(windows)}): the exercise asks for shift-and-add, "
            "one shifted slice of X per kernel entry, without unfold or as_strided"
        )
    budget = OPS_PER_ENTRY * K.numel() + OPS_EXTRA
    if len(ops.seen) > budget:
        raise CheckError(
            f"corr2d ran {len(ops.seen)} tensor operations for a {dims(X)} input and a {dims(K)} kernel: "
            f"the exercise allows at most {OPS_PER_ENTRY} per kernel entry + {OPS_EXTRA} = {budget} "
            "(shift-and-add loops over the kernel's entries, not over the output's pixels)"
        )
    return Y


def _flip_oracle(case: CorrCase):
    X, K = case  # unpacked: it also takes a plain (X, K), as the oracle thieves of tests/attacks_corpus.py pass it
    return _conv(X, K.flip(0, 1))


class Conv2DCase(NamedTuple):
    kernel_size: int | tuple
    X: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor


class InitCase(NamedTuple):
    """Many layers of each kernel size (an int or a pair): their parameters must be drawn
    uniformly from [-b, b], b = 1 / sqrt(k_h k_w), as nn.Conv2d draws them for one channel."""

    kernel_sizes: tuple
    layers: tuple  # how many layers of each size


# Each size gets at least INIT_SAMPLES weights, and each layer one bias (the biases divided by
# their b are pooled: 337 of them). Drawn uniformly from [-b, b], n values all stay above
# -0.8 b (or all below 0.8 b) with probability 0.9 ** n, so a right answer fails one of these
# 2 * 6 + 2 one-sided checks with probability below 14 * 0.9 ** 240 < 2e-10.
INIT_SIZES = (2, 3, 5, (1, 2), (3, 1), (2, 3))
INIT_SAMPLES = 240
INIT_REACH = 0.8


def _init_cases():
    counts = tuple(-(-INIT_SAMPLES // math.prod(pair(k))) for k in INIT_SIZES)
    return [InitCase(INIT_SIZES, counts)]


def _check_layer(layer, kernel_size):
    """The structure of a student's layer: the module, its two parameters and their shapes."""
    check_true(isinstance(layer, torch.nn.Module), "Conv2D(kernel_size) should create an nn.Module")
    params = dict(layer.named_parameters())
    check_true(
        set(params) == {"weight", "bias"},
        f"Conv2D should have exactly the parameters 'weight' and 'bias', found {sorted(params)}",
    )
    shape, found = pair(kernel_size), tuple(params["weight"].shape)
    check_true(found == shape, f"Conv2D({fmt_pair(kernel_size)}).weight should have shape {shape}, found {found}")
    check_true(
        tuple(params["bias"].shape) == (1,),
        f"Conv2D.bias should have shape (1,), found {tuple(params['bias'].shape)}",
    )
    return params


def _run_init(cls, case: InitCase):
    """Build the layers in the student's kernel; what comes back is their parameters, stacked
    per size (the grader checks the bounds and the spread)."""
    drawn = []
    for kernel_size, n in zip(case.kernel_sizes, case.layers):
        weights, biases = [], []
        for _ in range(n):
            params = _check_layer(call(cls, kernel_size, name="Conv2D"), kernel_size)
            weights.append(params["weight"].detach().to("cpu", torch.float64))
            biases.append(params["bias"].detach().to("cpu", torch.float64))
        drawn.append([torch.stack(weights), torch.cat(biases)])
    return drawn


def _run_conv2d_module(cls, case):
    if isinstance(case, InitCase):
        return _run_init(cls, case)
    kernel_size, X = case.kernel_size, case.X
    layer = call(cls, kernel_size, name="Conv2D")
    _check_layer(layer, kernel_size)
    layer = layer.to(X.device)
    with torch.no_grad():
        layer.weight.copy_(case.weight)
        layer.bias.copy_(case.bias.reshape(layer.bias.shape))
    return call(layer, X, name="Conv2D.forward")


def _conv2d_module_cases(gen, device):
    cases: list = _init_cases()
    for xs, ks in _shapes(gen)[:6]:
        kernel_size = ks[0] if ks[0] == ks[1] else ks  # a square kernel given as one int
        cases.append(
            Conv2DCase(
                kernel_size, rand(gen, *xs, device=device), rand(gen, *ks, device=device), rand(gen, 1, device=device)
            )
        )
    return cases


def _conv2d_module_oracle(case):
    if isinstance(case, InitCase):
        return case  # the grader checks the drawn parameters against the bounds (_compare_init)
    return _conv(case.X, case.weight) + case.bias


def _reach(values: torch.Tensor, b: float, what: str) -> None:
    """``values`` (of a parameter, over many layers) lie in [-b, b] and reach beyond 0.8 b on
    both sides, as so many uniform draws from [-b, b] do."""
    lo, hi = float(values.min()), float(values.max())
    check_true(
        -b * (1 + 1e-5) <= lo and hi <= b * (1 + 1e-5),
        f"{what} should lie in [{-b:.4g}, {b:.4g}] (b = 1/sqrt(k_h k_w)), found {lo if -lo > hi else hi:.4g}",
    )
    check_true(
        lo < -INIT_REACH * b and hi > INIT_REACH * b,
        f"{what} span only [{lo:.3g}, {hi:.3g}] over {values.numel()} draws: uniform on [{-b:.4g}, {b:.4g}] "
        f"they would reach beyond {INIT_REACH} b on both sides",
    )


def _compare_init(received, expected: InitCase, what: str) -> None:
    sizes = expected.kernel_sizes
    ok = isinstance(received, (list, tuple)) and len(received) == len(sizes)
    check_true(ok, f"{what}: expected the parameters of {len(sizes)} groups of layers")
    biases = []
    for kernel_size, n, got in zip(sizes, expected.layers, received):
        shape = (n, *pair(kernel_size))
        ok = isinstance(got, (list, tuple)) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)
        ok = ok and tuple(got[0].shape) == shape and tuple(got[1].shape) == (n,)
        check_true(ok, f"{what}: the parameters of Conv2D({fmt_pair(kernel_size)}) did not come back whole")
        b = 1 / math.sqrt(math.prod(pair(kernel_size)))
        _reach(got[0].double(), b, f"{what}: the weights of {n} layers Conv2D({fmt_pair(kernel_size)})")
        biases.append(got[1].double() / b)
    _reach(torch.cat(biases), 1.0, f"{what}: the biases, each divided by its layer's b,")


def _compare_conv2d_module(received, expected, what, hidden=True):
    if isinstance(expected, InitCase):
        _compare_init(received, expected, what)
    else:
        check_tensor(received, expected, what, hidden=hidden)


def _describe_conv2d_module(case) -> str:
    if isinstance(case, InitCase):
        return f"the initial parameters of {sum(case.layers)} layers of {len(case.layers)} kernel sizes"
    k_h, k_w = pair(case.kernel_size)
    return f"kernel {k_h}x{k_w}, input {case.X.shape[0]}x{case.X.shape[1]}"


_EDGE = {"vertical": [[1.0, -1.0]], "horizontal": [[1.0], [-1.0]], "diagonal": [[1.0, 0.0], [0.0, -1.0]]}


def _blocky_image(gen, device, n=8):
    """A piecewise-constant image: random blocks, so it has edges in every direction."""
    coarse = torch.randint(0, 2, (n // 2 + 1, n // 2 + 1), generator=gen).float()
    img = coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)[:n, :n]
    return (img + rand(gen, 1, 1)).to(device)


class EdgeCase(NamedTuple):
    direction: str
    X: torch.Tensor


def _edge_cases(gen, device):
    return [EdgeCase(d, _blocky_image(gen, device)) for d in ("vertical", "horizontal", "diagonal") for _ in range(2)]


def _run_edge(fn, case: EdgeCase):
    K = call(fn, case.direction, name="edge_kernel")
    check_true(
        isinstance(K, torch.Tensor) and K.dim() == 2, f"edge_kernel({case.direction!r}) should return a 2-D tensor"
    )
    return _conv(case.X, K.to(case.X.device, case.X.dtype))


def _quadratic_image(gen, device, n=7):
    a, b, c, d = (float(rand(gen, 1)) * 3 for _ in range(4))
    i = torch.arange(n, dtype=torch.float32)[:, None]
    j = torch.arange(n, dtype=torch.float32)[None, :]
    return (a * i**2 + b * j**2 + c * i + d * j + c * d).to(device), 2 * (a + b)


class LaplacianCase(NamedTuple):
    X: torch.Tensor
    laplacian: float  # the Laplacian of the quadratic image, the same at every pixel


def _laplacian_cases(gen, device):
    return [LaplacianCase(*_quadratic_image(gen, device)) for _ in range(4)]


def _run_laplacian(fn, case: LaplacianCase):
    X = case.X
    K = call(fn, name="laplacian_kernel")
    check_true(
        isinstance(K, torch.Tensor) and tuple(K.shape) == (3, 3),
        f"laplacian_kernel() should return a 3x3 tensor, received "
        f"{tuple(K.shape) if isinstance(K, torch.Tensor) else type(K).__name__}",
    )
    return _conv(X, K.to(X.device, X.dtype))


class BlurCase(NamedTuple):
    k: int
    X: torch.Tensor


def _blur_cases(gen, device):
    return [BlurCase(k, rand(gen, 9, 9, device=device)) for k in (1, 2, 3, 5)]


def _run_blur(fn, case: BlurCase):
    k, X = case.k, case.X
    K = call(fn, k, name="blur_kernel")
    check_true(
        isinstance(K, torch.Tensor) and tuple(K.shape) == (k, k), f"blur_kernel({k}) should return a {k}x{k} tensor"
    )
    return _conv(X, K.to(X.device, X.dtype))


class LearnCase(NamedTuple):
    X: torch.Tensor
    Y: torch.Tensor
    kernel_size: tuple
    lr: float
    steps: int


def _learn_cases(gen, device):
    cases = []
    for ks, steps, lr in (((1, 2), 10, 0.01), ((2, 2), 15, 0.02), ((1, 3), 8, 0.03)):
        X = rand(gen, 6, 8, device=device)
        Y = _conv(X, rand(gen, *ks, device=device))
        cases.append(LearnCase(X, Y, ks, lr, steps))
    return cases


def learn_oracle(case: LearnCase):
    """Plain gradient descent on the summed squared error, from a zero kernel, via F.conv2d."""
    X, Y = case.X, case.Y
    K = torch.zeros(case.kernel_size, device=X.device, requires_grad=True)
    for _ in range(case.steps):
        loss = ((_conv(X, K) - Y) ** 2).sum()
        (grad,) = torch.autograd.grad(loss, K)
        with torch.no_grad():
            K -= case.lr * grad
    return K.detach()


class GradCase(NamedTuple):
    X: torch.Tensor
    K: torch.Tensor
    G: torch.Tensor  # the gradient of the loss with respect to the output


def _grad_cases(gen, device):
    cases = []
    for xs, ks in _shapes(gen)[:6]:
        X, K = rand(gen, *xs, device=device), rand(gen, *ks, device=device)
        G = rand(gen, xs[0] - ks[0] + 1, xs[1] - ks[1] + 1, device=device)
        cases.append(GradCase(X, K, G))
    return cases


def _grad_oracle(case: GradCase):
    X, K, G = (t.clone().requires_grad_(True) for t in case)
    dX, dK = torch.autograd.grad((_conv(X, K) * G).sum(), (X, K))
    return torch.cat([dX.flatten(), dK.flatten()])


def _run_grad(fn, case: GradCase):
    out = call(fn, *case, name="corr2d_grads")
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckError("corr2d_grads should return a pair (dX, dK)")
    dX, dK = out
    for name, g, t in (("dX", dX, case.X), ("dK", dK, case.K)):
        if not isinstance(g, torch.Tensor) or g.shape != t.shape:
            raise CheckError(f"corr2d_grads: {name} should be a tensor of shape {tuple(t.shape)}")
    return torch.cat([dX.detach().flatten(), dK.detach().flatten()])


# The answers that call corr2d are judged with the course's corr2d in place of the student's:
# a wrong corr2d costs corr2d's points only.
_CORR2D = {"corr2d": reference.corr2d}

register(
    Item("ch01.corr2d", forbidden="convolution", cases=corr_cases, run=_run_corr2d, oracle=lambda c: _conv(*c)),
    Item(
        "ch01.conv2d_flip",
        forbidden="convolution",
        given=_CORR2D,
        cases=corr_cases,
        oracle=_flip_oracle,
    ),
    Item(
        "ch01.Conv2D",
        forbidden="convolution",
        given=_CORR2D,
        cases=_conv2d_module_cases,
        run=_run_conv2d_module,
        oracle=_conv2d_module_oracle,
        compare=_compare_conv2d_module,
        describe=_describe_conv2d_module,
    ),
    Item(
        "ch01.edge_kernel",
        cases=_edge_cases,
        run=_run_edge,
        oracle=lambda c: _conv(c.X, torch.tensor(_EDGE[c.direction], device=c.X.device)),
        describe=lambda c: f"{c.direction} edges on an 8x8 image",
    ),
    Item(
        "ch01.laplacian_kernel",
        cases=_laplacian_cases,
        run=_run_laplacian,
        oracle=lambda c: torch.full((c.X.shape[0] - 2, c.X.shape[1] - 2), c.laplacian, device=c.X.device),
        describe=lambda c: "a quadratic 7x7 image",
    ),
    Item(
        "ch01.blur_kernel",
        cases=_blur_cases,
        run=_run_blur,
        oracle=lambda c: F.avg_pool2d(c.X[None, None], c.k, stride=1)[0, 0],
        describe=lambda c: f"k={c.k} on a 9x9 image",
    ),
    Item(
        "ch01.learn_kernel",
        forbidden="convolution",
        given=_CORR2D,
        cases=_learn_cases,
        oracle=learn_oracle,
        describe=lambda c: f"kernel {c.kernel_size[0]}x{c.kernel_size[1]}, lr={c.lr}, steps={c.steps}",
    ),
    Item(
        "ch01.corr2d_grads",
        forbidden="convolution",
        given=_CORR2D,
        cases=_grad_cases,
        run=_run_grad,
        oracle=_grad_oracle,
    ),
)
