"""Checks that tell a student what is wrong in one line they can act on.

Visible tests in the exercise notebooks and the hidden tests of the grader use the
same helpers.  Every failure is a :class:`CheckError` (an ``AssertionError``, so
nbgrader scores it as a failed test) whose message is a single line, e.g.::

    corr2d(X, K): expected shape (2, 2), received (3, 3)
    corr2d(X, K): first difference at [0, 1]: expected 25, received 24 (2 of 4 entries differ)
    conv2d_matmul called a convolution routine (aten.convolution), which this exercise forbids
    corr2d is still the placeholder: replace `raise NotImplementedError()` with your code

With ``hidden=True`` the message never contains an expected value.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import types
from types import FrameType
from typing import Literal

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .device import tolerances


class CheckError(AssertionError):
    """A failed check, with a one-line message meant for the student."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ForbiddenCall(CheckError):
    """The student's code called an operator that the exercise forbids."""


# The operator families an exercise may forbid.
Family = Literal["convolution", "pooling", "upsampling", "mirror_padding", "maximum", "derivation", "flop_counting"]

# The operators of each family, by ATen overload-packet name.
FORBIDDEN_FAMILIES = {
    "convolution": {
        "convolution",
        "_convolution",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "convolution_overrideable",
        "cudnn_convolution",
        "cudnn_convolution_transpose",
        "cudnn_convolution_relu",
        "cudnn_convolution_add_relu",
        "mkldnn_convolution",
        "miopen_convolution",
        "miopen_depthwise_convolution",
        "slow_conv2d_forward",
        "_slow_conv2d_forward",
        "slow_conv_dilated2d",
        "slow_conv_transpose2d",
        "_conv_depthwise2d",
        "thnn_conv2d",
        "_nnpack_spatial_convolution",
        # the backward of a convolution is a convolution too (torch.nn.grad.conv2d_input, ...)
        "convolution_backward",
        "convolution_backward_overrideable",
        "_convolution_double_backward",
        "cudnn_convolution_backward",
        "mkldnn_convolution_backward",
        "slow_conv2d_backward",
        "_slow_conv2d_backward",
        "conv_depthwise2d_backward",
        "slow_conv_transpose2d_backward",
        "slow_conv_dilated2d_backward",
        "miopen_convolution_backward",
        "conv_tbc",
        "conv_tbc_backward",
    },
    "pooling": {
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool2d_with_indices",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_avg_pool2d",
        "_adaptive_avg_pool2d",
        "adaptive_max_pool2d",
        "mkldnn_max_pool2d",
        "quantized_max_pool2d",
        "fractional_max_pool2d",
        "lp_pool2d",
        # backwards that pool: a nearest upsampling's backward sums each window
        "upsample_nearest2d_backward",
        "_upsample_nearest_exact2d_backward",
        "upsample_bilinear2d_backward",
        "avg_pool2d_backward",
        "max_pool2d_with_indices_backward",
        "_adaptive_avg_pool2d_backward",
        "adaptive_max_pool2d_backward",
        "fractional_max_pool2d_backward",
    },
    "upsampling": {
        "upsample_nearest2d",
        "upsample_bilinear2d",
        "_upsample_nearest_exact2d",
        "_upsample_bilinear2d_aa",
        "upsample_bicubic2d",
        "grid_sampler_2d",
        "grid_sampler",
        # backwards that spread each value over a window, and unpooling
        "avg_pool2d_backward",
        "_adaptive_avg_pool2d_backward",
        "max_unpool2d",
    },
    "mirror_padding": {
        "reflection_pad1d",
        "reflection_pad2d",
        "reflection_pad3d",
        "reflection_pad1d_backward",
        "reflection_pad2d_backward",
        "reflection_pad3d_backward",
    },
    # a maximum to build from ReLUs: every routine that takes a maximum or selects by comparison
    # (a comparison followed by where/masked_fill picks the larger value without any ReLU)
    "maximum": {
        "max",
        "maximum",
        "amax",
        "fmax",
        "aminmax",
        "cummax",
        "topk",
        "sort",
        "argmax",
        "where",
        "masked_fill",
        "masked_select",
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool2d_with_indices",
        "adaptive_max_pool2d",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "_adaptive_avg_pool2d",
    },
    # a count to derive from a formula: every operator is refused (building a layer, even on
    # the meta device, runs some), so nothing can be measured
    "derivation": frozenset(),
    # FLOPs to compute from the layers' shapes: any operator is allowed, except from inside
    # PyTorch's FLOP counter (recognised by its caller, see _CALLER_FILES)
    "flop_counting": frozenset(),
}
EVERY_OPERATOR = frozenset({"derivation"})  # the families that refuse every operator
# Families recognised by who runs the operator rather than by which operator runs: an operator
# dispatched from a frame of this PyTorch file is refused. Frames cannot be forged from Python
# without compiling code (which the static scan reports), and the counter's own classes,
# however reached, run there.
_CALLER_FILES = {"flop_counting": ("torch", "utils", "flop_counter.py")}

