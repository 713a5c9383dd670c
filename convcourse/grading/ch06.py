"""Hidden tests of chapter 6: AlexNet.

Oracles: reference networks built here from ``nn`` layers (shapes, parameter counts and, with
the same seeded weights drawn into the student's network and the reference, outputs),
``sum(p.numel())`` of real modules and ``torch.utils.flop_counter.FlopCounterMode`` run on each
layer.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .. import reference
from ..check import CheckError, call, check_true
from ..hooks import watched_forward
from . import Item, rand, randint, register
from .nets import against_reference, fmt_shape, module_result, reference_result, weights_drawn_later

# ----------------------------------------------------------------------------- alexnet


def alexnet_reference(in_channels: int, num_classes: int, image_size: int = 224) -> nn.Sequential:
    """The chapter's AlexNet (:mod:`convcourse.models.alexnet`), which the hidden test compares
    with, for ``image_size`` x ``image_size`` inputs: the first dense layer takes what the
    convolutions give for that size (the chapter's network is for 224 only)."""
    from ..models.alexnet import alexnet

    net = alexnet(in_channels, num_classes)
    flat = next(i for i, m in enumerate(net) if isinstance(m, nn.Flatten))
    with torch.device("meta"):
        features = net[: flat + 1](torch.zeros(1, in_channels, image_size, image_size)).shape[1]
    net[flat + 1] = nn.Linear(features, net[flat + 1].out_features)
    return net


def _check_dropout(net, who, what, p=0.5, count=2):
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    check_true(len(drops) == count, f"{what}: {who} should have {count} nn.Dropout layers, found {len(drops)}")
    check_true(
        all(abs(m.p - p) < 1e-12 for m in drops),
        f"{what}: the dropout layers of {who} should drop with probability {p}",
    )


class AlexNetCase(NamedTuple):
    in_channels: int
    num_classes: int
    image_size: int
    X: torch.Tensor
    seed: int

    def who(self) -> str:
        return f"alexnet({self.in_channels}, {self.num_classes}, image_size={self.image_size})"


def _alexnet_cases(gen, device):
    """224 (the chapter's size), 227 (the paper's), and a size drawn from 65, the smallest
    that leaves a 1 x 1 map after the last pooling, to 260."""
    sizes = [(1, 10, 224, 1), (3, randint(gen, 2, 20), 227, 2), (randint(gen, 1, 3), randint(gen, 2, 20), 0, 1)]
    cases = []
    for c_in, classes, size, batch in sizes:
        size = size or randint(gen, 65, 260)
        X = rand(gen, batch, c_in, size, size, device=device, low=0.0, high=1.0)
        cases.append(AlexNetCase(c_in, classes, size, X, randint(gen, 0, 2**62)))
    return cases


def _run_alexnet(fn, c: AlexNetCase):
    with weights_drawn_later():  # module_result draws them
        net = call(fn, c.in_channels, c.num_classes, image_size=c.image_size, name="alexnet")
    check_true(isinstance(net, nn.Module), f"alexnet should return an nn.Module, not a {type(net).__name__}")
    _check_dropout(net, "your network", c.who())
    return module_result(net, c.X, c.who(), c.seed)


# ----------------------------------------------------------------------------- layer_costs


class NetCase(NamedTuple):
    net: nn.Module
    input_shape: tuple


def _costs_nets(gen, device):
    """Networks with convolutions and dense layers: strides, padding, groups, no bias, nesting."""
    nets = []
    c = randint(gen, 1, 3)
    h, w = randint(gen, 20, 40), randint(gen, 20, 40)
    nets.append(
        (
            nn.Sequential(
                nn.Conv2d(c, 8, 5, stride=2, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 12, 3, padding=1, bias=False),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d((2, 3)),
                nn.Flatten(),
                nn.Linear(72, 9),
            ),
            (randint(gen, 1, 3), c, h, w),
        )
    )
    nets.append(
        (
            nn.Sequential(
                nn.Sequential(nn.Conv2d(4, 8, (3, 5), stride=(1, 2), padding=(1, 0)), nn.ReLU()),
                nn.Sequential(nn.Conv2d(8, 8, 3, groups=4), nn.ReLU(), nn.Conv2d(8, 16, 1)),
                nn.AdaptiveMaxPool2d(1),
                nn.Flatten(),
                nn.Linear(16, 5, bias=False),
            ),
            (2, 4, 17, 23),
        )
    )
    nets.append(
        (
            nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10)),
            (4, 3, 8, 8),
        )
    )
    k = randint(gen, 1, 7)
    nets.append(
        (
            nn.Sequential(nn.Conv2d(2, 3, k, stride=randint(gen, 1, 3), padding=k // 2)),
            (1, 2, randint(gen, 9, 30), randint(gen, 9, 30)),
        )
    )
    return [NetCase(net.to(device).eval(), shape) for net, shape in nets]


def costs_oracle(case: NetCase):
    """[(name, parameters, FLOPs)] of each Conv2d and Linear, in forward order (FlopCounterMode)."""
    net, shape = case
    rows = []
    names = {m: name for name, m in net.named_modules()}

    def hook(m, args, out):
        with FlopCounterMode(display=False) as counter:
            m.forward(*args)  # not m(...): that would run this hook again
        rows.append((names[m], sum(p.numel() for p in m.parameters()), int(counter.get_total_flops())))

    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    watched_forward(net, torch.zeros(shape, device=next(net.parameters()).device), layers, hook)
    return rows


def _run_costs(fn, case: NetCase):
    rows = call(fn, case.net, case.input_shape, name="layer_costs")
    check_true(
        isinstance(rows, (list, tuple)),
        f"layer_costs should return a list of (name, parameters, FLOPs), not a {type(rows).__name__}",
    )
    out = []
    for i, row in enumerate(rows):
        check_true(
            isinstance(row, (list, tuple)) and len(row) == 3 and isinstance(row[0], str),
            f"layer_costs: row {i} should be a triple (name, parameters, FLOPs), received {str(row)[:60]}",
        )
        try:
            out.append((row[0], int(row[1]), int(row[2])))
        except (TypeError, ValueError):
            raise CheckError(f"layer_costs: row {i} should hold whole numbers for the parameters and FLOPs") from None
    return out


def _compare_costs(received, expected, what, hidden=True):
    if len(received) != len(expected):
        raise CheckError(
            f"{what}: layer_costs returned {len(received)} rows, but the network has "
            f"{len(expected)} convolution and dense layers"
        )
    for r, e in zip(received, expected):
        if r[0] != e[0]:
            raise CheckError(
                f"{what}: row name {r[0]!r} is not the name of the next convolution or dense "
                f"layer in forward order (use the names of net.named_modules())"
            )
        if r[1] != e[1]:
            raise CheckError(f"{what}: layer {r[0]!r} has {r[1]:,} parameters, which is not right")
        if r[2] != e[2]:
            hint = ""
            if e[2] and r[2] * 2 == e[2]:
                hint = " (a multiply-add counts as two FLOPs)"
            raise CheckError(f"{what}: layer {r[0]!r}: {r[2]:,} FLOPs is not right{hint}")


def _describe_net(case: NetCase):
    n = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in case.net.modules())
    return f"{n} conv/dense layers, input {fmt_shape(case.input_shape)}"


# ----------------------------------------------------------------------------- dominant_layers


def _small_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 24, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(24, 48, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(48 * 6 * 6, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def _nested_convs(c1: int, c2: int) -> nn.Sequential:
    """Convolutions only, nested: a 1x1 layer at high resolution against a 3x3 one at low resolution."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, c1, 1), nn.ReLU()),
        nn.Sequential(nn.MaxPool2d(4), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU()),
        nn.Conv2d(c2, c2, 3, stride=2),
    )


def _narrow_alexnet(n: int) -> nn.Sequential:
    """An AlexNet layout with every layer n times narrower, for 224x224 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 96 // n, 11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96 // n, 256 // n, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256 // n, 384 // n, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // n, 384 // n, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384 // n, 256 // n, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(256 // n * 25, 4096 // n), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096 // n, 4096 // n), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096 // n, 10),
    )  # fmt: skip


def _dominant_cases(gen, device):
    # a wide dense head on a small map: the dense layer wins both
    wide_head = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 500), nn.ReLU(), nn.Linear(500, 7))
    c1, c2 = randint(gen, 8, 16), randint(gen, 40, 64)
    cases = [
        (_small_net(), (1, 1, 28, 28)),
        (wide_head, (2, 3, 8, 8)),
        (_nested_convs(c1, c2), (1, 3, 64, 64)),
        (_narrow_alexnet(randint(gen, 8, 16)), (1, 1, 224, 224)),
    ]
    return [NetCase(net.to(device).eval(), shape) for net, shape in cases]


