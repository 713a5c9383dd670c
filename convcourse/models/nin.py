"""Network in Network (Lin, Chen and Yan, 2013): per-pixel MLPs and global average
pooling.

A NiN block is one ordinary convolution followed by two 1x1 convolutions, each with a
ReLU: the 1x1 convolutions act as a small dense network applied at every pixel.  The
network ends without dense layers: its last block has one channel per class, and a
global average pooling turns each channel into one score.
"""

from torch import nn


def nin_block(out_channels, kernel_size, strides, padding, in_channels=None):
    """A ``kernel_size`` convolution, then two 1x1 convolutions, all with
    ``out_channels`` and ReLUs.

    With ``in_channels=None`` the first convolution is lazy.
    """
    if in_channels is None:
        first = nn.LazyConv2d(out_channels, kernel_size, strides, padding)
    else:
        first = nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding)
    return nn.Sequential(
        first,
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
    )


def nin(num_classes=10, in_channels=1, dropout=0.5):
    """AlexNet's convolution sizes as NiN blocks; global average pooling instead of
    dense layers."""
    return nn.Sequential(
        nin_block(96, kernel_size=11, strides=4, padding=0, in_channels=in_channels),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, kernel_size=5, strides=1, padding=2, in_channels=96),
        nn.MaxPool2d(3, stride=2),
        nin_block(384, kernel_size=3, strides=1, padding=1, in_channels=256),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(dropout),
        nin_block(num_classes, kernel_size=3, strides=1, padding=1, in_channels=384),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
    )
