"""The course's training loop: SGD and cross-entropy, a progress bar, curves, honest timing.

    net = lenet()
    train_iter, test_iter, data = data_loaders(256)
    history = train(net, train_iter, test_iter, epochs=10, lr=0.9)

:func:`train` prints where the data came from, the device, the throughput and the time, so
that every number a chapter shows says where it was measured. On CUDA it can use mixed
precision (``amp=True``) and the channels-last memory layout (``channels_last=True``); on the
CPU both are ignored.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .device import describe, get_device


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's (if present) and PyTorch's random number generators."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _net_device(net: nn.Module, default=None) -> torch.device:
    for p in net.parameters():
        return p.device
    return torch.device(default) if default is not None else get_device()


def evaluate_accuracy(net: nn.Module, data_iter, device=None) -> float:
    """Fraction of correctly classified examples in ``data_iter`` (counted over all
    examples).

    The net is put in evaluation mode (dropout off) without gradients, and restored to
    the mode it was in.
    """
    device = torch.device(device) if device is not None else _net_device(net)
    was_training = net.training
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            correct += int((net(X).argmax(dim=1) == y).sum())
            total += y.numel()
    net.train(was_training)
    return correct / max(total, 1)


def init_xavier(module: nn.Module) -> None:
    """Xavier-uniform weights (and zero biases) for every Linear and Conv2d layer."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def init_he(module: nn.Module) -> None:
    """He (Kaiming) normal weights for ReLU networks (and zero biases) for every Linear and
    Conv2d layer (chapter 7)."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _has_lazy(net: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in net.parameters())


def plot_history(history: dict, title: str | None = None, ax=None):
    """Training loss, training accuracy and test accuracy per epoch, on one small figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    epochs = range(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], "o-", label="train loss")
    ax.plot(epochs, history["train_acc"], "s--", label="train acc")
    ax.plot(epochs, history["test_acc"], "^-.", label="test acc")
    ax.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _amp_dtype(device: torch.device):
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class _Setup:
    """How each batch is run: the optimiser, the loss, and the optional CUDA speed-ups."""

    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format | None
    scaler: torch.amp.GradScaler | None


def _prepare(
    net: nn.Module, train_iter, device: torch.device, init: str | None, lr: float, amp: bool, channels_last: bool
) -> _Setup:
    """Move ``net`` to ``device``, give lazy layers their shapes, initialise it; the run's setup."""
    net.to(device)
    memory_format = torch.channels_last if (channels_last and device.type == "cuda") else None
    amp_dtype = _amp_dtype(device) if amp else None
    if _has_lazy(net):  # lazy layers need one forward pass to get their shapes
        X, _ = next(iter(train_iter))
        with torch.no_grad():
            net(X.to(device))
    if init == "xavier":
        net.apply(init_xavier)
    elif init is not None:
        raise ValueError(f"init should be 'xavier' or None, not {init!r}")
    if memory_format is not None:
        net.to(memory_format=memory_format)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    return _Setup(torch.optim.SGD(net.parameters(), lr=lr), nn.CrossEntropyLoss(), amp_dtype, memory_format, scaler)


def _progress_bar(train_iter, epochs: int, enabled: bool):
    if not enabled:
        return None
    # a text bar: a notebook widget would need JavaScript from the network in the offline book
    from tqdm import tqdm

    n_batches = len(train_iter) if hasattr(train_iter, "__len__") else None
    return tqdm(
        total=None if n_batches is None else epochs * n_batches,
        unit="batch",
        mininterval=0.5,
        leave=True,
        dynamic_ncols=False,
        ncols=90,
    )


