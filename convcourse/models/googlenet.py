"""GoogLeNet (Szegedy et al., 2015) for one-channel 96x96 inputs: the Inception block
and five stages.

An Inception block runs four paths side by side on the same input and concatenates their
outputs on the channel axis, so its output has ``c1 + c2[1] + c3[1] + c4`` channels:

1. a 1x1 convolution with ``c1`` channels;
2. a 1x1 convolution to ``c2[0]`` channels, then a 3x3 convolution (padding 1) to
   ``c2[1]``;
3. a 1x1 convolution to ``c3[0]`` channels, then a 5x5 convolution (padding 2) to
   ``c3[1]``;
4. a 3x3 max pooling (stride 1, padding 1), then a 1x1 convolution to ``c4`` channels.

Every convolution is followed by a ReLU; no path changes the height or width.
"""

import torch
from torch import nn


def _conv(in_channels, out_channels, kernel_size, **kwargs):
    """A convolution followed by a ReLU; lazy (``nn.LazyConv2d``) when ``in_channels``
    is None."""
    if in_channels is None:
        conv = nn.LazyConv2d(out_channels, kernel_size, **kwargs)
    else:
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, **kwargs)
    return nn.Sequential(conv, nn.ReLU())


class Inception(nn.Module):
    """Four parallel paths; ``c2`` and ``c3`` are pairs (1x1 reduction, output
    channels)."""

    def __init__(self, c1, c2, c3, c4, in_channels=None):
        super().__init__()
        self.p1 = _conv(in_channels, c1, 1)
        self.p2 = nn.Sequential(
            _conv(in_channels, c2[0], 1),
            _conv(c2[0], c2[1], 3, padding=1),
        )
        self.p3 = nn.Sequential(
            _conv(in_channels, c3[0], 1),
            _conv(c3[0], c3[1], 5, padding=2),
        )
        self.p4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            _conv(in_channels, c4, 1),
        )
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x):
        return torch.cat([self.p1(x), self.p2(x), self.p3(x), self.p4(x)], dim=1)


# The nine Inception blocks of stages 3-5: (c1, (c2 reduce, c2), (c3 reduce, c3), c4).
INCEPTIONS = {
    "3a": (64, (96, 128), (16, 32), 32),
    "3b": (128, (128, 192), (32, 96), 64),
    "4a": (192, (96, 208), (16, 48), 64),
    "4b": (160, (112, 224), (24, 64), 64),
    "4c": (128, (128, 256), (24, 64), 64),
    "4d": (112, (144, 288), (32, 64), 64),
    "4e": (256, (160, 320), (32, 128), 128),
    "5a": (256, (160, 320), (32, 128), 128),
    "5b": (384, (192, 384), (48, 128), 128),
}


def googlenet(num_classes=10, in_channels=1):
    """The five stages of GoogLeNet and a dense output layer; 96x96 inputs give 3x3
    maps before pooling."""

    def pool():  # 3x3 max pooling, stride 2, padding 1: halves the height and width
        return nn.MaxPool2d(3, stride=2, padding=1)

    def inceptions(names, c):  # Inception blocks in a row, each fed by the previous one
        blocks = []
        for name in names:
            blocks.append(Inception(*INCEPTIONS[name], in_channels=c))
            c = blocks[-1].out_channels
        return blocks, c

    b1 = nn.Sequential(_conv(in_channels, 64, 7, stride=2, padding=3), pool())
    b2 = nn.Sequential(_conv(64, 64, 1), _conv(64, 192, 3, padding=1), pool())
    blocks3, c = inceptions(["3a", "3b"], 192)
    blocks4, c = inceptions(["4a", "4b", "4c", "4d", "4e"], c)
    blocks5, c = inceptions(["5a", "5b"], c)
    b3 = nn.Sequential(*blocks3, pool())
    b4 = nn.Sequential(*blocks4, pool())
    b5 = nn.Sequential(*blocks5, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(c, num_classes))
