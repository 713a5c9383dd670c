"""The training loop, accuracy evaluation and the layer table on tiny nets and generated data."""
import math

import pytest
import torch
from torch import nn

from convcourse.data import data_loaders, generated
from convcourse.models.alexnet import alexnet
from convcourse.models.lenet import lenet, lenet_modern
from convcourse.summary import layer_shapes, layer_table, shape_trace
from convcourse.train import evaluate_accuracy, set_seed, train


def tiny_net():
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 10))


def test_train_one_epoch_returns_history():
    set_seed(0)
    train_iter, test_iter, _ = data_loaders(32, device="cpu", data=generated(1000, 200), seed=0)
    lines = []
    h = train(tiny_net(), train_iter, test_iter, epochs=1, lr=0.2, plot=False, progress=False,
              log=lines.append)
    for key in ("train_loss", "train_acc", "test_acc", "images_per_s", "seconds", "device"):
        assert key in h
    assert len(h["train_loss"]) == len(h["test_acc"]) == 1
    assert h["test_acc"][0] > 0.3  # well above chance on the generated classes
    assert h["images_per_s"] > 0 and h["seconds"] < 30 and h["device"].startswith("cpu")
    assert lines[0].startswith("data: generated")
    assert "1 epoch, 1,000 training images" in lines[1] and "test accuracy" in lines[1]


def test_train_with_progress_bar_and_plot(monkeypatch, capsys):
    import matplotlib
    matplotlib.use("Agg")
    train_iter, test_iter, _ = data_loaders(100, device="cpu", data=generated(200, 50))
    h = train(tiny_net(), train_iter, test_iter, epochs=2, lr=0.05, init=None, amp=True,
              channels_last=True, plot=True)
    assert len(h["test_acc"]) == 2 and "ignored on the CPU" in capsys.readouterr().out


def test_evaluate_accuracy_equals_hand_count():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10), nn.Dropout(0.5))
    X = torch.rand(37, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (37,), generator=g)
    batches = [(X[i:i + 8], y[i:i + 8]) for i in range(0, 37, 8)]  # a smaller last batch
    net.eval()
    expected = int((net(X).argmax(1) == y).sum()) / 37
    net.train()
    assert evaluate_accuracy(net, batches) == pytest.approx(expected)
    assert net.training  # mode restored


def test_lenet_shapes_and_table():
    shapes = layer_shapes(lenet(), (1, 1, 28, 28))
    assert shapes[0] == ("Conv2d", torch.Size([1, 6, 28, 28])) and shapes[-1][1] == torch.Size([1, 10])
    t = layer_table(lenet_modern(), (2, 1, 28, 28))
    assert list(t.columns) == ["layer", "type", "output shape", "parameters", "FLOPs"]
    assert t["parameters"].sum() == sum(p.numel() for p in lenet_modern().parameters()) == 61706
    conv0 = t.iloc[0]
    assert conv0["FLOPs"] == 2 * 2 * 5 * 5 * 1 * 6 * 28 * 28  # batch 2, multiply-add = 2
    assert t[t["type"] == "ReLU"]["FLOPs"].sum() == 0


def test_shape_trace_prints(capsys):
    shape_trace(lenet(), (1, 1, 28, 28))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Conv2d output shape: torch.Size([1, 6, 28, 28])"
    assert out[-1] == "Linear output shape: torch.Size([1, 10])"


def test_alexnet_shapes():
    shapes = layer_shapes(alexnet(), (1, 1, 224, 224))
    assert shapes[0][1] == torch.Size([1, 96, 54, 54]) and shapes[-1][1] == torch.Size([1, 10])
    assert ("Flatten", torch.Size([1, 6400])) in shapes
    assert layer_shapes(alexnet(3, 7, slim=8), (2, 3, 224, 224))[-1][1] == torch.Size([2, 7])
