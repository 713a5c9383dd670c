"""The course's own versions of answers that other answers call, so that a test can judge one
answer on its own (:func:`convcourse.check.given_names`).

``call(conv2d, X, K, given={"corr2d": reference.corr2d})`` runs the student's ``conv2d`` with
this ``corr2d`` in place of theirs: a mistake in their ``corr2d`` costs the points of
``corr2d`` only. A reference runs only while it stands in for an answer like that; called in
any other way it refuses, so it is never an answer itself. Plain tensor operations only: it
must pass every forbidden-operator check, backward included.
"""

from __future__ import annotations

import torch
from torch import nn

from .check import CheckError, standing_in
from .hooks import watched_forward


def _only_standing_in(name: str) -> None:
    if not standing_in():
        raise CheckError(
            f"convcourse.reference.{name} only stands in for an answer inside the tests: write your own {name}"
        )


def torch_corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """PyTorch's own cross-correlation of a matrix with a kernel (``F.conv2d``), for tests that
    must not depend on the student's ``corr2d``. It runs anywhere, and it is no answer: the
    exercises that ask for a cross-correlation forbid convolution routines."""
    return torch.nn.functional.conv2d(X[None, None], K[None, None].to(X.dtype))[0, 0]


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """2-D cross-correlation of a matrix with a kernel, from views and a sum."""
    _only_standing_in("corr2d")
    h, w = K.shape
    windows = X.unfold(0, h, 1).unfold(1, w, 1)  # (n_h - h + 1, n_w - w + 1, h, w)
    return (windows * K).sum(dim=(-2, -1))


def layer_costs(net: nn.Module, input_shape) -> list[tuple[str, int, int]]:
    """[(name, parameters, FLOPs)] of each nn.Conv2d and nn.Linear of ``net``, in forward order
    (a multiply-add counts as two operations; biases are not counted)."""
    _only_standing_in("layer_costs")
    names = {id(m): name for name, m in net.named_modules()}
    rows: list[tuple[str, int, int]] = []

    def hook(layer, inputs, out):
        params = sum(p.numel() for p in layer.parameters())
        if isinstance(layer, nn.Conv2d):
            k_h, k_w = layer.kernel_size
            flops = 2 * out.numel() * (layer.in_channels // layer.groups) * k_h * k_w
        else:
            flops = 2 * out.numel() * layer.in_features
        rows.append((names[id(layer)], params, flops))

    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    device = next(net.parameters()).device
    watched_forward(net, torch.zeros(input_shape, device=device), layers, hook)
    return rows
