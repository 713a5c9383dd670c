"""Hidden tests of chapter 7: VGG.

Oracles are PyTorch modules assembled here from ``nn.Conv2d``, ``nn.MaxPool2d`` and
``nn.Linear`` (never the course's own ``convcourse.models.vgg``), torchvision's
``vgg11/13/16/19`` (built on the ``meta`` device: no weights, no download), parameter
counts by ``sum(p.numel())``, FLOPs by ``torch.utils.flop_counter.FlopCounterMode``
and receptive fields by autograd.

To check a student's block or network on numbers, not only on shapes, the student's
module and the reference get the same random weights, drawn from a seed in the order the
parameters are created (:mod:`convcourse.grading.nets`), after checking that the shapes
agree; then both run on the same input.  A missing ReLU, the wrong pooling or the wrong
padding shows up as a wrong output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from ..check import CheckError, call, check_true, check_value
from . import Item, asked, dims, exact, rand, randint, register
from .nets import (
    flops,
    forward,
    n_params,
    network_item,
    new_seed,
    one_thread,
    weighted_reference,
    weighted_run,
)


# --------------------------------------------------------------------------- helpers
def _call_tuple(fn, args, name, length):
    out = call(fn, *args, name=name)
    if not isinstance(out, (tuple, list)) or len(out) != length:
        raise CheckError(f"{name} should return a tuple of {length} numbers, received {type(out).__name__}")
    return tuple(out)


# --------------------------------------------------------------------------- references
def ref_block(num_convs, out_channels, in_channels, batch_norm=False):
    """n 3x3 convolutions (padding 1) with ReLUs, then 2x2 max pooling: from nn layers. With
    ``batch_norm``, each convolution loses its bias and a BatchNorm2d sits before its ReLU (the
    variant the exercise asks for, which the course's own ``vgg_block`` does not build)."""
    layers: list[nn.Module] = []
    c = in_channels
    for _ in range(num_convs):
        conv = nn.Conv2d(c, out_channels, kernel_size=(3, 3), padding=(1, 1), bias=not batch_norm)
        layers += [conv, nn.BatchNorm2d(out_channels), nn.ReLU()] if batch_norm else [conv, nn.ReLU()]
        c = out_channels
    layers.append(nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2)))
    return nn.Sequential(*layers)


def _ref_features(arch, in_channels, batch_norm=False):
    blocks, c = [], in_channels
    for num_convs, out_channels in arch:
        blocks.append(ref_block(num_convs, out_channels, c, batch_norm))
        c = out_channels
    return blocks


def _sides(image_size) -> tuple[int, int]:
    """(height, width) of ``image_size``, an int for a square input or a pair."""
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


def ref_vgg(arch, in_channels=1, num_classes=10, image_size=224, hidden=4096, num_hidden=2, batch_norm=False):
    """A VGG network assembled from nn layers: ``num_hidden`` dense layers of ``hidden`` units with
    ReLU and dropout, then the output layer. The flatten size is found by a forward pass (meta
    device)."""
    with torch.device("meta"):
        probe = nn.Sequential(*_ref_features(arch, in_channels))
        flat = probe(torch.zeros(1, in_channels, *_sides(image_size))).numel()
    head = []
    for _ in range(num_hidden):
        head += [nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(0.5)]
        flat = hidden
    return nn.Sequential(
        *_ref_features(arch, in_channels, batch_norm), nn.Flatten(), *head, nn.Linear(flat, num_classes)
    )


def torchvision_arch(name: str):
    """(num_convs, out_channels) per block, read off torchvision's VGG features (meta device)."""
    import torchvision

    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None)
    arch, convs, out = [], 0, None
    for layer in model.features:
        if isinstance(layer, nn.Conv2d):
            convs, out = convs + 1, layer.out_channels
        elif isinstance(layer, nn.MaxPool2d):
            arch.append((convs, out))
            convs = 0
    conv_params = sum(n_params(m) for m in model.features if isinstance(m, nn.Conv2d))
    return tuple(arch), conv_params


# --------------------------------------------------------------------------- vgg_block
class BlockCase(NamedTuple):
    num_convs: int
    out_channels: int
    in_channels: int
    batch_norm: bool
    X: torch.Tensor
    seed: int

    def who(self) -> str:
        norm = ", batch_norm=True" if self.batch_norm else ""
        return f"vgg_block({self.num_convs}, {self.out_channels}, {self.in_channels}{norm})"


