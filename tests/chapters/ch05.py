"""Chapter 5: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

import inspect

from convcourse import train as _book

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
def accuracy(net, data_iter, k=1):
    was_training = net.training
    net.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            top = net(X).topk(k, dim=1).indices
            correct += int((top == y[:, None]).any(dim=1).sum())
            total += y.numel()
    net.train(was_training)
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
    ("mean of per-batch top-k accuracies (the smaller last batch weighs too much)",
     {"accuracy": '''
def accuracy(net, data_iter, k=1):
    was_training = net.training
    net.eval()
    accs = []
    with torch.no_grad():
        for X, y in data_iter:
            top = net(X).topk(k, dim=1).indices
            accs.append(float((top == y[:, None]).any(dim=1).float().mean()))
    net.train(was_training)
    return sum(accs) / len(accs)
'''},
     {"test_accuracy"}),
    ("network left in training mode (dropout still on)",
     {"accuracy": _ACC.replace("    net.eval()\n", "")},
     {"test_accuracy"}),
    ("number of examples in the top k instead of the fraction",
     {"accuracy": _ACC.replace("return correct / total", "return correct")},
     {"test_accuracy"}),
    ("k ignored (the usual accuracy, the highest score only)",
     {"accuracy": _ACC.replace("net(X).topk(k, dim=1)", "net(X).topk(1, dim=1)")},
     {"test_accuracy"}),
    ("off by one: the label counted when it is among the k + 1 highest scores",
     {"accuracy": _ACC.replace("top = net(X).topk(k, dim=1).indices\n            correct += int((top == y[:, None]).any(dim=1).sum())",
                               "scores = net(X)\n            true = scores.gather(1, y[:, None])\n"
                               "            correct += int(((scores > true).sum(dim=1) <= k).sum())")},
     {"test_accuracy"}),
    ("only the k-th highest score compared with the label",
     {"accuracy": _ACC.replace("correct += int((top == y[:, None]).any(dim=1).sum())",
                               "correct += int((top[:, -1] == y).sum())")},
     {"test_accuracy"}),
    ("the network left in evaluation mode after the call",
     {"accuracy": _ACC.replace("    net.train(was_training)\n", "")},
     {"test_accuracy"}),
    ("the network always put in training mode after the call",
     {"accuracy": _ACC.replace("net.train(was_training)", "net.train()")},
     {"test_accuracy"}),
    ("scores computed with gradients on (no torch.no_grad())",
     {"accuracy": _ACC.replace("    with torch.no_grad():\n        for X, y in data_iter:",
                               "    if True:\n        for X, y in data_iter:")},
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

# The chapter's own code, as the book prints it (literalinclude of convcourse/train.py
# evaluate_accuracy): a wrong answer to the exercise, which asks for the top-k accuracy.
# (its helper _net_device falls back on the course's get_device, here the CPU, for a network
# without parameters)
_BOOK_ACCURACY = (inspect.getsource(_book._net_device).replace("get_device()", 'torch.device("cpu")') + "\n\n"
                  + inspect.getsource(_book.evaluate_accuracy).replace("def evaluate_accuracy(", "def accuracy("))
WRONG += [
    ("the book's evaluate_accuracy copied (no k)",
     {"accuracy": _BOOK_ACCURACY},
     {"test_accuracy"}),
    ("the book's evaluate_accuracy copied, with a k it ignores",
     {"accuracy": _BOOK_ACCURACY.replace("data_iter, device=None)", "data_iter, k=1, device=None)")},
     {"test_accuracy"}),
]

SHORTCUTS = [
    ("modern_lenet cut down from the course's lenet_modern instead of written",
     {"modern_lenet": '''
def modern_lenet():
    from convcourse.models.lenet import lenet_modern
    net = lenet_modern()
    return nn.Sequential(*list(net.children())[:7], nn.Linear(400, 32), nn.ReLU(), nn.Linear(32, 10))
'''},
     {"test_modern_lenet"}),
    ("accuracy handed to the course's own evaluation loop",
     {"accuracy": '''
from convcourse.train import evaluate_accuracy

def accuracy(net, data_iter, k=1):
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
