"""Checking a student's network on numbers, shared by the chapters that build networks (5 to 9).

A student's module and the reference are given the same weights without the reference ever
entering the kernel: each case carries only a seed; in the kernel, :func:`weighted_run` draws
the student's parameters from it in creation order (:func:`~convcourse.grading.randomize`) and
runs the module; in the grader, :func:`weighted_reference` draws the reference's parameters from
the same seed and runs it. Two modules whose parameters have the same shapes in the same order
get the same values, so :func:`check_weighted` first compares the shapes (the messages say
which parameter differs), then the outputs. The kernel learns nothing about the reference, not
even its parameter shapes.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..check import CheckError, call, check_tensor, check_true
from ..hooks import watched_forward
from . import Item, dims, drawn, randint, randomize, seeded


def one_thread(fn):
    """Run ``fn`` with one CPU thread: whole networks on a small shared CPU are several times
    faster that way than with threads that wait for each other (nothing changes on a GPU)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(n)

    return wrapper


_INITS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
)


@contextlib.contextmanager
def weights_drawn_later():
    """Build a module whose every parameter :func:`~convcourse.grading.randomize` will overwrite:
    ``torch.nn.init``'s routines do nothing inside, so PyTorch's default initialisation (most of
    the cost of building AlexNet's dense layers) is not paid for. Buffers are not touched by them."""
    saved = {name: getattr(nn.init, name) for name in _INITS}
    for name in _INITS:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flops(module: nn.Module, shape) -> int:
    """FLOPs of one forward pass as FlopCounterMode counts them (a copy on the meta device)."""
    with torch.device("meta"):
        x = torch.zeros(shape)
    with FlopCounterMode(display=False) as counter:
        module.to("meta")(x)
    return int(counter.get_total_flops())


def fmt_shape(shape) -> str:
    """``(2, 3, 4)``, or ``none``."""
    return "(" + ", ".join(map(str, shape)) + ")" if shape is not None else "none"


def new_seed(gen: torch.Generator) -> int:
    """A seed for the weights of one case, drawn from the item's generator."""
    return randint(gen, 0, 2**62)


# ----------------------------------------------------------------------------- same weights, by seed


def weighted_run(net, seed: int, device: torch.device, who: str, work: Callable[[nn.Module], Any]) -> dict:
    """Kernel side: the parameter shapes of the student's ``net``, then, with its weights drawn
    from ``seed``, what ``work(net)`` returns (or the one-line error it raised)."""
    check_true(isinstance(net, nn.Module), f"{who} should return an nn.Module, received a {type(net).__name__}")
    try:
        named = list(randomize(net.cpu(), seeded(seed)).named_parameters())
    except CheckError as e:
        raise CheckError(f"{who}: {e}") from None
    shapes = {"shapes": [tuple(p.shape) for _, p in named], "names": [name[:80] for name, _ in named]}
    try:
        return {**shapes, "value": work(net.to(device).eval()), "error": None}
    except CheckError as e:  # judged after the shapes, as it would be with the reference's weights
        return {**shapes, "value": None, "error": str(e)}


def weighted_reference(
    build: Callable[..., nn.Module],
    args: tuple,
    seed: int,
    device: torch.device,
    who: str,
    work: Callable[[nn.Module], Any],
) -> dict:
    """Grader side: what :func:`weighted_run` gives for the reference ``build(*args)``."""
    ref = drawn(build, *args, gen=seeded(seed)).to(device).eval()
    return {"who": who, "shapes": [tuple(p.shape) for p in ref.parameters()], "value": work(ref)}


def _check_shapes(got: list, names: list, want: list, who: str) -> None:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            name = names[i] if i < len(names) and isinstance(names[i], str) else "?"
            raise CheckError(
                f"{who}: parameter {i} ({name}) has shape {dims(g)}, expected "
                f"{dims(w)} (parameters are compared in the order the layers "
                f"are created)"
            )
    if len(got) != len(want):
        raise CheckError(
            f"{who}: your module has {len(got)} parameter tensors, expected {len(want)} "
            f"(weights and biases of the layers the exercise lists)"
        )


def check_weighted(compare_value: Callable[..., None]):
    """``compare`` for :func:`weighted_run` results: shapes first, then ``compare_value`` on the values."""

    def compare(received, expected, what, hidden=True):
        check_true(
            isinstance(received, dict) and isinstance(received.get("shapes"), list),
            f"{what}: the hidden test did not report the module's parameters",
        )
        got = [tuple(int(n) for n in s) for s in received["shapes"]]
        _check_shapes(got, list(received.get("names") or []), expected["shapes"], expected["who"])
        if received.get("error") is not None:
            raise CheckError(str(received["error"]))
        compare_value(received["value"], expected["value"], what, hidden=hidden)

    return compare


def network_item(item_id: str, *, cases, run, oracle, describe, compare_value=check_tensor) -> Item:
    """An item whose answer builds a network that is checked on numbers: ``run`` and ``oracle``
    return :func:`weighted_run` and :func:`weighted_reference` results (on one CPU thread), and
    ``compare_value`` compares their values once the parameter shapes agree."""
    return Item(
        item_id,
        cases=cases,
        run=one_thread(run),
        oracle=one_thread(oracle),
        compare=check_weighted(compare_value),
        describe=describe,
    )