# What a student should use instead, shown in the message.
_ADVICE = {
    "convolution": "build it from slices, products and sums (or the matrix products the exercise asks for) instead",
    "pooling": "slide the window yourself (e.g. with unfold) instead",
    "upsampling": "compute the indices and weights yourself instead",
    "mirror_padding": "build it with flip and torch.cat, or with an index tensor",
    "maximum": "build the maximum from relu, additions and subtractions only",
    "derivation": "derive the number from the formula with integer arithmetic; do not build the layer or run it",
    "flop_counting": "compute each layer's FLOPs from its shapes with the formula",
}


class _Forbid(TorchDispatchMode):
    def __init__(self, family: str, who: str):
        super().__init__()
        self.names = FORBIDDEN_FAMILIES[family]
        self.every = family in EVERY_OPERATOR
        self.caller = _CALLER_FILES.get(family)
        self.family, self.who = family, who
        self.pushes = 0

    @property
    def _dispatch_key(self):
        """PyTorch reads this each time the mode is pushed on the dispatch stack: a read after
        the mode was entered means code in the block took it off and put it back."""
        self.pushes += 1
        return None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if self.every:
            raise ForbiddenCall(
                f"{self.who} ran a tensor operation (aten.{name}), which this exercise forbids: {_ADVICE[self.family]}"
            )
        if self.caller and _called_from(self.caller):
            raise ForbiddenCall(
                f"{self.who} ran aten.{name} inside PyTorch's FLOP counter (FlopCounterMode), which this "
                f"exercise forbids: {_ADVICE[self.family]}"
            )
        if name in self.names:
            raise ForbiddenCall(
                f"{self.who} called {'an' if self.family[0] in 'aeiou' else 'a'} "
                f"{self.family.replace('_', ' ')} routine "
                f"(aten.{name}), which this exercise "
                f"forbids: {_ADVICE[self.family]}"
            )
        return func(*args, **(kwargs or {}))


class _Probe(Exception):
    """Raised and caught at once: its traceback gives this frame without ``sys._getframe``, which
    the kernel's audit hook reports as tampering when it happens under a student's cell."""


def _called_from(parts: tuple[str, ...]) -> bool:
    """Whether a frame of the file ending in ``parts`` is among the callers of this one (the
    whole stack: frames a student's code adds in between cannot push it out of reach)."""
    suffix = "/" + "/".join(parts)
    try:
        raise _Probe
    except _Probe as probe:
        assert probe.__traceback__ is not None
        frame: FrameType | None = probe.__traceback__.tb_frame.f_back
    while frame is not None:
        if frame.f_code.co_filename.replace("\\", "/").endswith(suffix):
            return True
        frame = frame.f_back
    return False


def _count_flops(z):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False):
        return z + 1


# The operators a matrix product runs (``@``, ``torch.matmul``, ``torch.einsum``, ``F.linear``
# and the like each run one of them): what the exercises that count matrix products count, in
# their visible tests and in the grader alike.
MATRIX_PRODUCTS = frozenset(
    {"mm", "bmm", "addmm", "baddbmm", "addbmm", "matmul", "dot", "vdot", "mv", "addmv", "addr"}
    | {"_int_mm", "_addmm_activation", "linear"}
)


