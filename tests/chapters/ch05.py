"""Chapter 5: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

FACTS = [
    ("05_lenet", "Conv2d output shape: torch.Size([1, 6, 28, 28])"),
    ("05_lenet", "AvgPool2d output shape: torch.Size([1, 16, 5, 5])"),
    ("05_lenet", "Flatten output shape: torch.Size([1, 400])"),
    ("05_lenet", "Linear output shape: torch.Size([1, 10])"),
    ("05_lenet", "total: 61,706 parameters"),
    ("05_lenet", "ln 10 = 2.303"),
    ("05_lenet", "data: Fashion-MNIST"),
    ("05_lenet", "checked on 200 random convolution + pooling configurations"),
]

_LENET32 = '''
def lenet32(c1, c2, num_classes):
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(c1, c2, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(c2 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes))
'''

_SHAPES = '''
def shape_table(net, input_shape):
    device = next(net.parameters()).device
    X = torch.rand(*input_shape, device=device)
    rows = []
    with torch.no_grad():
        for layer in net:
            X = layer(X)
            rows.append((type(layer).__name__, tuple(X.shape)))
    return rows
'''

_ACC = '''
def accuracy(net, data_iter):
    net.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            correct += int((net(X).argmax(dim=1) == y).sum())
            total += y.numel()
    return correct / total
'''

_MODERN = '''
def modern_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 32), nn.ReLU(),
        nn.Linear(32, 10))
'''

WRONG = [
    ("chapter's padding 2 kept for 32x32 inputs (flatten size adjusted to 6x6)",
     {"lenet32": _LENET32.replace("nn.Conv2d(1, c1, kernel_size=5)", "nn.Conv2d(1, c1, kernel_size=5, padding=2)")
                         .replace("c2 * 5 * 5", "c2 * 6 * 6")},
     {"test_lenet32"}),
    ("flatten size off (c2 * 4 * 4)",
     {"lenet32": _LENET32.replace("c2 * 5 * 5", "c2 * 4 * 4")},
     {"test_lenet32"}),
    ("channel counts hard-coded to 6 and 16 (only the visible example works)",
     {"lenet32": _LENET32.replace("nn.Conv2d(1, c1,", "nn.Conv2d(1, 6,").replace("nn.Conv2d(c1, c2,", "nn.Conv2d(6, 16,")
                         .replace("c2 * 5 * 5", "16 * 5 * 5")},
     {"test_lenet32"}),
    ("ReLU instead of sigmoid in the dense block",
     {"lenet32": _LENET32.replace("nn.Linear(120, 84), nn.Sigmoid()", "nn.Linear(120, 84), nn.ReLU()")},
     {"test_lenet32"}),
    ("max pooling instead of average pooling (types checked)",
     {"lenet32": _LENET32.replace("nn.AvgPool2d", "nn.MaxPool2d")},
     {"test_lenet32"}),
    ("bias forgotten in the convolutions",
     {"lenet32": _LENET32.replace("kernel_size=5)", "kernel_size=5, bias=False)")},
     {"test_lenet32"}),
    ("input shape recorded instead of output shape",
     {"shape_table": _SHAPES.replace("X = layer(X)\n            rows.append((type(layer).__name__, tuple(X.shape)))",
                                     "rows.append((type(layer).__name__, tuple(X.shape)))\n            X = layer(X)")},
     {"test_shape_table"}),
    ("batch dimension dropped from the shapes",
     {"shape_table": _SHAPES.replace("tuple(X.shape)", "tuple(X.shape[1:])")},
     {"test_shape_table"}),
    ("the input always made on the CPU with batch size 1",
     {"shape_table": _SHAPES.replace("X = torch.rand(*input_shape, device=device)",
                                     "X = torch.rand(1, *input_shape[1:])")},
     {"test_shape_table"}),
    ("mean of per-batch accuracies (the smaller last batch weighs too much)",
     {"accuracy": '''
def accuracy(net, data_iter):
    net.eval()
    accs = []
    with torch.no_grad():
        for X, y in data_iter:
            accs.append(float((net(X).argmax(dim=1) == y).float().mean()))
    return sum(accs) / len(accs)
'''},
     {"test_accuracy"}),
    ("network left in training mode (dropout still on)",
     {"accuracy": _ACC.replace("    net.eval()\n", "")},
     {"test_accuracy"}),
    ("number of correct predictions instead of the fraction",
     {"accuracy": _ACC.replace("return correct / total", "return correct")},
     {"test_accuracy"}),
    ("sigmoid kept in the modernised LeNet",
     {"modern_lenet": _MODERN.replace("nn.Linear(16 * 5 * 5, 32), nn.ReLU()", "nn.Linear(16 * 5 * 5, 32), nn.Sigmoid()")},
     {"test_modern_lenet"}),
    ("average pooling kept",
     {"modern_lenet": _MODERN.replace("nn.MaxPool2d", "nn.AvgPool2d")},
     {"test_modern_lenet"}),
    ("a network far too slow for the budget (few parameters, 3x3 convolutions on a 3x upsampled image)",
     {"modern_lenet": '''
def modern_lenet():
    return nn.Sequential(
        nn.Upsample(scale_factor=3),
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=12, stride=12),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
'''},
     {"test_modern_lenet"}),
    ("the chapter's lenet_modern transcribed (61,706 parameters, over the budget of 20,000)",
     {"modern_lenet": _MODERN.replace("nn.Linear(16 * 5 * 5, 32), nn.ReLU(),\n        nn.Linear(32, 10)",
                                      "nn.Linear(16 * 5 * 5, 120), nn.ReLU(),\n        nn.Linear(120, 84), nn.ReLU(),\n"
                                      "        nn.Linear(84, 10)")},
     {"test_modern_lenet"}),
]

SHORTCUTS = [
    ("accuracy handed to the course's own evaluation loop",
     {"accuracy": '''
from convcourse.train import evaluate_accuracy

def accuracy(net, data_iter):
    return evaluate_accuracy(net, data_iter)
'''},
     {"test_accuracy"}),
    ("shape table read off the course's layer table",
     {"shape_table": '''
from convcourse.summary import layer_table

def shape_table(net, input_shape):
    t = layer_table(net, input_shape)
    return [(row["type"], tuple(row["output shape"])) for _, row in t.iterrows()]
'''},
     {"test_shape_table"}),
    ("the course's LeNet adapted instead of written",
     {"lenet32": '''
from convcourse.models.lenet import lenet

def lenet32(c1, c2, num_classes):
    net = lenet(num_classes)
    net[0] = nn.Conv2d(1, c1, kernel_size=5)
    return net
'''},
     {"test_lenet32"}),
]