def forward(X: torch.Tensor, name: str):
    """``work`` for :func:`weighted_run`: the module's output on ``X``."""
    return lambda net: call(net, X, name=name)


# ----------------------------------------------------------------------------- whole classifiers


def describe_on_inputs(case) -> str:
    """``describe`` for a network case built once and run on each of ``case.inputs``: its call
    (``case.who()``) and the input sizes."""
    sizes = " and ".join(dims(X) for X in case.inputs)
    return f"{case.who()} on {sizes} input{'s' if len(case.inputs) > 1 else ''}"


def compare_each(compare_one):
    """``compare`` for a result that is a list with one value per input of the case."""

    def compare(received, expected, what, hidden=True):
        check_true(
            isinstance(received, list) and len(received) == len(expected), f"{what}: expected one result per input"
        )
        for i, (r, e) in enumerate(zip(received, expected), 1):
            compare_one(r, e, f"{what}, input {i}" if len(expected) > 1 else what, hidden=hidden)

    return compare


# ----------------------------------------------------------------------------- layer traces


def leaf_trace(net: nn.Module, X: torch.Tensor) -> tuple[list, torch.Tensor]:
    """[(type name, output shape)] of every leaf module as it runs, and the network's output."""
    rows: list = []
    leaves = [m for m in net.modules() if not list(m.children())]

    def hook(m, args, out):
        rows.append((type(m).__name__, tuple(out.shape) if isinstance(out, torch.Tensor) else None))

    return rows, watched_forward(net, X, leaves, hook)


def compare_traces(received: list, expected: list, who: str, what: str) -> None:
    """One line naming the first layer where two traces differ (without the expected value)."""
    for i, (r, e) in enumerate(zip(received, expected), 1):
        if r[0] != e[0]:
            raise CheckError(
                f"{what}: layer {i} of {who} is a {r[0]}, which is not the layer the exercise asks for at this position"
            )
        if r[1] != e[1]:
            raise CheckError(
                f"{what}: layer {i} of {who} ({r[0]}) outputs shape {fmt_shape(r[1])}, "
                f"which is not right (check its kernel size, padding and stride, or the "
                f"layer before it)"
            )
    if len(received) != len(expected):
        more = "more" if len(received) > len(expected) else "fewer"
        raise CheckError(f"{what}: {who} has {len(received)} layers, {more} than the exercise asks for")


def module_result(net, X: torch.Tensor, name: str, seed: int) -> dict:
    """What the grader keeps of a student's network: its parameter shapes, then, with its weights
    drawn from ``seed`` as the reference's are, its layer trace and output on ``X``."""
    check_true(isinstance(net, nn.Module), f"{name} should return an nn.Module, not a {type(net).__name__}")
    try:
        shapes = [tuple(p.shape) for p in randomize(net.cpu(), seeded(seed)).parameters()]
    except CheckError as e:
        raise CheckError(f"{name}: {e}") from None
    try:
        trace, out = leaf_trace(net.to(X.device).eval(), X)
    except CheckError:
        raise
    except Exception as e:  # noqa: BLE001 - the student's network raised: one line
        raise CheckError(f"{name}: the forward pass raised {type(e).__name__}: {e}".splitlines()[0]) from None
    return {"trace": trace, "out": out.detach() if isinstance(out, torch.Tensor) else out, "shapes": shapes}


def reference_result(build, args: tuple, X: torch.Tensor, seed: int) -> dict:
    """:func:`module_result` of the reference network ``build(*args)``, weights drawn from ``seed``."""
    ref = drawn(build, *args, gen=seeded(seed)).to(X.device).eval()
    trace, out = leaf_trace(ref, X)
    return {"trace": trace, "out": out, "shapes": [tuple(p.shape) for p in ref.parameters()]}


def against_reference(hint: str, who: str = "your network") -> Callable[..., None]:
    """An item's ``compare``: :func:`compare_with_reference`, with ``hint`` for a wrong output."""

    def compare(received, expected, what, hidden=True):
        compare_with_reference(received, expected, who, what, hint)

    return compare


def compare_with_reference(received: dict, expected: dict, who: str, what: str, hint: str) -> None:
    """Output shape, layer trace, parameter count and order, then the output (same weights)."""
    out, ref_out = received["out"], expected["out"]
    check_true(isinstance(out, torch.Tensor), f"{what}: {who} should return a tensor from its forward pass")
    if tuple(out.shape) != tuple(ref_out.shape):
        raise CheckError(f"{what}: {who} outputs shape {fmt_shape(out.shape)}, which is not right")
    compare_traces(received["trace"], expected["trace"], who, what)
    n_student = sum(math.prod(s) for s in received["shapes"])
    n_ref = sum(math.prod(s) for s in expected["shapes"])
    if n_student != n_ref:
        raise CheckError(
            f"{what}: {who} has {n_student:,} parameters, which is not right "
            f"(a missing bias, or a wrong channel count or layer width?)"
        )
    check_true(
        [tuple(s) for s in received["shapes"]] == expected["shapes"],
        f"{what}: the parameters of {who} do not come in the order of the layers "
        f"asked for (define the layers in the order of the exercise)",
    )
    try:
        check_tensor(out, ref_out, f"{what}: the output of {who}", hidden=True)
    except CheckError as e:
        raise CheckError(f"{e} ({hint})") from None
