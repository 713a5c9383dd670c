"""Hidden tests of chapter 5: LeNet.

Oracles: reference networks built here from ``nn`` layers (their shapes, parameter counts and,
with the same seeded weights drawn into both, their outputs), forward hooks for the shape tables,
for the top-k accuracy labels placed at chosen ranks of the network's scores (so the count is
known by construction), and a fixed training recipe for the modernised LeNet.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..check import CheckError, call, check_modern_structure, check_true
from ..hooks import watched_forward
from . import Item, rand, randint, register
from .nets import compare_traces, compare_with_reference, fmt_shape, module_result, reference_result

# ----------------------------------------------------------------------------- lenet32


def lenet32_reference(c1: int, c2: int, num_classes: int) -> nn.Sequential:
    """LeNet-5 as published, for 32x32 inputs: no padding in the first convolution."""
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=5),
        nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(c1, c2, kernel_size=5),
        nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(c2 * 5 * 5, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


class LeNetCase(NamedTuple):
    c1: int
    c2: int
    num_classes: int
    X: torch.Tensor
    seed: int

    def args(self) -> tuple:
        return (self.c1, self.c2, self.num_classes)

    def who(self) -> str:
        return "lenet32({}, {}, {})".format(*self.args())


def _lenet32_cases(gen, device):
    fixed = [(6, 16, 10, 1), (1, 1, 2, 3), (4, 9, 5, 2)]
    for _ in range(2):
        fixed.append((randint(gen, 2, 12), randint(gen, 2, 20), randint(gen, 2, 15), randint(gen, 1, 4)))
    return [
        LeNetCase(c1, c2, n, rand(gen, b, 1, 32, 32, device=device, low=0.0, high=1.0), randint(gen, 0, 2**62))
        for c1, c2, n, b in fixed
    ]


def _run_lenet32(fn, c: LeNetCase):
    net = call(fn, *c.args(), name="lenet32")
    return module_result(net, c.X, c.who(), c.seed)


def _compare_lenet32(received, expected, what, hidden=True):
    compare_with_reference(
        received, expected, "your network", what, "are the activations sigmoids and the pooling layers averages?"
    )


# ----------------------------------------------------------------------------- shape_table


class ShapeCase(NamedTuple):
    net: nn.Module
    input_shape: tuple


def _conv_stack(gen, device):
    c = randint(gen, 1, 3)
    h, w = randint(gen, 12, 20), randint(gen, 12, 24)
    c1, c2 = randint(gen, 2, 8), randint(gen, 2, 8)
    k1 = randint(gen, 1, 5)
    body = nn.Sequential(
        nn.Conv2d(c, c1, k1, padding=k1 // 2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, stride=2),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=1),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = body(torch.zeros(1, c, h, w)).shape[1]
    net = nn.Sequential(*body, nn.Linear(flat, 7), nn.Dropout(0.5), nn.Linear(7, 3))
    return ShapeCase(net.to(device).eval(), (randint(gen, 1, 4), c, h, w))


def _shape_cases(gen, device):
    cases = [_conv_stack(gen, device) for _ in range(3)]
    cases.append(ShapeCase(nn.Sequential(nn.Conv2d(2, 5, 1)).to(device).eval(), (1, 2, 6, 9)))
    cases.append(
        ShapeCase(
            nn.Sequential(
                nn.Conv2d(3, 4, 7, stride=3, padding=2),
                nn.BatchNorm2d(4),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
                nn.AdaptiveAvgPool2d((1, 1)),
                nn.Flatten(),
                nn.Linear(4, 2),
            )
            .to(device)
            .eval(),
            (2, 3, 31, 20),
        )
    )
    cases.append(
        ShapeCase(
            nn.Sequential(nn.Flatten(), nn.Linear(30, 6), nn.Tanh(), nn.Linear(6, 4)).to(device).eval(), (5, 2, 3, 5)
        )
    )
    return cases


def _shape_oracle(case):
    net = case.net
    rows: list = []
    x = torch.zeros(case.input_shape, device=next(net.parameters()).device)
    watched_forward(net, x, net.children(), lambda m, a, out: rows.append((type(m).__name__, tuple(out.shape))))
    return rows


def _run_shape_table(fn, case: ShapeCase):
    table = call(fn, case.net, case.input_shape, name="shape_table")
    check_true(
        isinstance(table, (list, tuple)),
        f"shape_table should return a list of (name, shape) pairs, not a {type(table).__name__}",
    )
    rows = []
    for i, row in enumerate(table):
        ok = isinstance(row, (list, tuple)) and len(row) == 2 and isinstance(row[0], str)
        check_true(
            ok,
            f"shape_table: row {i} should be a pair (layer type name as a str, output shape), received {str(row)[:60]}",
        )
        try:
            rows.append((row[0], tuple(int(s) for s in row[1])))
        except TypeError:
            raise CheckError(
                f"shape_table: the shape in row {i} should be a tuple of ints or a torch.Size, "
                f"received a {type(row[1]).__name__}"
            ) from None
    return rows


def _compare_shape_table(received, expected, what, hidden=True):
    compare_traces(received, expected, "your table", what)


def _describe_shape(case: ShapeCase):
    return f"a {len(list(case.net.children()))}-layer network, input {fmt_shape(case.input_shape)}"


# ----------------------------------------------------------------------------- accuracy


class AccuracyCase(NamedTuple):
    net: nn.Module  # in training mode (the student must switch to evaluation mode and back) or not
    batches: list  # (X, y) pairs
    k: int | None  # None: the default k (1) is used
    training: bool  # the mode the network is in before the call, and must be in after it
    accuracy: float  # the fraction of examples whose label is among the k highest scores, by construction


def _scores_without_ties(gen, net: nn.Module, size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch ``X`` and its evaluation-mode scores, redrawn until the scores of every example are
    at least 1e-3 apart (so that the k highest are the same on every device)."""
    while True:
        X = rand(gen, size, 1, 3, 4, device=device)
        with torch.no_grad():
            scores = net.eval()(X)
        ranked = scores.sort(dim=1, descending=True).values
        if bool((ranked[:, :-1] - ranked[:, 1:] >= 1e-3).all()):
            return X, scores