def _dominant_oracle(case: NetCase):
    rows = costs_oracle(case)
    most_params = max(rows, key=lambda r: r[1])[0]
    most_flops = max(rows, key=lambda r: r[2])[0]
    return (most_params, most_flops)


def _run_dominant(fn, case: NetCase):
    out = call(fn, case.net, case.input_shape, name="dominant_layers")
    check_true(
        isinstance(out, (list, tuple)) and len(out) == 2 and all(isinstance(s, str) for s in out),
        f"dominant_layers should return a pair of layer names (str, str), received {str(out)[:60]}",
    )
    return tuple(out)


def _compare_dominant(received, expected, what, hidden=True):
    if received[0] != expected[0]:
        raise CheckError(f"{what}: {received[0]!r} is not the layer with the most parameters")
    if received[1] != expected[1]:
        raise CheckError(f"{what}: {received[1]!r} is not the layer with the most FLOPs")


# ----------------------------------------------------------------------------- slim_alexnet


def slim_alexnet_reference(c: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, c, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(c, 2 * c, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(2 * c, 3 * c, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(3 * c, 3 * c, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(3 * c, 2 * c, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(2 * c * 3 * 3, 16 * c),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(16 * c, 16 * c),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(16 * c, 10),
    )


class SlimCase(NamedTuple):
    width: int  # slim_alexnet's c: the first convolution's channels
    X: torch.Tensor
    seed: int

    def who(self) -> str:
        return f"slim_alexnet({self.width})"


def _slim_cases(gen, device):
    widths = [8, 1, randint(gen, 2, 12), randint(gen, 13, 24)]
    return [
        SlimCase(c, rand(gen, randint(gen, 1, 4), 1, 28, 28, device=device, low=-1.0, high=1.0), randint(gen, 0, 2**62))
        for c in widths
    ]


def _run_slim(fn, c: SlimCase):
    net = call(fn, c.width, name="slim_alexnet")
    check_true(isinstance(net, nn.Module), f"slim_alexnet should return an nn.Module, not a {type(net).__name__}")
    _check_dropout(net, "your network", c.who())
    return module_result(net, c.X, c.who(), c.seed)


register(
    Item(
        "ch06.alexnet",
        cases=_alexnet_cases,
        run=_run_alexnet,
        oracle=lambda c: reference_result(alexnet_reference, (c.in_channels, c.num_classes, c.image_size), c.X, c.seed),
        compare=against_reference("check the stem's stride and padding, the pooling windows and the ReLUs"),
        describe=lambda c: f"{c.who()}, input {fmt_shape(c.X.shape)}",
    ),
    Item(
        "ch06.layer_costs",
        forbidden="flop_counting",
        cases=_costs_nets,
        run=_run_costs,
        oracle=costs_oracle,
        compare=_compare_costs,
        describe=_describe_net,
    ),
    Item(
        "ch06.dominant_layers",
        given={"layer_costs": reference.layer_costs},  # judged on its own
        cases=_dominant_cases,
        run=_run_dominant,
        oracle=_dominant_oracle,
        compare=_compare_dominant,
        describe=_describe_net,
    ),
    Item(
        "ch06.slim_alexnet",
        cases=_slim_cases,
        run=_run_slim,
        oracle=lambda c: reference_result(slim_alexnet_reference, (c.width,), c.X, c.seed),
        compare=against_reference(
            "is there a ReLU after every convolution and the first two dense layers, and are the pooling windows right?"
        ),
        describe=lambda c: f"{c.who()}, input {fmt_shape(c.X.shape)}",
    ),
)
