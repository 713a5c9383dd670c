"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) for one-channel 224x224 images."""

from torch import nn


def alexnet(in_channels=1, num_classes=10, slim=1):
    """AlexNet for (B, in_channels, 224, 224) inputs: five convolutions, three dense
    layers.

    ``slim`` divides every channel count and dense width (96, 256, 384, 4096) by an
    integer, for cut-down experiments on a CPU; ``slim=1`` is the full-width network.
    """
    c1, c2, c3, d = 96 // slim, 256 // slim, 384 // slim, 4096 // slim
    return nn.Sequential(
        # the stem: large 11x11 windows with stride 4 shrink 224x224 to 54x54 at once
        nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # c1 x 26 x 26
        nn.Conv2d(c1, c2, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # c2 x 12 x 12
        nn.Conv2d(c2, c3, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c3, c3, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c3, c2, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # c2 x 5 x 5
        nn.Flatten(),
        nn.Linear(c2 * 5 * 5, d),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(d, d),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(d, num_classes),
    )


def alexnet_mini(in_channels=1, num_classes=10):
    """An AlexNet-shaped network for (B, in_channels, 28, 28) inputs, small enough for a
    CPU.

    The same pattern as :func:`alexnet` (a stem, a second convolution, three 3x3
    convolutions, overlapping 3x3 max pooling with stride 2, two wide dense layers with
    dropout), but a 5x5 stride-1 stem, since a 28x28 image needs no fast shrinking, and
    about 1/100 of the parameters.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 24, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # 24 x 13 x 13
        nn.Conv2d(24, 48, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # 48 x 6 x 6
        nn.Conv2d(48, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 48, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # 48 x 2 x 2
        nn.Flatten(),
        nn.Linear(48 * 2 * 2, 256),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(256, num_classes),
    )
