"""Hidden tests of chapter 9: GoogLeNet.

Oracles are modules assembled here from ``nn.Conv2d``, ``nn.MaxPool2d``,
``nn.AdaptiveAvgPool2d`` and ``nn.Linear`` (never ``convcourse.models.googlenet``),
parameter counts by ``sum(p.numel())``, FLOPs by ``FlopCounterMode``, and, for the
smallest input a stack of layers accepts, a search over real forward passes.
Blocks and networks are checked on numbers: the student's module and the reference get the
same random weights, drawn from a seed in creation order (see :mod:`convcourse.grading.nets`).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch
from torch import nn

from ..check import CheckError, call, check_tensor, check_true
from . import Item, asked, dims, exact, rand, randint, register
from .nets import (
    compare_each,
    describe_on_inputs,
    flops,
    network_item,
    new_seed,
    one_thread,
    weighted_reference,
    weighted_run,
)


def _cr(c_in, c_out, k, **kw):
    return [nn.Conv2d(c_in, c_out, k, **kw), nn.ReLU()]


class RefInception(nn.Module):
    """The four paths of an Inception block, from nn layers (``reduce=False``: no 1x1 reductions;
    ``double_3x3``: path 3's 5x5 convolution factorised into two 3x3 ones, c3[0] -> c3[1] -> c3[1])."""

    def __init__(self, c1, c2, c3, c4, in_channels, reduce=True, double_3x3=False):
        super().__init__()
        self.p1 = nn.Sequential(*_cr(in_channels, c1, 1))
        if reduce:
            self.p2 = nn.Sequential(*_cr(in_channels, c2[0], 1), *_cr(c2[0], c2[1], 3, padding=1))
            wide = (
                [*_cr(c3[0], c3[1], 3, padding=1), *_cr(c3[1], c3[1], 3, padding=1)]
                if double_3x3
                else _cr(c3[0], c3[1], 5, padding=2)
            )
            self.p3 = nn.Sequential(*_cr(in_channels, c3[0], 1), *wide)
        else:
            self.p2 = nn.Sequential(*_cr(in_channels, c2[1], 3, padding=1))
            wide = (
                [*_cr(in_channels, c3[1], 3, padding=1), *_cr(c3[1], c3[1], 3, padding=1)]
                if double_3x3
                else _cr(in_channels, c3[1], 5, padding=2)
            )
            self.p3 = nn.Sequential(*wide)
        self.p4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *_cr(in_channels, c4, 1))

    def forward(self, x):
        return torch.cat([self.p1(x), self.p2(x), self.p3(x), self.p4(x)], 1)


Spec = tuple  # (c1, (c2r, c2), (c3r, c3), c4)

_STAGES: tuple[tuple[Spec, ...], ...] = (  # the chapter's blocks 3a-3b, 4a-4e, 5a-5b
    ((64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)),
    (
        (192, (96, 208), (16, 48), 64),
        (160, (112, 224), (24, 64), 64),
        (128, (128, 256), (24, 64), 64),
        (112, (144, 288), (32, 64), 64),
        (256, (160, 320), (32, 128), 128),
    ),
    ((256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)),
)