def _accuracy_cases(gen, device):
    cases = []
    # (batch sizes, fraction of examples in the top k per batch, k, classes, dropout, training mode)
    for sizes, fractions, k, classes, dropout, training in (
        ([16, 16, 5], [0.75, 0.5, 0.0], None, randint(gen, 3, 10), True, True),
        ([10, 3], [0.2, 1.0], 2, randint(gen, 4, 10), False, True),
        ([8, 8, 8, 1], [0.5, 0.25, 1.0, 0.0], 5, randint(gen, 7, 10), True, True),
        ([7], [3 / 7], 1, randint(gen, 3, 10), False, True),
        ([12, 12, 3], [1 / 3, 0.5, 1.0], 2, 3, True, False),  # evaluation mode: it stays so
        ([9, 4], [1.0, 1.0], 6, 6, True, True),  # k = number of classes: every label counts
        ([11, 11, 2], [0.5, 9 / 11, 0.0], 3, randint(gen, 5, 10), True, True),
    ):
        layers = [nn.Flatten(), nn.Linear(12, 32), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(0.6))
        layers.append(nn.Linear(32, classes))
        net = nn.Sequential(*layers).to(device)
        with torch.no_grad():  # weights large enough for dropout to change many rankings
            for m in net:
                if isinstance(m, nn.Linear):
                    m.weight.copy_(rand(gen, *m.weight.shape, device=device) * 2)
        top = k or 1
        batches, n_in, n_total = [], 0, 0
        for size, frac in zip(sizes, fractions):
            X, scores = _scores_without_ties(gen, net, size, device)
            n_right = round(frac * size)
            # the rank of each true label among the scores (0: the highest): below `top` for the
            # first n_right examples, from `top` on for the others; the first of each group gets
            # the edge rank (0, and exactly `top`), where off-by-one answers go wrong
            ranks = [
                (0 if i == 0 else randint(gen, 0, top - 1))
                if i < n_right
                else (top if i == n_right else randint(gen, top, classes - 1))
                for i in range(size)
            ]
            order = scores.argsort(dim=1, descending=True)
            y = order[torch.arange(size, device=device), torch.tensor(ranks, device=device)]
            batches.append((X, y))
            n_in, n_total = n_in + n_right, n_total + size
        net.train(training)
        cases.append(AccuracyCase(net, batches, k, training, n_in / n_total))
    return cases


def _run_accuracy(fn, case: AccuracyCase):
    net, was_training = case.net, case.training
    grad_on: list[bool] = []
    hook = net.register_forward_hook(lambda m, a, out: grad_on.append(torch.is_grad_enabled()))
    try:
        if case.k is None:
            acc = call(fn, net, case.batches, name="accuracy")
        else:
            acc = call(fn, net, case.batches, k=case.k, name="accuracy")
    finally:
        hook.remove()
    check_true(
        net.training == was_training,
        f"accuracy left the network in {'training' if net.training else 'evaluation'} mode; it was in "
        f"{'training' if was_training else 'evaluation'} mode before the call: put it back as it was",
    )
    check_true(
        not any(grad_on),
        "accuracy ran the network with gradients on: compute the scores inside torch.no_grad()",
    )
    if isinstance(acc, torch.Tensor) and acc.numel() == 1:
        acc = acc.item()
    check_true(
        isinstance(acc, (int, float)) and not isinstance(acc, bool),
        f"accuracy should return a number (a Python float), not a {type(acc).__name__}",
    )
    return float(acc)


def _compare_accuracy(received, expected, what, hidden=True):
    if abs(received - expected) > 1e-9:
        hint = ""
        if received > 1:
            hint = " (return the fraction of examples, not their number)"
        raise CheckError(
            f"{what}: accuracy returned {received:.4f}, which is not right{hint} (count the examples "
            f"whose true label is among the k highest scores, over all examples, with the network in "
            f"evaluation mode)"
        )


def _describe_accuracy(case: AccuracyCase):
    sizes = ", ".join(str(len(y)) for _, y in case.batches)
    k = "k not given (1)" if case.k is None else f"k={case.k}"
    classes = [m.out_features for m in case.net.modules() if isinstance(m, nn.Linear)][-1]
    mode = "training" if case.training else "evaluation"
    return f"batches of {sizes} examples, {classes} classes, {k}, network in {mode} mode"


# ----------------------------------------------------------------------------- modern_lenet

BUDGET_S = 8.0  # CPU seconds (one thread) for the whole training run
THRESHOLD_REAL = 0.60  # on Fashion-MNIST (the sample or the full set)
THRESHOLD_GENERATED = 0.80  # on the generated stand-in data (it is easier)


class Recipe(NamedTuple):
    """How the hidden test trains the student's modern LeNet."""

    epochs: int = 2
    batch_size: int = 32
    lr: float = 0.02
    momentum: float = 0.9
    train_images: int = 3500
    test_images: int = 1000
    seed: int = 0


RECIPE = Recipe()


def _init_xavier(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class ModernCase(NamedTuple):
    device: torch.device


def _modern_cases(gen, device):
    return [ModernCase(device)]


def _checked_modern(fn, device) -> nn.Module:
    """The student's ``modern_lenet()`` on ``device``, after its shape and structure checks."""
    net = call(fn, name="modern_lenet")
    check_true(isinstance(net, nn.Module), f"modern_lenet() should return an nn.Module, not a {type(net).__name__}")
    net = net.to(device)
    with torch.no_grad():
        try:
            out = net.eval()(torch.zeros(2, 1, 28, 28, device=device))
        except Exception as e:  # noqa: BLE001 - the student's network raised: one line
            raise CheckError(
                f"modern_lenet(): the forward pass on a (2, 1, 28, 28) batch raised "
                f"{type(e).__name__}: {e}".splitlines()[0]
            ) from None
    check_true(
        isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 10),
        "modern_lenet() should output shape (2, 10) for a (2, 1, 28, 28) batch",
    )
    check_modern_structure(net)
    return net


def _train_within_budget(net: nn.Module, train_iter, device) -> None:
    """The recipe's epochs of SGD with momentum, on one CPU thread, within ``BUDGET_S`` seconds."""
    r = RECIPE
    optimizer = torch.optim.SGD(net.parameters(), lr=r.lr, momentum=r.momentum)
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    start = clock()
    net.train()
    for _ in range(r.epochs):
        for X, y in train_iter:
            loss = F.cross_entropy(net(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if clock() - start > BUDGET_S:
                raise CheckError(
                    f"modern_lenet(): training went over the budget of {BUDGET_S:.0f} s "
                    f"before finishing {r.epochs} epochs: make the network smaller"
                )


def _accuracy(net: nn.Module, test_iter) -> float:
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in test_iter:
            correct += int((net(X).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def _run_modern(fn, case: ModernCase):
    from ..data import data_loaders, load_or_generate

    device = case.device
    r = RECIPE
    torch.manual_seed(r.seed)
    net = _checked_modern(fn, device)
    net.apply(_init_xavier)
    data = load_or_generate()
    train_iter, test_iter, _ = data_loaders(
        r.batch_size,
        device=device,
        data=data,
        seed=r.seed,
        train_limit=r.train_images,
        test_limit=r.test_images,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train_within_budget(net, train_iter, device)
        accuracy = _accuracy(net, test_iter)
    finally:
        torch.set_num_threads(threads)
    return {"accuracy": accuracy, "generated": data.generated, "source": data.source}


def _compare_modern(received, expected, what, hidden=True):
    threshold = THRESHOLD_GENERATED if received["generated"] else THRESHOLD_REAL
    if not received["accuracy"] >= threshold:
        raise CheckError(
            f"{what}: after the grader's training your network reached test accuracy "
            f"{received['accuracy']:.3f}, below the required {threshold:.2f} "
            f"(data: {received['source']})"
        )


register(
    Item(
        "ch05.lenet32",
        cases=_lenet32_cases,
        run=_run_lenet32,
        oracle=lambda c: reference_result(lenet32_reference, c.args(), c.X, c.seed),
        compare=_compare_lenet32,
        describe=lambda c: f"{c.who()}, batch of {c.X.shape[0]}",
    ),
    Item(
        "ch05.shape_table",
        cases=_shape_cases,
        run=_run_shape_table,
        oracle=_shape_oracle,
        compare=_compare_shape_table,
        describe=_describe_shape,
    ),
    Item(
        "ch05.accuracy",
        cases=_accuracy_cases,
        run=_run_accuracy,
        oracle=lambda c: c.accuracy,
        compare=_compare_accuracy,
        describe=_describe_accuracy,
    ),
    Item(
        "ch05.modern_lenet",
        cases=_modern_cases,
        run=_run_modern,
        oracle=lambda c: None,
        compare=_compare_modern,
        describe=lambda c: f"trained on {c.device.type}",
    ),
)