class watch(TorchDispatchMode):
    """``with watch(names) as w:`` records in ``w.seen`` the operators of ``names`` that run in
    the block, in order (to count matrix products or operations, or to see that a convolution
    ran). Taking it off the stack, which would empty the record, needs dispatch internals that
    the grader's static scan refuses (``autograder/scan.py``)."""

    def __init__(self, names):
        super().__init__()
        self.names = frozenset(names)
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in self.names:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


# One small operator of each family: the check runs it after the student's code, and it must
# still be refused; otherwise that code switched the check off.
# (Not through torch.ops: this code is also sent to kernels by value, and torch.ops cannot be pickled.)
_CANARY = {
    "convolution": lambda z: torch.convolution(z, z, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    "pooling": lambda z: torch.max_pool2d(z, 1),
    "upsampling": lambda z: torch.nn.functional.interpolate(z, scale_factor=2.0),
    "mirror_padding": lambda z: torch.nn.functional.pad(z, (0, 0, 0, 0), mode="reflect"),
    "maximum": lambda z: torch.amax(z),
    "derivation": lambda z: z + 1,
    "flop_counting": _count_flops,
}


class TamperedCheck(CheckError):
    """The operator check was no longer active after the student's code ran."""


@contextlib.contextmanager
def forbid(family: str | None, who: str = "your function"):
    """Raise :class:`ForbiddenCall` if code in the block runs an operator of ``family``.

    The check sits at PyTorch's dispatcher, so it sees the operator whatever Python
    name it was reached through (``F.conv2d``, ``nn.Conv2d``, ``torch.ops.aten...``).
    When the block ends, a small operator of the family must still be refused: code that
    popped or disabled the dispatch mode is caught here (:class:`TamperedCheck`).
    """
    if family is None:
        yield
        return
    with _Forbid(family, who) as mode:
        pushed = mode.pushes
        yield
        try:
            _CANARY[family](torch.zeros(1, 1, 1, 1))
        except ForbiddenCall:
            if mode.pushes == pushed:
                return
        raise TamperedCheck(
            f"{who} switched off the check for forbidden {family} routines, which grading reports to the instructor"
        )


# More than 0 while a course reference runs in place of one of the student's other answers
# (:func:`given_names`); a reference refuses to run otherwise (:mod:`convcourse.reference`).
_STANDING_IN = [0]


def standing_in() -> bool:
    """True while a course reference stands in for an answer (see :func:`given_names`)."""
    return _STANDING_IN[0] > 0


def _stand_in(reference):
    def stand_in(*args, **kwargs):
        _STANDING_IN[0] += 1
        try:
            return reference(*args, **kwargs)
        finally:
            _STANDING_IN[0] -= 1

    stand_in.__name__ = getattr(reference, "__name__", "reference")
    return stand_in


def _namespace(obj) -> dict | None:
    """The globals of the notebook that defined ``obj`` (a function, or a class with methods)."""
    if not isinstance(obj, type) and not hasattr(obj, "__globals__"):
        obj = type(obj)  # an instance: the notebook that defined its class
    if isinstance(obj, type):
        obj = next((v for v in vars(obj).values() if callable(v) and hasattr(v, "__globals__")), None)
    namespace = getattr(obj, "__globals__", None)
    return namespace if isinstance(namespace, dict) else None


@contextlib.contextmanager
def given_names(obj, given: dict | None):
    """While the block runs, each name of ``given`` in the notebook that defined ``obj`` means
    the course's reference instead of the student's own answer, so that one answer is judged on
    its own: a wrong ``corr2d`` costs ``corr2d``'s points, not those of every answer that calls
    it. The references use plain tensor operations, so no forbidden-operator check refuses them."""
    namespace = _namespace(obj) if given else None
    if namespace is None:
        yield
        return
    assert given is not None
    missing = object()
    saved = {name: namespace.get(name, missing) for name in given}
    namespace.update({name: _stand_in(reference) for name, reference in given.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


# The course's own answers: the networks it builds, the reference implementations its visible
# tests compare with, its accuracy loop and its layer tables. Student code that reaches one of
# them did not write the answer (the grader's static scan refuses the same modules).
COURSE_ANSWERS = ("convcourse.models", "convcourse.reference", "convcourse.train", "convcourse.summary")


def _course_origin(value) -> str | None:
    """The course module that ``value`` (a module, function or class) comes from, if it is one
    of the course's answers."""
    name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    return name if isinstance(name, str) and name.startswith(COURSE_ANSWERS) else None


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _reached(obj):
    """``obj`` and every function, method and class of the same notebook that its code reaches
    through the names it uses, each as ``(object, names its code uses, the values of those
    names)`` (a class gives no names: its methods come after it)."""
    seen: set[int] = set()
    todo = [obj]
    while todo:
        f = todo.pop()
        f = getattr(f, "__func__", f)
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, type):
            todo += [v for v in vars(f).values() if hasattr(v, "__code__")]
            yield f, [], []
            continue
        code, names = getattr(f, "__code__", None), getattr(f, "__globals__", None)
        if not isinstance(code, types.CodeType) or not isinstance(names, dict):
            yield f, [], []
            continue
        used = [n for c in _code_objects(code) for n in c.co_names]
        cells = [c.cell_contents for c in (getattr(f, "__closure__", None) or ()) if c.cell_contents is not None]
        values = cells + [names[n] for n in used if n in names]
        module = getattr(f, "__module__", 0)
        todo += [v for v in values if callable(v) and getattr(v, "__module__", None) == module]  # helpers
        yield f, used, values


def course_answer_used(obj) -> str | None:
    """What of the course's answers the student's ``obj`` (a function, a class, a method) reaches
    through the names its code uses, following its helpers from the same notebook; None if
    nothing. This tells a student early, in the visible test; the grade relies on the grader's
    own static scan of the submission (``autograder/scan.py``), which student code cannot touch."""
    for f, used, values in _reached(obj):
        classes = f.__mro__ if isinstance(f, type) else (f,)
        imported = [n for n in used if n.startswith(COURSE_ANSWERS)]  # imported inside the function
        origin = next(filter(None, [*map(_course_origin, classes), *imported, *map(_course_origin, values)]), None)
        if origin:
            return origin
    return None


# Names through which a family's work can leave PyTorch's dispatcher, where the run-time checks
# cannot see it: a convolution (or the per-pixel loop ch01's operation budget refuses) done on
# NumPy arrays, Python lists or by SciPy. The grader's static scan refuses them in the code an
# item reaches (``autograder/scan.py``); :func:`call` refuses them too, so that the visible test
# says so before the student submits.
OUTSIDE_DISPATCHER: dict[str, frozenset[str]] = {
    "convolution": frozenset(
        {"numpy", "tolist", "correlate", "correlate2d", "convolve", "convolve2d", "fftconvolve", "oaconvolve"}
    ),
}


def outside_dispatcher_used(obj, family: str | None) -> str | None:
    """The first name of :data:`OUTSIDE_DISPATCHER` for ``family`` that the student's ``obj``
    reaches (a name its code uses, or a module it uses under another name, e.g. NumPy as np)."""
    refused = OUTSIDE_DISPATCHER.get(family or "", frozenset())
    if not refused:
        return None
    for _f, used, values in _reached(obj):
        modules = [v.__name__ if isinstance(v, types.ModuleType) else getattr(v, "__module__", None) for v in values]
        roots = [m.split(".")[0] for m in modules if isinstance(m, str)]
        hit = next((n for n in [*used, *roots] if n in refused), None)
        if hit:
            return hit
    return None


# The forbidden family of the item whose hidden cases are running, set by the grading harness
# (``item_rule``): every ``call`` of the student's code then checks it, whoever wrote the call.
_ITEM_RULE: list[str | None] = [None]


@contextlib.contextmanager
def item_rule(family: str | None):
    """Within the block, :func:`call` forbids ``family`` unless told otherwise."""
    saved, _ITEM_RULE[0] = _ITEM_RULE[0], family
    try:
        yield
    finally:
        _ITEM_RULE[0] = saved


def call(fn, *args, name: str | None = None, forbidden: str | None = None, given: dict | None = None, **kwargs):
    """Call the student's ``fn``; turn the placeholder and forbidden calls into clear messages.
    ``forbidden`` defaults to the rule of the item being graded (:func:`item_rule`); ``given``
    names the course references that stand in for the student's other answers (:func:`given_names`)."""
    forbidden = forbidden or _ITEM_RULE[0]
    name = str(name or getattr(fn, "__name__", "your function"))
    if not callable(fn):
        raise CheckError(f"{name} should be a function or class, but it is a {type(fn).__name__}")
    used = course_answer_used(fn)
    if used:
        raise ForbiddenCall(
            f"{name} uses the course's own code ({used}), which this exercise forbids: write it yourself"
        )
    with given_names(fn, given):  # the student's other answers are not this answer's
        escape = outside_dispatcher_used(fn, forbidden)
    if escape:
        raise ForbiddenCall(
            f"{name} uses {escape}, which takes the work out of PyTorch's tensor operations: this exercise "
            "forbids it (compute with torch tensors)"
        )
    try:
        with given_names(fn, given), forbid(forbidden, who=name):
            return fn(*args, **kwargs)
    except NotImplementedError as e:
        if str(e).strip():  # PyTorch's own NotImplementedError (an unsupported op or shape)
            raise CheckError(f"{name} raised NotImplementedError: {str(e).strip().splitlines()[0]}") from None
        raise CheckError(
            f"{name} is still the placeholder: replace `raise NotImplementedError()` with your code"
        ) from None


def _fmt(x) -> str:
    if isinstance(x, torch.Tensor):
        x = x.item()
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _plain(received, what: str) -> torch.Tensor:
    if received is None:
        raise CheckError(f"{what}: expected a torch.Tensor, received None (did you forget `return`?)")
    if isinstance(received, str) and received.startswith("<"):  # a value the grader could not keep
        raise CheckError(f"{what}: expected a torch.Tensor, received {received.strip('<>')}")
    if not isinstance(received, torch.Tensor):
        raise CheckError(f"{what}: expected a torch.Tensor, received a {type(received).__name__}")
    if type(received) not in (torch.Tensor, torch.nn.Parameter):
        raise CheckError(f"{what}: expected a plain torch.Tensor, received a subclass {type(received).__name__}")
    return received.detach()


def check_tensor(
    received,
    expected: torch.Tensor,
    what: str = "result",
    *,
    hidden: bool = False,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    check_device: bool = True,
) -> None:
    """Compare a tensor with the expected one; raise :class:`CheckError` with one line if it differs."""
    received = _plain(received, what)
    expected = expected.detach()
    if tuple(received.shape) != tuple(expected.shape):
        raise CheckError(f"{what}: expected shape {tuple(expected.shape)}, received {tuple(received.shape)}")
    if check_dtype and received.dtype != expected.dtype:
        raise CheckError(f"{what}: expected dtype {expected.dtype}, received {received.dtype}")
    if check_device and received.device.type != expected.device.type:
        raise CheckError(f"{what}: expected a tensor on {expected.device.type}, received one on {received.device.type}")
    tol = tolerances(expected.device)
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    r = received.to(expected.device, torch.float64 if expected.is_floating_point() else expected.dtype)
    e = expected.to(r.dtype)
    if e.is_floating_point():
        bad = ~torch.isclose(r, e, rtol=rtol, atol=atol, equal_nan=True)
    else:
        bad = r != e
    n_bad = int(bad.sum())
    if n_bad == 0:
        return
    pos = tuple(int(i) for i in bad.nonzero()[0])
    where = list(pos) if pos else "the only entry"
    count = f"({n_bad} of {e.numel()} entries differ)"
    if hidden:
        raise CheckError(f"{what}: wrong value at {where}: received {_fmt(r[pos])} {count}")
    raise CheckError(f"{what}: first difference at {where}: expected {_fmt(e[pos])}, received {_fmt(r[pos])} {count}")


def check_keeps_dtype(fn, *args, name: str | None = None, **kwargs):
    """Call ``fn`` (through :func:`call`) on float64 copies of its tensor arguments and check that
    its result is float64 too. Code that creates its output without ``dtype=X.dtype,
    device=X.device`` fails here, as it would on a GPU grader, before it is submitted."""
    name = str(name or getattr(fn, "__name__", "your function"))
    wide = [a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    result = call(fn, *wide, name=name, **kwargs)
    if not isinstance(result, torch.Tensor) or result.dtype != torch.float64:
        got = result.dtype if isinstance(result, torch.Tensor) else type(result).__name__
        raise CheckError(
            f"{name} on float64 inputs returned {got}: create tensors with dtype=X.dtype and device=X.device"
        )
    return result


def check_value(received, expected, what: str = "result", *, hidden: bool = False, rel: float = 1e-6) -> None:
    """Compare plain Python values (numbers, tuples, lists, strings) with one-line messages."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(received, (tuple, list)):
            raise CheckError(
                f"{what}: expected a tuple of {len(expected)} values, received a {type(received).__name__}"
            )
        if len(received) != len(expected):
            raise CheckError(f"{what}: expected {len(expected)} values, received {len(received)}")
        for i, (r, e) in enumerate(zip(received, expected)):
            check_value(r, e, f"{what}[{i}]", hidden=hidden, rel=rel)
        return
    if isinstance(expected, numbers.Real) and not isinstance(expected, bool):
        if isinstance(received, torch.Tensor) and received.numel() == 1:
            received = received.item()
        if not isinstance(received, numbers.Real) or isinstance(received, bool):
            raise CheckError(f"{what}: expected a number, received a {type(received).__name__}")
        if isinstance(expected, numbers.Integral) and not float(received).is_integer():
            raise CheckError(f"{what}: expected a whole number, received {_fmt(received)}")
        ok = math.isclose(float(received), float(expected), rel_tol=rel, abs_tol=1e-9)
    else:
        ok = type(received) is type(expected) and received == expected
    if ok:
        return
    if hidden:
        raise CheckError(f"{what}: received {_fmt(received)}, which is not right")
    raise CheckError(f"{what}: expected {_fmt(expected)}, received {_fmt(received)}")


def check_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds (for properties with no single expected value)."""
    if not bool(condition):
        raise CheckError(message)


MAX_MODERN_LENET_PARAMETERS = 20_000  # a third of the chapter's lenet_modern: it must be redesigned


def check_modern_structure(net, name: str = "modern_lenet()") -> None:
    """Chapter 5's modern LeNet: convolutions, max pooling and ReLUs, no sigmoid or tanh, at most
    ``MAX_MODERN_LENET_PARAMETERS`` parameters (the visible and the hidden test both ask)."""
    from torch import nn

    check_true(isinstance(net, nn.Module), f"{name} should return an nn.Module, not a {type(net).__name__}")
    mods = list(net.modules())
    check_true(sum(isinstance(m, nn.Conv2d) for m in mods) >= 2, f"{name} should have at least two nn.Conv2d layers")
    check_true(any(isinstance(m, nn.MaxPool2d) for m in mods), f"{name} should use max pooling (nn.MaxPool2d)")
    check_true(any(isinstance(m, nn.ReLU) for m in mods), f"{name} should use ReLU activations (nn.ReLU)")
    check_true(
        not any(isinstance(m, (nn.Sigmoid, nn.Tanh)) for m in mods),
        f"{name} still has sigmoid or tanh activations: replace them by nn.ReLU",
    )
    check_true(
        not any(isinstance(p, nn.parameter.UninitializedParameter) for p in net.parameters()),
        f"{name} has lazy layers that are not initialised yet: run one forward pass first",
    )
    n = sum(p.numel() for p in net.parameters())
    limit = MAX_MODERN_LENET_PARAMETERS
    check_true(n <= limit, f"{name} has {n:,} parameters; at most {limit:,} are allowed")