def ref_googlenet(num_classes=10, in_channels=1, stages=_STAGES, double_3x3=False):
    c, parts = 192, []
    for specs in stages:
        blocks = []
        for c1, c2, c3, c4 in specs:
            blocks.append(RefInception(c1, c2, c3, c4, c, double_3x3=double_3x3))
            c = c1 + c2[1] + c3[1] + c4
        parts.append(blocks)
    return nn.Sequential(
        nn.Sequential(*_cr(in_channels, 64, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, 1)),
        nn.Sequential(*_cr(64, 64, 1), *_cr(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, 1)),
        nn.Sequential(*parts[0], nn.MaxPool2d(3, 2, 1)),
        nn.Sequential(*parts[1], nn.MaxPool2d(3, 2, 1)),
        nn.Sequential(*parts[2], nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        nn.Linear(c, num_classes),
    )


# --------------------------------------------------------------------------- Inception
class InceptionCase(NamedTuple):
    channels: tuple  # (c1, (c2r, c2), (c3r, c3), c4)
    in_channels: int
    double_3x3: bool
    X: torch.Tensor
    seed: int

    def who(self) -> str:
        (c1, c2, c3, c4) = self.channels
        double = ", double_3x3=True" if self.double_3x3 else ""
        return f"Inception({c1}, {c2}, {c3}, {c4}, {self.in_channels}{double})"


def _inception_cases(gen, device):
    fixed = [
        ((1, (1, 1), (1, 1), 1), 1, (1, 1, 1, 1)),  # 1x1 input
        ((2, (3, 4), (2, 5), 3), 4, (2, 4, 6, 5)),
        ((8, (12, 16), (2, 4), 4), 24, (1, 24, 12, 12)),  # block 3a with an eighth of the channels
        ((3, (2, 6), (1, 2), 5), 3, (2, 3, 7, 3)),  # non-square
        ((4, (4, 4), (4, 4), 4), 2, (1, 2, 2, 9)),
    ]
    c1, c2r, c2, c3r, c3, c4 = (randint(gen, 1, 8) for _ in range(6))
    c_in = randint(gen, 1, 8)
    fixed.append(
        (
            (c1, (c2r, c2), (c3r, c3), c4),
            c_in,
            (randint(gen, 1, 3), c_in, randint(gen, 1, 10), randint(gen, 1, 10)),
        )
    )
    # every block twice: with path 3's 5x5 convolution, and with it factorised into two 3x3 ones
    return [
        InceptionCase(chans, c_in, double, rand(gen, *shape, device=device), new_seed(gen))
        for chans, c_in, shape in fixed
        for double in (False, True)
    ]


def _describe_inception(c: InceptionCase):
    return f"{c.who()} on a {dims(c.X)} input"


def _paths_then_output(c: InceptionCase):
    """``work`` for the student's block: each path keeps the height and width, then the output."""
    (c1, c2, c3, c4), X, who = c.channels, c.X, c.who()
    B, _, H, W = X.shape

    def work(block):
        for name, channels in (("p1", c1), ("p2", c2[1]), ("p3", c3[1]), ("p4", c4)):
            out = call(getattr(block, name), X, name=f"{who}.{name}")
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (B, channels, H, W):
                got = dims(out) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckError(
                    f"{who}: path {name} gives shape {got} on a {dims(X)} input; it should keep "
                    f"the height and width and give {channels} channels"
                )
        return call(block, X, name=f"{who}.forward")

    return work


def _run_inception(cls, c: InceptionCase):
    who = c.who()
    # the chapter's block is asked for with five arguments, as googlenet() builds it by default
    block = call(cls, *c.channels, c.in_channels, name="Inception", **asked(double_3x3=c.double_3x3))
    check_true(isinstance(block, nn.Module), f"Inception should be an nn.Module, {who} is a {type(block).__name__}")
    for name in ("p1", "p2", "p3", "p4"):
        check_true(
            isinstance(getattr(block, name, None), nn.Module),
            f"{who}: give the block its four paths as attributes p1, p2, p3, p4 (nn.Modules)",
        )
    return weighted_run(block, c.seed, c.X.device, who, _paths_then_output(c))


def _oracle_inception(c: InceptionCase):
    return weighted_reference(
        functools.partial(RefInception, double_3x3=c.double_3x3),
        (*c.channels, c.in_channels),
        c.seed,
        c.X.device,
        c.who(),
        lambda net: net(c.X),
    )


# --------------------------------------------------------------------------- GoogLeNet
class GoogLeNetCase(NamedTuple):
    """A GoogLeNet built once and run on each input, its weights drawn from ``seed``; ``stages``
    None is the chapter's network, asked for without the argument."""

    num_classes: int
    in_channels: int
    stages: tuple | None
    double_3x3: bool
    inputs: tuple
    seed: int

    def who(self) -> str:
        extra = "" if self.stages is None else f", stages={self.stages}"
        extra += ", double_3x3=True" if self.double_3x3 else ""
        return f"googlenet(num_classes={self.num_classes}, in_channels={self.in_channels}{extra})"


def _spec(gen) -> Spec:
    return (
        randint(gen, 1, 12),
        (randint(gen, 1, 8), randint(gen, 1, 12)),
        (randint(gen, 1, 4), randint(gen, 1, 8)),
        randint(gen, 1, 8),
    )


_NARROW = (  # the chapter's blocks with an eighth of the channels, stage 4 cut to two blocks
    ((8, (12, 16), (2, 4), 4), (16, (16, 24), (4, 12), 8)),
    ((24, (12, 26), (2, 6), 8), (32, (20, 40), (4, 16), 16)),
    ((32, (20, 40), (4, 16), 16), (48, (24, 48), (6, 16), 16)),
)


def _googlenet_cases(gen, device):
    fixed = [
        (10, 1, None, False, [(1, 1, 96, 96), (2, 1, 32, 32), (1, 1, 33, 47)]),
        (5, 3, None, False, [(1, 3, 1, 1)]),
        (7, 2, _NARROW, False, [(1, 2, 64, 48)]),
        (4, 1, _NARROW, True, [(2, 1, 32, 32)]),
        (3, 1, None, True, [(1, 1, 40, 40)]),
        (6, 1, ((), ((4, (2, 4), (2, 4), 4),), ((8, (4, 8), (2, 4), 4),) * 3), False, [(1, 1, 30, 30)]),  # empty b3
    ]
    stages = tuple(tuple(_spec(gen) for _ in range(randint(gen, 1, 3))) for _ in range(3))
    c_in = randint(gen, 1, 3)
    fixed.append((randint(gen, 2, 10), c_in, stages, bool(randint(gen, 0, 1)), [(2, c_in, 40, 36)]))
    return [
        GoogLeNetCase(ncls, c, st, dbl, tuple(rand(gen, *shape, device=device) for shape in shapes), new_seed(gen))
        for ncls, c, st, dbl, shapes in fixed
    ]


def _run_googlenet(fn, c: GoogLeNetCase):
    who = c.who()
    variant = asked(stages=c.stages, double_3x3=c.double_3x3)
    net = call(fn, num_classes=c.num_classes, in_channels=c.in_channels, name="googlenet", **variant)
    check_true(
        isinstance(net, nn.Sequential) and len(net) == 6,
        f"{who} should return an nn.Sequential of six parts (b1, b2, b3, b4, b5, the dense layer), "
        f"received {type(net).__name__}" + (f" of {len(net)}" if isinstance(net, nn.Sequential) else ""),
    )
    return weighted_run(net, c.seed, c.inputs[0].device, who, lambda net: [_stages(net, X, who) for X in c.inputs])


def _stages(net, X, who):
    """The output shape of each of the six parts, and the network's output."""
    stages, x = [], X
    with torch.no_grad():
        for i, part in enumerate(net):
            x = call(part, x, name=f"{who} stage {i + 1}")
            check_true(isinstance(x, torch.Tensor), f"{who}: stage {i + 1} should return a tensor")
            stages.append(tuple(x.shape))
    return {"stages": stages, "out": x}


def _oracle_googlenet(c: GoogLeNetCase):
    return weighted_reference(
        ref_googlenet,
        (c.num_classes, c.in_channels, _STAGES if c.stages is None else c.stages, c.double_3x3),
        c.seed,
        c.inputs[0].device,
        c.who(),
        lambda net: [_stages(net, X, "the reference") for X in c.inputs],
    )


def _compare_stages(received, expected, what, hidden=True):
    for i, (got, want) in enumerate(zip(received["stages"], expected["stages"])):
        if tuple(got) != want:
            part = f"stage b{i + 1}" if i < 5 else "the dense layer"
            raise CheckError(f"{what}: {part} gives shape {dims(got)}, expected {dims(want)}")
    check_tensor(received["out"], expected["out"], what, hidden=hidden)


# --------------------------------------------------------------------------- FLOPs of the reductions
class FlopsCase(NamedTuple):
    in_channels: int
    height: int
    width: int
    c1: int
    c2: tuple  # (c2r, c2)
    c3: tuple  # (c3r, c3)
    c4: int
    reduce: bool
    double_3x3: bool = False


def _flops_cases(gen, device):
    cases = []
    for reduce in (True, False):
        cases += [
            (192, 12, 12, 64, (96, 128), (16, 32), 32, reduce),  # 3a at 96x96 inputs
            (528, 6, 6, 256, (160, 320), (32, 128), 128, reduce),  # 4e
            (832, 3, 3, 384, (192, 384), (48, 128), 128, reduce),  # 5b
            (3, 5, 7, 2, (4, 6), (1, 3), 2, reduce),
            (5, 1, 1, 1, (2, 2), (2, 2), 1, reduce),
        ]
        cases += [  # path 3 factorised into two 3x3 convolutions
            (192, 12, 12, 64, (96, 128), (16, 32), 32, reduce, True),
            (3, 5, 7, 2, (4, 6), (1, 3), 2, reduce, True),
            (6, 4, 2, 3, (2, 5), (7, 2), 1, reduce, True),  # c3[1] < c3[0]
        ]
    c1, c2r, c2, c3r, c3, c4 = (randint(gen, 1, 64) for _ in range(6))
    cases.append(
        (
            randint(gen, 1, 64),
            randint(gen, 1, 16),
            randint(gen, 1, 16),
            c1,
            (c2r, c2),
            (c3r, c3),
            c4,
            bool(randint(gen, 0, 1)),
            bool(randint(gen, 0, 1)),
        )
    )
    return [FlopsCase(*case) for case in cases]


def _oracle_flops(c: FlopsCase):
    with torch.device("meta"):
        block = RefInception(c.c1, c.c2, c.c3, c.c4, c.in_channels, reduce=c.reduce, double_3x3=c.double_3x3)
    return flops(block, (1, c.in_channels, c.height, c.width))


def _flops_variant(c: FlopsCase) -> dict[str, Any]:
    """The keywords of a case: ``double_3x3`` only when it is asked for."""
    return {"reduce": c.reduce, **asked(double_3x3=c.double_3x3)}


def _describe_flops(c: FlopsCase):
    keywords = ", ".join(f"{k}={v}" for k, v in _flops_variant(c).items())
    return f"inception_flops({c.in_channels}, {c.height}, {c.width}, {c.c1}, {c.c2}, {c.c3}, {c.c4}, {keywords})"


def _run_flops(fn, c: FlopsCase):
    args = (c.in_channels, c.height, c.width, c.c1, c.c2, c.c3, c.c4)
    return call(fn, *args, name="inception_flops", **_flops_variant(c))


# --------------------------------------------------------------------------- smallest input
_STACKS = [
    [(7, 2, 3), (3, 2, 1), (3, 2, 1), (3, 2, 1), (3, 2, 1)],  # this course's GoogLeNet
    [(7, 2, 3), (3, 2, 0), (3, 2, 0), (3, 2, 0), (3, 2, 0)],  # the same with unpadded pooling
    [(11, 4, 0), (3, 2, 0), (3, 2, 0), (3, 2, 0)],  # NiN
    [(11, 4, 1), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 2, 0)],  # AlexNet
    [(2, 2, 0)] * 5,  # VGG
    [(5, 1, 2), (2, 2, 0), (5, 1, 0), (2, 2, 0)],  # LeNet
    [(3, 1, 1), (5, 1, 2)],  # size-preserving only
    [(4, 3, 0), (1, 1, 0), (3, 1, 2), (6, 2, 0)],  # stride < kernel, padding that grows
    [(2, 5, 0), (7, 1, 0)],  # stride larger than the kernel
    # with a fourth number, the dilation
    [(3, 1, 0, 2), (3, 2, 1), (3, 1, 0, 4)],
    [(7, 2, 3), (3, 2, 1, 1), (3, 1, 2, 2), (3, 2, 1)],  # dilation 1 written out; padding = dilation
    [(2, 2, 0, 3), (5, 1, 0, 2)],
]


