"""Hidden tests of chapter 8: Network in Network.

Oracles are modules assembled here from ``nn.Conv2d``, ``nn.MaxPool2d``,
``nn.AdaptiveAvgPool2d`` and ``nn.Linear`` (never ``convcourse.models.nin``), parameter
counts by ``sum(p.numel())`` and FLOPs by ``FlopCounterMode``.  Blocks and networks
are checked on numbers: the student's module and the reference get the same random weights,
drawn from a seed in creation order (see :mod:`convcourse.grading.nets`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..check import CheckError, call, check_tensor, check_true
from . import Item, asked, dims, exact, rand, randint, register
from .nets import (
    compare_each,
    describe_on_inputs,
    flops,
    forward,
    n_params,
    network_item,
    new_seed,
    weighted_reference,
    weighted_run,
)


def ref_nin_block(out_channels, kernel_size, strides, padding, in_channels, mlp=None):
    """A k x k convolution, then 1x1 convolutions to the channels of ``mlp`` (by default two of
    ``out_channels``, the chapter's block), each followed by a ReLU."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=strides, padding=padding), nn.ReLU()]
    c = out_channels
    for width in (out_channels, out_channels) if mlp is None else mlp:
        layers += [nn.Conv2d(c, width, kernel_size=(1, 1)), nn.ReLU()]
        c = width
    return nn.Sequential(*layers)


def ref_nin(num_classes=10, in_channels=1, widths=(96, 256, 384)):
    w1, w2, w3 = widths
    return nn.Sequential(
        ref_nin_block(w1, 11, 4, 0, in_channels),
        nn.MaxPool2d(3, stride=2),
        ref_nin_block(w2, 5, 1, 2, w1),
        nn.MaxPool2d(3, stride=2),
        ref_nin_block(w3, 3, 1, 1, w2),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        ref_nin_block(num_classes, 3, 1, 1, w3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


# --------------------------------------------------------------------------- nin_block
class BlockCase(NamedTuple):
    out_channels: int
    kernel_size: int
    strides: int
    padding: int
    in_channels: int
    mlp: tuple | None  # None: the chapter's block, asked for without the argument
    X: torch.Tensor
    seed: int

    def args(self) -> tuple:
        return (self.out_channels, self.kernel_size, self.strides, self.padding, self.in_channels)

    def who(self) -> str:
        mlp = "" if self.mlp is None else f", mlp={self.mlp}"
        return "nin_block({}, {}, {}, {}, {}".format(*self.args()) + mlp + ")"


def _block_cases(gen, device):
    fixed = [
        (4, 3, 1, 1, 2, None, (2, 2, 6, 6)),
        (6, 5, 2, 0, 3, None, (1, 3, 11, 9)),
        (3, 1, 1, 0, 1, None, (2, 1, 4, 5)),  # 1x1 kernel
        (2, 4, 3, 1, 2, None, (1, 2, 10, 7)),
        (3, 2, 3, 0, 2, None, (1, 2, 9, 9)),  # stride larger than the kernel
        (4, 5, 1, 0, 1, None, (1, 1, 5, 5)),  # kernel as large as the input
        (5, 11, 4, 0, 1, None, (2, 1, 31, 27)),  # NiN's first block, narrower
        (4, 3, 1, 1, 2, (5, 3), (2, 2, 6, 6)),  # a per-pixel network that narrows
        (6, 5, 2, 0, 3, (), (1, 3, 11, 9)),  # no 1x1 layer
        (3, 1, 1, 0, 1, (2,), (2, 1, 4, 5)),
        (2, 4, 3, 1, 2, (3, 1, 4), (1, 2, 10, 7)),
        (4, 3, 1, 0, 2, (4, 4), (1, 2, 6, 5)),  # the default, spelled out
    ]
    k = randint(gen, 1, 5)
    c_in = randint(gen, 1, 4)
    fixed.append(
        (
            randint(gen, 1, 6),
            k,
            randint(gen, 1, 3),
            randint(gen, 0, k // 2),
            c_in,
            tuple(randint(gen, 1, 6) for _ in range(randint(gen, 0, 3))),
            (randint(gen, 1, 3), c_in, randint(gen, k, 12), randint(gen, k, 12)),
        )
    )
    return [
        BlockCase(out, k, s, p, c_in, mlp, rand(gen, *shape, device=device), new_seed(gen))
        for out, k, s, p, c_in, mlp, shape in fixed
    ]


def _run_block(fn, c: BlockCase):
    # the chapter's block is asked for with five arguments, as nin() builds it
    block = call(fn, *c.args(), name="nin_block", **asked(mlp=c.mlp))
    return weighted_run(block, c.seed, c.X.device, c.who(), forward(c.X, f"{c.who()}.forward"))


def _oracle_block(c: BlockCase):
    return weighted_reference(ref_nin_block, (*c.args(), c.mlp), c.seed, c.X.device, c.who(), lambda net: net(c.X))


# --------------------------------------------------------------------------- nin
class NinCase(NamedTuple):
    """A NiN built once and run on each input, its weights drawn from ``seed``; ``widths`` None
    is the chapter's network, asked for without the argument."""

    num_classes: int
    in_channels: int
    widths: tuple | None
    inputs: tuple
    seed: int

    def who(self) -> str:
        widths = "" if self.widths is None else f", widths={self.widths}"
        return f"nin(num_classes={self.num_classes}, in_channels={self.in_channels}{widths})"


def _nin_cases(gen, device):
    fixed = [
        (10, 1, None, [(1, 1, 224, 224), (2, 1, 96, 96)]),
        (5, 3, None, [(1, 3, 67, 67)]),
        (7, 2, (12, 20, 16), [(2, 2, 80, 100)]),
        (4, 1, (8, 16, 24), [(2, 1, 67, 67), (1, 1, 99, 75)]),
        (3, 2, (6, 6, 6), [(1, 2, 70, 70)]),
    ]
    c_in = randint(gen, 1, 3)
    widths = tuple(randint(gen, 1, 24) for _ in range(3))
    fixed.append((randint(gen, 2, 10), c_in, widths, [(2, c_in, randint(gen, 67, 90), randint(gen, 67, 90))]))
    return [
        NinCase(ncls, c_in, w, tuple(rand(gen, *shape, device=device) for shape in shapes), new_seed(gen))
        for ncls, c_in, w, shapes in fixed
    ]


def _run_nin(fn, c: NinCase):
    net = call(fn, num_classes=c.num_classes, in_channels=c.in_channels, name="nin", **asked(widths=c.widths))
    check_true(isinstance(net, nn.Module), f"nin should return an nn.Module, received a {type(net).__name__}")
    check_true(
        not any(isinstance(m, nn.Linear) for m in net.modules()),
        "nin: NiN has no dense (nn.Linear) layer: end with a NiN block of num_classes channels "
        "and global average pooling",
    )
    drops = [m.p for m in net.modules() if isinstance(m, nn.Dropout)]
    check_true(
        drops == [0.5],
        f"nin: expected one nn.Dropout(0.5) before the last NiN block, found {len(drops)} with p = {drops}",
    )
    return weighted_run(
        net,
        c.seed,
        c.inputs[0].device,
        c.who(),
        lambda net: [call(net, X, name="nin(...).forward") for X in c.inputs],
    )


def _oracle_nin(c: NinCase):
    args = (c.num_classes, c.in_channels) + (() if c.widths is None else (c.widths,))
    with torch.no_grad():
        return weighted_reference(
            ref_nin, args, c.seed, c.inputs[0].device, c.who(), lambda net: [net(X) for X in c.inputs]
        )


# --------------------------------------------------------------------------- heads
class HeadCase(NamedTuple):
    channels: int
    height: int
    width: int
    num_classes: int


def _head_cases(gen, device):
    cases = [(384, 5, 5, 10), (1, 1, 1, 2), (16, 7, 3, 1), (512, 7, 7, 1000)]
    cases.append((randint(gen, 1, 256), randint(gen, 1, 9), randint(gen, 1, 9), randint(gen, 2, 100)))
    return [HeadCase(*case) for case in cases]


def _oracle_head(case):
    c, h, w, ncls = case
    with torch.device("meta"):
        gap = nn.Sequential(nn.Conv2d(c, ncls, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        dense = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, ncls))
        x = torch.zeros(1, c, h, w)
        assert gap(x).shape == dense(x).shape == (1, ncls)
    return (n_params(gap), n_params(dense))


def _run_pair(name):
    def run(fn, case):
        out = call(fn, *case, name=name)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckError(f"{name} should return a pair of numbers, received {type(out).__name__}")
        return tuple(out)

    return run


# --------------------------------------------------------------------------- cost of 1x1 layers
class CostCase(NamedTuple):
    in_channels: int
    out_channels: int
    kernel_size: int
    strides: int
    padding: int
    height: int
    width: int
    mlp: tuple | None  # None: the chapter's two 1x1 layers, asked for without the argument

    def args(self) -> tuple:
        return self[:7] if self.mlp is None else tuple(self)


def _cost_cases(gen, device):
    cases = [
        (1, 96, 11, 4, 0, 224, 224, None),
        (1, 96, 11, 4, 0, 224, 224, ()),
        (96, 256, 5, 1, 2, 26, 26, (256,)),
        (384, 10, 3, 1, 1, 5, 5, None),
        (3, 8, 3, 2, 1, 9, 7, (8, 8, 8, 8)),
        (2, 4, 1, 1, 0, 6, 5, (4, 4, 4)),
        (4, 6, 2, 3, 0, 10, 11, (6, 6)),
        (1, 96, 11, 4, 0, 224, 224, (64, 10)),  # a per-pixel network that narrows
        (3, 5, 3, 1, 1, 8, 6, (7, 2, 9)),
        (16, 8, 5, 2, 2, 13, 17, (1,)),
    ]
    k = randint(gen, 1, 7)
    cases.append(
        (
            randint(gen, 1, 16),
            randint(gen, 1, 64),
            k,
            randint(gen, 1, 4),
            randint(gen, 0, k // 2),
            randint(gen, k, 40),
            randint(gen, k, 40),
            tuple(randint(gen, 1, 64) for _ in range(randint(gen, 0, 4))),
        )
    )
    return [CostCase(*case) for case in cases]


def _oracle_cost(c: CostCase):
    with torch.device("meta"):
        block = ref_nin_block(c.out_channels, c.kernel_size, c.strides, c.padding, c.in_channels, mlp=c.mlp)
    return (n_params(block), flops(block, (1, c.in_channels, c.height, c.width)))


def _describe_cost(c: CostCase) -> str:
    mlp = "" if c.mlp is None else f", mlp={c.mlp}"
    return "nin_block_cost({}, {}, {}, {}, {}, {}, {}".format(*c[:7]) + mlp + ")"


def _run_cost(fn, c: CostCase):
    return _run_pair("nin_block_cost")(fn, c.args())


register(
    network_item(
        "ch08.nin_block",
        cases=_block_cases,
        run=_run_block,
        oracle=_oracle_block,
        describe=lambda c: f"{c.who()} on a {dims(c.X)} input",
    ),
    network_item(
        "ch08.nin",
        cases=_nin_cases,
        run=_run_nin,
        oracle=_oracle_nin,
        describe=describe_on_inputs,
        compare_value=compare_each(check_tensor),
    ),
    Item(
        "ch08.head_params",
        forbidden="derivation",
        cases=_head_cases,
        run=_run_pair("head_params"),
        oracle=_oracle_head,
        compare=exact("global-average-pooling head", "dense head"),
        describe=lambda c: "head_params({}, {}, {}, {})".format(*c),
    ),
    Item(
        "ch08.nin_block_cost",
        forbidden="derivation",
        cases=_cost_cases,
        run=_run_cost,
        oracle=_oracle_cost,
        compare=exact("parameters", "FLOPs"),
        describe=_describe_cost,
    ),
)
