"""LeNet-5 (LeCun et al., 1998) for 28x28 Fashion-MNIST images, and a modernised
version."""

from torch import nn


def lenet(num_classes=10):
    """LeNet-5: two 5x5 convolutions (6 and 16 channels) with sigmoid and 2x2 average
    pooling, then dense layers 120-84-num_classes. Input (B, 1, 28, 28)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.Sigmoid(),  # 6 x 28 x 28
        nn.AvgPool2d(kernel_size=2, stride=2),  # 6 x 14 x 14
        nn.Conv2d(6, 16, kernel_size=5),
        nn.Sigmoid(),  # 16 x 10 x 10
        nn.AvgPool2d(kernel_size=2, stride=2),  # 16 x 5 x 5
        nn.Flatten(),  # 400
        nn.Linear(16 * 5 * 5, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


def lenet_modern(num_classes=10):
    """The same shapes as LeNet-5, with ReLU instead of sigmoid and max instead of
    average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )
