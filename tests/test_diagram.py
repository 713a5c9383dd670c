"""convcourse.diagram: one box per layer that computes or changes the shape, with the
output shapes PyTorch gives, for the five networks of the course; and the drawing renders."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from torch import nn  # noqa: E402

from convcourse.diagram import draw_architecture, layers  # noqa: E402
from convcourse.models.alexnet import alexnet  # noqa: E402
from convcourse.models.googlenet import Inception, googlenet  # noqa: E402
from convcourse.models.lenet import lenet  # noqa: E402
from convcourse.models.nin import nin  # noqa: E402
from convcourse.models.vgg import CFGS, vgg  # noqa: E402

NETS = {
    "lenet": (lenet, (1, 1, 28, 28)),
    "alexnet": (alexnet, (1, 1, 224, 224)),
    "vgg11_narrow": (lambda: vgg(CFGS["vgg11_narrow"]), (1, 1, 224, 224)),
    "nin": (nin, (1, 1, 224, 224)),
    "googlenet": (googlenet, (1, 1, 96, 96)),
}
FOLDED = (nn.ReLU, nn.Sigmoid, nn.Dropout)


def _flat(module):
    """The layers in order, Sequentials opened, an Inception block kept whole."""
    for child in module.children():
        if isinstance(child, nn.Sequential):
            yield from _flat(child)
        else:
            yield child


def _expected(net, input_shape):
    """(type, output shape) of each box, by running the layers one after another."""
    x, boxes = torch.zeros(input_shape), []
    net.eval()
    with torch.no_grad():
        for layer in _flat(net):
            x = layer(x)
            if not isinstance(layer, FOLDED):
                boxes.append((type(layer), tuple(x.shape[1:])))
    return boxes


@pytest.mark.parametrize("name", NETS)
def test_one_box_per_layer_with_the_shapes_pytorch_gives(name):
    build, shape = NETS[name]
    net = build()
    got = layers(net, shape)
    want = _expected(net, shape)
    assert [s for _, s in got] == [s for _, s in want]
    assert all(isinstance(label, str) and label for label, _ in got)
    logits = net(torch.zeros(shape))
    assert got[-1][1] == tuple(logits.shape[1:]) == (10,)


def test_alexnet_labels_name_kernel_stride_and_channels():
    got = layers(alexnet(), (1, 1, 224, 224))
    assert got[:3] == [
        ("conv 11×11 /4, 96, ReLU", (96, 54, 54)),
        ("max pool 3×3 /2", (96, 26, 26)),
        ("conv 5×5, 256, ReLU", (256, 26, 26)),
    ]
    assert got[8:] == [
        ("flatten", (6400,)),
        ("dense 4096, ReLU, dropout", (4096,)),
        ("dense 4096, ReLU, dropout", (4096,)),
        ("dense 10", (10,)),
    ]


def test_lenet_folds_its_sigmoids():
    labels = [label for label, _ in layers(lenet(), (1, 1, 28, 28))]
    assert labels == [
        "conv 5×5, 6, sigmoid",
        "avg pool 2×2 /2",
        "conv 5×5, 16, sigmoid",
        "avg pool 2×2 /2",
        "flatten",
        "dense 120, sigmoid",
        "dense 84, sigmoid",
        "dense 10",
    ]


def test_googlenet_inception_blocks_are_one_box_each():
    net = googlenet()
    got = layers(net, (1, 1, 96, 96))
    n_blocks = sum(isinstance(m, Inception) for m in net.modules())
    inceptions = [s for label, s in got if label.startswith("Inception")]
    assert n_blocks == len(inceptions) == 9
    assert inceptions[0] == (256, 12, 12) and inceptions[-1] == (1024, 3, 3)
    assert ("global avg pool", (1024, 1, 1)) in got


def test_meta_device_gives_the_same_boxes_and_mode_is_restored():
    with torch.device("meta"):
        on_meta = vgg(CFGS["vgg11_narrow"])
    real = vgg(CFGS["vgg11_narrow"]).train()
    assert layers(on_meta, (1, 1, 224, 224)) == layers(real, (1, 1, 224, 224))
    assert real.training


@pytest.mark.parametrize("name", NETS)
def test_draws_one_box_per_layer_plus_the_input_and_renders(name, tmp_path):
    build, shape = NETS[name]
    net = build()
    ax = draw_architecture(net, shape, title=name)
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == len(layers(net, shape)) + 1
    png = tmp_path / f"{name}.png"
    ax.figure.savefig(png)
    plt.close(ax.figure)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draws_into_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert draw_architecture(lenet(), (1, 1, 28, 28), ax=right) is right
    assert not left.patches
    plt.close(fig)