def _min_cases(gen, device):
    cases = [tuple(s) for s in _STACKS]
    for _ in range(2):
        layers = []
        for _ in range(randint(gen, 1, 5)):
            k = randint(gen, 1, 7)
            layer = (k, randint(gen, 1, 4), randint(gen, 0, k // 2))
            layers.append(layer + ((randint(gen, 1, 3),) if randint(gen, 0, 1) else ()))
        cases.append(tuple(layers))
    return cases


def _accepts(layers, n) -> bool:
    x = torch.zeros(1, 1, n, n)
    try:
        with torch.no_grad():
            for k, s, p, *d in layers:  # (kernel, stride, padding[, dilation])
                x = nn.functional.conv2d(x, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d[0] if d else 1)
        return x.numel() > 0
    except RuntimeError:
        return False


def _oracle_min(case):
    """The smallest n whose n x n input passes through real convolutions of these sizes (searched)."""
    hi = 1
    while not _accepts(case, hi):  # accepted sizes form an interval [n, inf): double, then bisect
        hi *= 2
    lo = hi // 2  # not accepted (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _accepts(case, mid) else (mid, hi)
    return hi


def _run_min(fn, case):
    return call(fn, [tuple(layer) for layer in case], name="min_input_size")


register(
    network_item(
        "ch09.Inception",
        cases=_inception_cases,
        run=_run_inception,
        oracle=_oracle_inception,
        describe=_describe_inception,
    ),
    network_item(
        "ch09.googlenet",
        cases=_googlenet_cases,
        run=_run_googlenet,
        oracle=_oracle_googlenet,
        describe=describe_on_inputs,
        compare_value=compare_each(_compare_stages),
    ),
    Item(
        "ch09.inception_flops",
        forbidden="derivation",
        cases=_flops_cases,
        oracle=_oracle_flops,
        run=_run_flops,
        compare=exact(),
        describe=_describe_flops,
    ),
    Item(
        "ch09.min_input_size",
        forbidden="derivation",
        cases=_min_cases,
        run=_run_min,
        oracle=one_thread(_oracle_min),
        compare=exact(),
        describe=lambda c: f"min_input_size({list(c)})",
    ),
)
