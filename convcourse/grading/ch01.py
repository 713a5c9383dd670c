"""Hidden tests of chapter 1: cross-correlation and the convolutional layer.

The oracle is always PyTorch (``F.conv2d``, ``F.avg_pool2d``, autograd), never a
copy of the solution.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .. import reference
from ..check import CheckError, call, check_true
from . import Item, rand, randint, register


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


def _flip_oracle(case: CorrCase):
    X, K = case  # unpacked: it also takes a plain (X, K), as the oracle thieves of tests/attacks_corpus.py pass it
    return _conv(X, K.flip(0, 1))


class Conv2DCase(NamedTuple):
    kernel_size: tuple
    X: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor


def _run_conv2d_module(cls, case: Conv2DCase):
    kernel_size, X = case.kernel_size, case.X
    layer = call(cls, kernel_size, name="Conv2D")
    params = dict(layer.named_parameters()) if isinstance(layer, torch.nn.Module) else {}
    check_true(isinstance(layer, torch.nn.Module), "Conv2D(kernel_size) should create an nn.Module")
    check_true(
        set(params) == {"weight", "bias"},
        f"Conv2D should have exactly the parameters 'weight' and 'bias', found {sorted(params)}",
    )
    check_true(
        tuple(params["weight"].shape) == tuple(kernel_size),
        f"Conv2D({kernel_size}).weight should have shape {tuple(kernel_size)}, found {tuple(params['weight'].shape)}",
    )
    check_true(
        params["bias"].numel() == 1, f"Conv2D.bias should hold one number, found shape {tuple(params['bias'].shape)}"
    )
    layer = layer.to(X.device)
    with torch.no_grad():
        layer.weight.copy_(case.weight)
        layer.bias.copy_(case.bias.reshape(layer.bias.shape))
    return call(layer, X, name="Conv2D.forward")


def _conv2d_module_cases(gen, device):
    cases = []
    for xs, ks in _shapes(gen)[:6]:
        cases.append(
            Conv2DCase(ks, rand(gen, *xs, device=device), rand(gen, *ks, device=device), rand(gen, 1, device=device))
        )
    return cases


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
    Item("ch01.corr2d", forbidden="convolution", cases=corr_cases, oracle=lambda c: _conv(*c)),
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
        oracle=lambda c: _conv(c.X, c.weight) + c.bias,
        describe=lambda c: f"kernel {c.kernel_size[0]}x{c.kernel_size[1]}, input {c.X.shape[0]}x{c.X.shape[1]}",
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
