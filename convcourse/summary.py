"""What a network does to one input, layer by layer: output shapes, parameters and FLOPs.

Both helpers run one real forward pass and watch it with forward hooks on the *leaf* layers
(modules without children), so the rows come in the order the layers actually run::

    shape_trace(lenet(), (1, 1, 28, 28))     # prints "Conv2d output shape: torch.Size([1, 6, 28, 28])" ...
    layer_table(alexnet(), (1, 1, 224, 224)) # a pandas DataFrame, one row per leaf layer

FLOPs are counted by PyTorch's ``torch.utils.flop_counter.FlopCounterMode`` for each layer on
the input it received: a multiply-add counts as two operations; only matrix products and
convolutions are counted (activations, pooling and bias additions count as 0).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .hooks import watched_forward


def _leaves(net: nn.Module, level: str = "leaf"):
    if level == "top":
        items = list(net.named_children())
        return items or [("", net)]
    items = [(name, m) for name, m in net.named_modules() if not list(m.children())]
    return items or [("", net)]


def _device(net: nn.Module):
    for p in net.parameters():
        return p.device
    for b in net.buffers():
        return b.device
    return torch.device("cpu")


def _example(net, input_shape):
    if isinstance(input_shape, torch.Tensor):
        return input_shape.to(_device(net))
    g = torch.Generator().manual_seed(0)
    return torch.rand(*input_shape, generator=g).to(_device(net))


def _run(net: nn.Module, input_shape, level: str = "leaf"):
    """One forward pass in eval mode; returns [(name, module, input, output)] in call order."""
    calls = []
    leaves = _leaves(net, level)
    names = {id(m): name for name, m in leaves}
    was_training = net.training
    net.eval()
    try:
        out = watched_forward(
            net,
            _example(net, input_shape),
            [m for _, m in leaves],
            lambda module, args, output: calls.append((names[id(module)], module, args, output)),
        )
    finally:
        net.train(was_training)
    return calls, out


def _shape(output):
    if isinstance(output, torch.Tensor):
        return output.shape
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0].shape
    return None


def layer_shapes(net: nn.Module, input_shape, level: str = "leaf") -> list:
    """``[(layer type, output torch.Size), ...]`` for one forward pass of a random input."""
    calls, _ = _run(net, input_shape, level)
    return [(type(m).__name__, _shape(out)) for _, m, _, out in calls]


def shape_trace(net: nn.Module, input_shape, level: str = "leaf") -> None:
    """Print ``<Layer> output shape: torch.Size([...])`` for each layer as it runs.

    ``level="leaf"`` (default) lists every leaf layer; ``level="top"`` lists the direct
    children (e.g. whole blocks of a network built from blocks).
    """
    for kind, shape in layer_shapes(net, input_shape, level):
        print(f"{kind} output shape: {shape}")


def layer_flops(module: nn.Module, *args) -> int:
    """FLOPs of ``module(*args)`` as counted by ``FlopCounterMode`` (a multiply-add = 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args)
    return int(counter.get_total_flops())


def layer_table(net: nn.Module, input_shape, level: str = "leaf"):
    """A ``pandas.DataFrame`` with one row per leaf layer, in forward order.

    Columns: ``layer`` (its name in ``net.named_modules()``), ``type``, ``output shape``,
    ``parameters`` (the numel of the layer's own parameters), ``FLOPs`` (``FlopCounterMode``
    on that layer's own input). ``df.attrs`` holds the totals and the input shape.
    """
    import pandas as pd

    calls, _ = _run(net, input_shape, level)
    rows = []
    for name, m, args, out in calls:
        shape = _shape(out)
        rows.append(
            {
                "layer": name,
                "type": type(m).__name__,
                "output shape": tuple(shape) if shape is not None else None,
                "parameters": sum(p.numel() for p in m.parameters()),
                "FLOPs": layer_flops(m, *args),
            }
        )
    df = pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters", "FLOPs"])
    df.attrs["input shape"] = tuple(input_shape.shape if isinstance(input_shape, torch.Tensor) else input_shape)
    df.attrs["parameters"] = sum(p.numel() for p in net.parameters())
    df.attrs["FLOPs"] = int(df["FLOPs"].sum())
    return df


def count_parameters(net: nn.Module) -> int:
    """All parameters of ``net`` (shared ones counted once)."""
    return sum(p.numel() for p in net.parameters())
