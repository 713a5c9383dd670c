"""One forward pass watched by forward hooks: the harness behind the course's layer tables
(:mod:`convcourse.summary`) and the grader's layer traces and cost oracles.

The grader sends this module to a kernel by value with its own code, so what a student
changes in their kernel's copy never reaches a hidden test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

Hook = Callable[[nn.Module, tuple, object], None]


@contextlib.contextmanager
def forward_hooks(modules: Iterable[nn.Module], hook: Hook) -> Iterator[None]:
    """``hook(module, args, output)`` after each of ``modules`` runs, until the block ends."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def watched_forward(net: nn.Module, x: torch.Tensor, modules: Iterable[nn.Module], hook: Hook):
    """``net(x)`` without gradients, with :func:`forward_hooks` on ``modules``."""
    with forward_hooks(modules, hook), torch.no_grad():
        return net(x)