def _block_cases(gen, device):
    fixed = [
        (1, 4, 3, (2, 3, 8, 8)),
        (2, 8, 3, (1, 3, 7, 9)),
        (3, 5, 2, (2, 2, 6, 4)),
        (1, 1, 1, (1, 1, 2, 2)),
        (2, 6, 4, (3, 4, 11, 5)),
    ]
    for _ in range(2):
        c_in = randint(gen, 1, 6)
        fixed.append(
            (
                randint(gen, 1, 3),
                randint(gen, 1, 8),
                c_in,
                (randint(gen, 1, 3), c_in, randint(gen, 2, 12), randint(gen, 2, 12)),
            )
        )
    # every block twice: without and with batch normalisation
    return [
        BlockCase(n, c_out, c_in, norm, rand(gen, *shape, device=device), new_seed(gen))
        for n, c_out, c_in, shape in fixed
        for norm in (False, True)
    ]


def _run_block(fn, c: BlockCase):
    # the plain block is asked for with three arguments, as vgg() builds it
    block = call(fn, c.num_convs, c.out_channels, c.in_channels, name="vgg_block", **asked(batch_norm=c.batch_norm))
    return weighted_run(block, c.seed, c.X.device, c.who(), forward(c.X, f"{c.who()}.forward"))


def _oracle_block(c: BlockCase):
    return weighted_reference(
        ref_block,
        (c.num_convs, c.out_channels, c.in_channels, c.batch_norm),
        c.seed,
        c.X.device,
        c.who(),
        lambda net: net(c.X),
    )


# --------------------------------------------------------------------------- vgg
class VGGCase(NamedTuple):
    arch: tuple
    in_channels: int
    num_classes: int
    image_size: int | tuple  # an int (square) or (height, width)
    hidden: int
    num_hidden: int | None  # None: the chapter's head, asked for without the argument
    batch_norm: bool
    X: torch.Tensor
    seed: int

    def variant(self) -> dict[str, Any]:
        """The keywords beyond the chapter's network, passed only when a case uses them."""
        return asked(num_hidden=self.num_hidden, batch_norm=self.batch_norm)

    def who(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.variant().items())
        return (
            f"vgg({self.arch}, in_channels={self.in_channels}, num_classes={self.num_classes}, "
            f"image_size={self.image_size}, hidden={self.hidden}{extra})"
        )


def _vgg_cases(gen, device):
    fixed = [  # arch, in_channels, num_classes, image_size, hidden, num_hidden, batch_norm, batch
        (((1, 4), (1, 8)), 1, 10, 16, 32, None, False, 2),
        (((2, 4), (1, 6), (1, 8)), 3, 5, 24, 16, None, True, 2),  # 24 -> 12 -> 6 -> 3
        (((1, 3),), 2, 7, 9, 12, 0, False, 3),  # odd size: 9 -> 4; no hidden layer
        (((1, 2),) * 5, 1, 10, 32, 8, None, False, 1),  # five blocks: 32 -> 1
        (((1, 2), (2, 3)), 1, 4, (14, 20), 6, 1, False, 2),  # 14 x 20 -> 7 x 10 -> 3 x 5
        (((1, 4), (1, 4)), 2, 3, (12, 9), 8, 3, True, 2),
        (((2, 3),), 1, 2, 6, 5, 2, False, 1),  # the default head, spelled out
    ]
    nb = randint(gen, 1, 3)
    arch = tuple((randint(gen, 1, 2), randint(gen, 1, 6)) for _ in range(nb))
    size = (randint(gen, 2**nb, 20), randint(gen, 2**nb, 20))
    fixed.append(
        (
            arch,
            randint(gen, 1, 3),
            randint(gen, 2, 6),
            size,
            randint(gen, 4, 16),
            randint(gen, 0, 3),
            bool(randint(gen, 0, 1)),
            2,
        )
    )
    return [
        VGGCase(
            arch, c_in, ncls, size, hidden, nh, bn, rand(gen, batch, c_in, *_sides(size), device=device), new_seed(gen)
        )
        for arch, c_in, ncls, size, hidden, nh, bn, batch in fixed
    ]


def _describe_vgg(c: VGGCase):
    return f"{c.who()} on a {dims(c.X)} input"


def _run_vgg(fn, c: VGGCase):
    net = call(
        fn,
        c.arch,
        in_channels=c.in_channels,
        num_classes=c.num_classes,
        image_size=c.image_size,
        hidden=c.hidden,
        name="vgg",
        **c.variant(),
    )
    check_true(isinstance(net, nn.Module), f"vgg should return an nn.Module, received a {type(net).__name__}")
    drops = [m.p for m in net.modules() if isinstance(m, nn.Dropout)]
    want = 2 if c.num_hidden is None else c.num_hidden
    check_true(
        len(drops) == want and all(p == 0.5 for p in drops),
        f"{c.who()}: expected {want} nn.Dropout(0.5) layers (one after each hidden dense layer), found "
        f"{len(drops)} with p = {drops}",
    )
    return weighted_run(net, c.seed, c.X.device, c.who(), forward(c.X, "vgg(...).forward"))


