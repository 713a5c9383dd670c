"""VGG (Simonyan and Zisserman, 2014): stacks of 3x3 convolutions in blocks, then
three dense layers.

A VGG network is described by an architecture tuple with one
``(num_convs, out_channels)`` pair per block.  Every block keeps the height and width
through its convolutions (3x3, padding 1) and halves them with a 2x2 max pooling, so
five blocks turn a 224x224 input into a 7x7 map.
"""

from torch import nn

# Architecture tuples, like torchvision's ``cfgs`` (there, "M" marks each max pooling).
CFGS = {
    "vgg11": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    "vgg13": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    "vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
    # VGG-11 with a quarter of the channels: small enough to train on Fashion-MNIST.
    "vgg11_narrow": ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)),
}


def vgg_block(num_convs, out_channels, in_channels=None):
    """``num_convs`` 3x3 convolutions (padding 1) with ReLUs, then a 2x2 max pooling of
    stride 2.

    With ``in_channels=None`` the first convolution is lazy: it learns its input
    channels from the first batch it sees.
    """
    layers = []
    for _ in range(num_convs):
        if in_channels is None:
            layers.append(nn.LazyConv2d(out_channels, kernel_size=3, padding=1))
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
            layers.append(conv)
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(
    arch,
    in_channels=1,
    num_classes=10,
    *,
    image_size=224,
    hidden=4096,
    dropout=0.5,
):
    """The convolutional blocks of ``arch``, then dense layers
    ``hidden``-``hidden``-``num_classes``.

    ``image_size`` fixes the input of the first dense layer: each block halves the side,
    so it sees ``channels x (image_size // 2**len(arch))**2`` numbers.
    """
    blocks = []
    for num_convs, out_channels in arch:
        blocks.append(vgg_block(num_convs, out_channels, in_channels))
        in_channels = out_channels
    side = image_size // 2 ** len(arch)
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(in_channels * side * side, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )
