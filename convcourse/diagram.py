"""Architecture diagrams drawn from the model code, not by hand.

:func:`draw_architecture` runs a network once on a zero input, records what each layer
outputs (:func:`convcourse.hooks.watched_forward`), and draws the layers as a row of
boxes, left to right. A box is as tall as its output is high and as wide as it has
channels, both on log scales, so that a 1x224x224 image and a 1024x1x1 map both show::

    from convcourse.diagram import draw_architecture
    from convcourse.models.alexnet import alexnet

    draw_architecture(alexnet(), (1, 1, 224, 224), title="AlexNet")

:func:`layers` returns what the drawing shows, one ``(label, shape)`` per box. A box is
a layer that computes or changes the shape: a convolution, a pooling, a dense layer, a
flattening, or a block with its own ``forward`` (GoogLeNet's Inception), which counts
as one. Activations, dropout and normalisation keep the shape; they are folded into the
label of the box before them. A network built under ``with torch.device("meta")`` is
traced without any arithmetic.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .hooks import watched_forward

# Layers that keep the shape and are written into the previous box's label.
_FOLDED = {
    "ReLU": "ReLU",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Dropout": "dropout",
    "BatchNorm2d": "BN",
    "BatchNorm1d": "BN",
}
_COLORS = {"conv": "C0", "pool": "C1", "dense": "C2", "block": "C4"}
_MAX_SIDE, _MAX_CHANNELS = 256, 32768  # the ends of the log scales, fixed across nets
_HEIGHT = 2.0  # the tallest box, in units of the slot width


def _units(net: nn.Module) -> list[nn.Module]:
    """The modules that may become boxes, in definition order.

    An ``nn.Sequential`` (and the network itself) is only a list of layers, so it is
    opened; any other module with children combines them in its own ``forward``
    (Inception's four parallel paths) and is kept whole, as one box.
    """
    found = []
    for child in net.children():
        found += _units(child) if isinstance(child, nn.Sequential) else [child]
    return found or [net]


def _pair(v) -> str:
    """``3`` or ``(3, 3)`` as "3×3"; ``(3, 5)`` as "3×5"."""
    a, b = (v, v) if isinstance(v, int) else tuple(v)
    return f"{a}×{b}"


def _stride(v) -> str:
    """The stride as " /2"; nothing for stride 1 (the common case): short labels."""
    s = v if isinstance(v, int) else max(v)
    return f" /{s}" if s > 1 else ""


def _label(m: nn.Module, shape: tuple) -> str:
    """A compact label: what the layer is and its one or two defining numbers."""
    if isinstance(m, nn.Conv2d):
        return f"conv {_pair(m.kernel_size)}{_stride(m.stride)}, {m.out_channels}"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "max" if isinstance(m, nn.MaxPool2d) else "avg"
        return f"{kind} pool {_pair(m.kernel_size)}{_stride(m.stride)}"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        kind = "max" if isinstance(m, nn.AdaptiveMaxPool2d) else "avg"
        side = shape[-2:] if len(shape) == 3 else ()
        return f"global {kind} pool" if side == (1, 1) else f"adaptive {kind} pool"
    if isinstance(m, nn.Linear):
        return f"dense {m.out_features}"
    if isinstance(m, nn.Flatten):
        return "flatten"
    return f"{type(m).__name__}, {shape[0]}" if shape else type(m).__name__


def _kind(m: nn.Module) -> str:
    """The colour group of a box: convolution, pooling, dense, block or other."""
    if "Conv" in type(m).__name__:
        return "conv"
    if "Pool" in type(m).__name__:
        return "pool"
    if isinstance(m, nn.Linear):
        return "dense"
    return "block" if list(m.children()) else "other"


def _trace(net: nn.Module, input_shape) -> list[tuple[nn.Module, tuple, tuple]]:
    """``(module, input shape, output shape)`` of each unit as it runs, batch dropped.

    Eval mode, so that dropout and batch normalisation do not act on the zero input.
    """
    calls: list[tuple[nn.Module, tuple, tuple]] = []

    def hook(module, args, output):
        calls.append((module, tuple(args[0].shape[1:]), tuple(output.shape[1:])))

    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    was_training = net.training
    net.eval()
    try:
        x = torch.zeros(*input_shape, device=device)
        watched_forward(net, x, _units(net), hook)
    finally:
        net.train(was_training)
    return calls


def _boxes(net: nn.Module, input_shape) -> list[tuple[str, tuple, str]]:
    """``(label, output shape, kind)`` per box, the shape-keeping layers folded in."""
    boxes: list[tuple[str, tuple, str]] = []
    for m, before, after in _trace(net, input_shape):
        name = type(m).__name__
        keeps = before == after and _kind(m) == "other"
        if boxes and keeps:
            label, shape, kind = boxes[-1]
            boxes[-1] = (f"{label}, {_FOLDED.get(name, name.lower())}", shape, kind)
        else:
            boxes.append((_label(m, after), after, _kind(m)))
    return boxes


def layers(net: nn.Module, input_shape) -> list[tuple[str, tuple]]:
    """``[(label, output shape without the batch axis), ...]``: the boxes, in order.

    ``input_shape`` includes the batch axis, e.g. ``(1, 1, 224, 224)``.
    """
    return [(label, shape) for label, shape, _ in _boxes(net, input_shape)]


def _size(shape: tuple) -> tuple[float, float]:
    """Box (width, height) in slot units: log of the channels, log of the side."""
    channels = shape[0]
    side = max(shape[1:]) if len(shape) > 1 else 1
    width = 0.15 + 0.7 * math.log2(channels) / math.log2(_MAX_CHANNELS)
    height = 0.1 + (_HEIGHT - 0.1) * math.log2(side) / math.log2(_MAX_SIDE)
    return min(width, 0.85), min(height, _HEIGHT)


def _shape_text(shape: tuple) -> str:
    """``(96, 54, 54)`` as "96×54×54"."""
    return "×".join(str(n) for n in shape)


def draw_architecture(net: nn.Module, input_shape, ax=None, title=None):
    """Draw ``net`` as a row of boxes, one per layer, for one input of ``input_shape``.

    Each box carries its label above and its output shape (channels × height × width)
    below. Returns the matplotlib ``Axes``; with ``ax=None`` a new figure is made, sized
    to the number of boxes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    boxes = [("input", tuple(input_shape[1:]), "input")] + _boxes(net, input_shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.36 * len(boxes) + 0.6), 3.8))
    ax.plot([0, len(boxes) - 1], [0, 0], color="0.85", lw=1, zorder=0)
    top, bottom = _HEIGHT / 2 + 0.1, -_HEIGHT / 2 - 0.1
    for i, (label, shape, kind) in enumerate(boxes):
        w, h = _size(shape)
        color = _COLORS.get(kind, "0.6")
        box = Rectangle((i - w / 2, -h / 2), w, h, facecolor=color, edgecolor=color)
        box.set_alpha(0.4)
        ax.add_patch(box)
        text = {"rotation": 90, "ha": "center", "fontsize": 7}
        ax.text(i, top, label, va="bottom", **text)
        ax.text(i, bottom, _shape_text(shape), va="top", color="0.3", **text)
    ax.set_xlim(-0.6, len(boxes) - 0.4)
    ax.set_ylim(bottom - 0.9, top + 2.4)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