def _oracle_vgg(c: VGGCase):
    return weighted_reference(
        ref_vgg,
        (
            c.arch,
            c.in_channels,
            c.num_classes,
            c.image_size,
            c.hidden,
            2 if c.num_hidden is None else c.num_hidden,
            c.batch_norm,
        ),
        c.seed,
        c.X.device,
        c.who(),
        lambda net: net(c.X),
    )


# --------------------------------------------------------------------------- configurations
class ArchCase(NamedTuple):
    name: str  # one of torchvision's VGGs: the student's VGG16_ARCH or VGG19_ARCH is compared with it

    @property
    def label(self) -> str:
        return f"{self.name.upper()}_ARCH"


def _arch_cases(gen, device):
    return [ArchCase("vgg16"), ArchCase("vgg19")]


def _run_arch(obj, case: ArchCase):
    if not (isinstance(obj, tuple) and len(obj) == 2):
        raise CheckError("pass the tuple (VGG16_ARCH, VGG19_ARCH)")
    arch = obj[0] if case.name == "vgg16" else obj[1]
    try:
        return tuple((int(n), int(c)) for n, c in arch)
    except (TypeError, ValueError):
        raise CheckError(f"{case.label} should be a tuple of (num_convs, out_channels) pairs") from None


def _compare_arch(received, expected, what, hidden=True):
    if len(received) != len(expected):
        raise CheckError(f"{what}: it has {len(received)} blocks; VGG networks have {len(expected)}")
    for i, (g, w) in enumerate(zip(received, expected)):
        if g != w:
            raise CheckError(
                f"{what}: its block {i + 1}, {g}, differs from torchvision's "
                f"(count the 3x3 convolutions between two max poolings)"
            )


class ConvParamsCase(NamedTuple):
    arch: str | tuple  # the name of one of torchvision's VGGs, or (num_convs, out_channels) pairs
    in_channels: int


def _conv_params_cases(gen, device):
    cases = [ConvParamsCase(name, 3) for name in ("vgg11", "vgg13", "vgg16", "vgg19")]
    for _ in range(3):
        arch = tuple((randint(gen, 1, 4), randint(gen, 1, 64)) for _ in range(randint(gen, 1, 5)))
        cases.append(ConvParamsCase(arch, randint(gen, 1, 4)))
    cases.append(ConvParamsCase(((1, 1),), 1))
    return cases


def _describe_conv_params(case: ConvParamsCase):
    what = f"torchvision's {case.arch}" if isinstance(case.arch, str) else str(case.arch)
    return f"vgg_conv_params({what}, in_channels={case.in_channels})"


def _run_conv_params(fn, case: ConvParamsCase):
    arch = torchvision_arch(case.arch)[0] if isinstance(case.arch, str) else case.arch
    return call(fn, arch, case.in_channels, name="vgg_conv_params")


def _oracle_conv_params(case: ConvParamsCase):
    if isinstance(case.arch, str):
        return torchvision_arch(case.arch)[1]
    convs, c = [], case.in_channels
    for n, out in case.arch:
        for _ in range(n):
            convs.append(nn.Conv2d(c, out, 3, padding=1, device="meta"))
            c = out
    return sum(n_params(m) for m in convs)


# --------------------------------------------------------------------------- cost
class CostCase(NamedTuple):
    arch: tuple
    image_size: int
    in_channels: int
    num_classes: int
    hidden: int


def _cost_cases(gen, device):
    from convcourse.models.vgg import CFGS  # only the published architecture tuples, not the builders

    cases = [
        (CFGS["vgg11"], 224, 1, 10, 4096),
        (CFGS["vgg11_narrow"], 224, 1, 10, 4096),
        (CFGS["vgg11_narrow"], 64, 1, 10, 4096),
        (CFGS["vgg16"], 224, 3, 1000, 4096),
        (((1, 4), (2, 8)), 50, 3, 7, 32),
        (((2, 5),), 9, 2, 3, 10),
    ]
    nb = randint(gen, 1, 4)
    arch = tuple((randint(gen, 1, 3), randint(gen, 1, 32)) for _ in range(nb))
    cases.append((arch, randint(gen, 2**nb, 64), randint(gen, 1, 3), randint(gen, 2, 20), randint(gen, 8, 64)))
    return [CostCase(*case) for case in cases]


def _run_cost(fn, case: CostCase):
    return _call_tuple(fn, case, "vgg_cost", 2)