def _one_epoch(net: nn.Module, train_iter, device: torch.device, setup: _Setup, bar) -> tuple[float, float, int, float]:
    """One pass over ``train_iter``: (mean loss, accuracy, images seen, seconds)."""
    net.train()
    _sync(device)
    t0 = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for X, y in train_iter:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if setup.memory_format is not None:
            X = X.contiguous(memory_format=setup.memory_format)
        with torch.autocast(device.type, dtype=setup.amp_dtype, enabled=setup.amp_dtype is not None):
            y_hat = net(X)
            loss = setup.loss_fn(y_hat, y)
        setup.optimizer.zero_grad(set_to_none=True)
        if setup.scaler is not None:
            setup.scaler.scale(loss).backward()
            setup.scaler.step(setup.optimizer)
            setup.scaler.update()
        else:
            loss.backward()
            setup.optimizer.step()
        with torch.no_grad():  # accumulate on the device: no synchronisation per batch
            loss_sum += loss.detach().float() * y.numel()
            correct += (y_hat.argmax(dim=1) == y).sum()
        seen += y.numel()
        if bar is not None:
            bar.update(1)
    _sync(device)
    return float(loss_sum) / max(seen, 1), int(correct) / max(seen, 1), seen, time.perf_counter() - t0


def _summary(
    history: dict, setup: _Setup, device: torch.device, amp: bool, channels_last: bool, source: str
) -> list[str]:
    """The lines ``train`` logs: the data, then device, speed-ups, size, speed, time and accuracy."""
    extras = []
    if setup.amp_dtype is not None:
        extras.append(f"autocast {str(setup.amp_dtype).replace('torch.', '')}")
    if setup.memory_format is not None:
        extras.append("channels_last")
    if (amp or channels_last) and device.type != "cuda":
        extras.append("amp/channels_last ignored on the CPU")
    epochs = history["epochs"]
    line = (
        f"device {history['device']}{' (' + ', '.join(extras) + ')' if extras else ''}, "
        f"{epochs} epoch{'s' if epochs != 1 else ''}, {history['train_images']:,} training images, "
        f"{history['images_per_s']:,.0f} images/s, {history['seconds']:.1f} s; "
        f"test accuracy {history['test_acc'][-1]:.3f}"
        if history["test_acc"]
        else "no epochs run"
    )
    return ([f"data: {source}"] if source else []) + [line]


def train(
    net: nn.Module,
    train_iter,
    test_iter,
    epochs: int,
    lr: float,
    device=None,
    *,
    init: str | None = "xavier",
    plot: bool = True,
    amp: bool = False,
    channels_last: bool = False,
    log=print,
    progress: bool = True,
    title: str | None = None,
) -> dict:
    """Train ``net`` with minibatch SGD on the cross-entropy loss; evaluate after every epoch.

    Returns a dict with the per-epoch lists ``train_loss``, ``train_acc``, ``test_acc`` and
    ``images_per_s`` (training images per second, evaluation excluded), ``seconds`` (all
    epochs, evaluation included) and ``device`` (a description). ``init="xavier"``
    re-initialises every Linear and Conv2d layer; ``init=None`` keeps PyTorch's defaults.
    ``log=None`` prints nothing; ``progress=False`` hides the progress bar.
    """
    device = torch.device(device) if device is not None else get_device()
    setup = _prepare(net, train_iter, device, init, lr, amp, channels_last)
    history: dict[str, Any] = {"train_loss": [], "train_acc": [], "test_acc": []}
    bar = _progress_bar(train_iter, epochs, progress)
    train_seconds, n_images = 0.0, 0
    start = time.perf_counter()
    for _ in range(epochs):
        loss, acc, seen, seconds = _one_epoch(net, train_iter, device, setup, bar)
        train_seconds += seconds
        n_images += seen
        history["train_loss"].append(loss)
        history["train_acc"].append(acc)
        history["test_acc"].append(evaluate_accuracy(net, test_iter, device))
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.3f}", test_acc=f"{history['test_acc'][-1]:.3f}", refresh=False)
    _sync(device)
    history["seconds"] = time.perf_counter() - start
    if bar is not None:
        bar.close()
    history["images_per_s"] = n_images / train_seconds if train_seconds > 0 else float("nan")
    history["device"] = describe(device)
    history["epochs"] = epochs
    history["train_images"] = n_images // max(epochs, 1)
    if log is not None:
        for line in _summary(history, setup, device, amp, channels_last, getattr(train_iter, "source", "")):
            log(line)
    if plot and history["test_acc"]:
        import matplotlib.pyplot as plt

        plot_history(history, title)
        plt.tight_layout()
        plt.show()
    return history