def _oracle_cost(c: CostCase):
    with torch.device("meta"):
        net = ref_vgg(c.arch, c.in_channels, c.num_classes, c.image_size, c.hidden)
    return (n_params(net), flops(net, (1, c.in_channels, c.image_size, c.image_size)))


def _describe_cost(c: CostCase):
    return f"vgg_cost({c.arch}, {c.image_size}, {c.in_channels}, {c.num_classes}, {c.hidden})"


class RatioCase(NamedTuple):
    label: str


def _oracle_vs_alexnet(case: RatioCase):
    from convcourse.models.alexnet import alexnet
    from convcourse.models.vgg import CFGS

    with torch.device("meta"):
        v, a = ref_vgg(CFGS["vgg11"], 1, 10, 224, 4096), alexnet(1, 10)
    shape = (1, 1, 224, 224)
    return (n_params(v) / n_params(a), flops(v, shape) / flops(a, shape))


def _run_vs_alexnet(obj, case: RatioCase):
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise CheckError("VGG11_VS_ALEXNET should be a pair (parameter ratio, FLOP ratio)")
    return tuple(obj)


def _compare_ratio(received, expected, what, hidden=True):
    for i, label in enumerate(("parameter ratio", "FLOP ratio")):
        check_value(received[i], expected[i], f"VGG11_VS_ALEXNET: the {label}", hidden=True, rel=1e-3)


# --------------------------------------------------------------------------- stacked 3x3
class StackCase(NamedTuple):
    n: int  # convolutions
    k: int  # their kernel size
    channels: int


def _stack_cases(gen, device):
    cases = [(2, 3, 8), (1, 5, 8), (3, 3, 4), (1, 1, 3), (1, 7, 2), (4, 5, 1), (2, 1, 5)]
    cases.append((randint(gen, 1, 5), 2 * randint(gen, 0, 3) + 1, randint(gen, 1, 16)))
    return [StackCase(*case) for case in cases]


def _run_stack(fn, case: StackCase):
    return _call_tuple(fn, case, "stacked_convs", 2)


def _oracle_stack(case):
    n, k, c = case
    # receptive field by autograd: one output pixel's gradient with respect to the input
    L = n * k + 5
    convs = nn.Sequential(*[nn.Conv2d(1, 1, k) for _ in range(n)])
    with torch.no_grad():
        for m in convs:
            m.weight.fill_(1.0)
            m.bias.zero_()
    X = torch.zeros(1, 1, L, L, requires_grad=True)
    Y = convs(X)
    Y[0, 0, Y.shape[2] // 2, Y.shape[3] // 2].backward()
    rf = int((X.grad[0, 0].abs().sum(dim=1) > 0).sum())
    params = sum(n_params(nn.Conv2d(c, c, k, device="meta")) for _ in range(n))
    return (rf, params)


register(
    network_item(
        "ch07.vgg_block",
        cases=_block_cases,
        run=_run_block,
        oracle=_oracle_block,
        describe=lambda c: f"{c.who()} on a {dims(c.X)} input",
    ),
    network_item(
        "ch07.vgg",
        cases=_vgg_cases,
        run=_run_vgg,
        oracle=_oracle_vgg,
        describe=_describe_vgg,
    ),
    Item(
        "ch07.vgg_arch",
        cases=_arch_cases,
        run=_run_arch,
        oracle=lambda c: torchvision_arch(c.name)[0],
        compare=_compare_arch,
        describe=lambda c: f"{c.label} against torchvision.models.{c.name}",
    ),
    Item(
        "ch07.vgg_conv_params",
        forbidden="derivation",
        cases=_conv_params_cases,
        run=_run_conv_params,
        oracle=_oracle_conv_params,
        compare=exact(),
        describe=_describe_conv_params,
    ),
    Item(
        "ch07.vgg_cost",
        forbidden="derivation",
        cases=_cost_cases,
        run=_run_cost,
        oracle=_oracle_cost,
        compare=exact("parameters", "FLOPs"),
        describe=_describe_cost,
    ),
    Item(
        "ch07.vgg_vs_alexnet",
        cases=lambda gen, device: [RatioCase("VGG-11 / AlexNet")],
        run=_run_vs_alexnet,
        oracle=_oracle_vs_alexnet,
        compare=_compare_ratio,
        describe=lambda c: c.label,
    ),
    Item(
        "ch07.stacked_convs",
        forbidden="derivation",
        cases=_stack_cases,
        run=_run_stack,
        oracle=one_thread(_oracle_stack),
        compare=exact("receptive field", "parameters"),
        describe=lambda c: f"stacked_convs({c.n}, {c.k}, {c.channels})",
    ),
)
