"""Hidden-test items: random cases, a PyTorch oracle and a comparison, one per graded item.

A hidden test cell in ``solutions/`` is one line::

    run_hidden("ch01.corr2d", corr2d)       # from convcourse.hidden

The item (here ``ch01.corr2d``, defined in ``convcourse/grading/ch01.py``) makes the cases,
applies the student's object to each case, and compares with PyTorch's answer. Grading is
split in two halves so that the comparison runs outside the student's process:

- :func:`collect` runs student code on the cases and records what it returned;
- :func:`judge` computes the oracle and compares, raising a one-line
  :class:`~convcourse.check.CheckError` on the first wrong case.

This package is the grader's side: under ``course autograde`` it is not importable from a
student's kernel (the sandbox hides it). Cases are made in the grader, seeded per item from the
instructor's secret (:func:`set_secret`; ``COURSE_GRADING_SEED`` is read once by the grader and
never reaches a kernel). A kernel gets an item's cases only when its hidden-test cell asks,
together with the code that runs the student's object on them (:func:`payload`, sent by value);
what comes back is judged here (:func:`verdict`) against answers computed once per grading
process (:class:`Answers`).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import io
import math
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import torch
from torch import nn

from ..check import CheckError, Family, call, check_tensor, check_value, given_names, item_rule
from ..device import full_float32


@dataclass(frozen=True)
class Item:
    """One graded item.

    ``cases(gen, device)`` returns a list of cases (tuples of arguments, or NamedTuples);
    ``run(obj, case)`` applies the student's object to one case (default: ``obj(*case)``);
    ``oracle(case)`` is PyTorch's answer; ``compare(received, expected, what)`` raises
    :class:`CheckError` when they differ (default: :func:`check_tensor`). ``forbidden`` is
    the operator family the exercise forbids (see :data:`convcourse.check.Family`): every call
    of the student's code while the item's cases run is checked for it.
    """

    id: str
    cases: Callable[[torch.Generator, torch.device], list]
    oracle: Callable[[Any], Any]
    run: Callable[[Any, Any], Any] | None = None
    compare: Callable[..., None] | None = None
    forbidden: Family | None = None
    describe: Callable[[Any], str] | None = None
    # names of the student's other answers that the course's references stand in for while this
    # item's cases run (convcourse.reference): the item is judged on its own
    given: dict[str, Callable] = field(default_factory=dict)
    # wrong answers students are known to give: a failure that matches one is named in feedback
    misconceptions: tuple[Misconception, ...] = ()


class Misconception(NamedTuple):
    """A known wrong answer, recognised in the grader: ``answer(case)`` is what the mistake
    returns for a case, ``says`` the sentence that names it (it never shows the right value)."""

    answer: Callable[[Any], Any]
    says: str


_REGISTRY: dict[str, Item] = {}


def register(*items: Item) -> None:
    for item in items:
        _REGISTRY[item.id] = item


def get_item(item_id: str) -> Item:
    chapter = item_id.split(".", 1)[0]
    if item_id not in _REGISTRY:
        try:
            importlib.import_module(f"{__name__}.{chapter}")
        except ModuleNotFoundError:
            pass
    try:
        return _REGISTRY[item_id]
    except KeyError:
        raise KeyError(f"no hidden-test item {item_id!r} (looked in convcourse/grading/{chapter}.py)") from None


SECRET_ENV = "COURSE_GRADING_SEED"  # also autograder.config.SECRET_ENV
_SECRET: list[str] = []


def set_secret(value: str | None) -> None:
    """The instructor's secret for this grading process (None: the public default)."""
    _SECRET[:] = [value] if value else []


def _secret() -> str:
    return _SECRET[0] if _SECRET else os.environ.get(SECRET_ENV, "convcourse")


def generator(item_id: str) -> torch.Generator:
    """A CPU generator seeded from the instructor's secret and the item id."""
    seed = int.from_bytes(hashlib.sha256(f"{_secret()}:{item_id}".encode()).digest()[:8], "little")
    return torch.Generator().manual_seed(seed & (2**63 - 1))


_CASES: dict[tuple, list] = {}


def hidden_cases(item: Item, device: torch.device) -> list:
    """The hidden cases of ``item`` on ``device``, made once per process: they depend only on
    the item, the instructor's secret and the device. Student code never receives them, only
    copies (:func:`collect`), so what it does cannot change them for a later student."""
    key = (item.id, str(device), _secret())
    if key not in _CASES:
        _CASES[key] = item.cases(generator(item.id), device)
    return _CASES[key]


def _widened(case):
    """``case`` with its floating-point tensors in float64."""
    wide = [v.to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for v in case]
    return type(case)(*wide) if hasattr(case, "_fields") else tuple(wide)


def with_float64(make: Callable[[torch.Generator, torch.device], list]) -> Callable:
    """The cases of ``make`` and a float64 copy of the first: an answer must keep its input's
    dtype, so code that creates its output without ``dtype=X.dtype, device=X.device`` fails on
    any grader (its device mistake alone would pass on a CPU one)."""

    def cases(gen: torch.Generator, device: torch.device) -> list:
        made = make(gen, device)
        return [*made, _widened(made[0])]

    return cases


def pair(v) -> tuple:
    """A size given as an int or a pair (as ``nn.Conv2d`` accepts it), as a pair."""
    return (v, v) if isinstance(v, int) else tuple(v)


def fmt_pair(v) -> str:
    """An int or a pair as the student wrote it: ``3`` or ``(3, 5)``."""
    return str(v) if isinstance(v, int) else f"({v[0]}, {v[1]})"


def asked(**keywords) -> dict[str, Any]:
    """The keywords a case passes to the student's function: those it sets to something other
    than None or False. A case that leaves a variant at its default calls the function as the
    chapter's own version would be called, without the argument."""
    return {name: value for name, value in keywords.items() if value is not None and value is not False}


def dims(shape) -> str:
    """A shape (or a tensor's) as ``4x3x8x8``; ``scalar`` for a 0-d one."""
    return "x".join(map(str, getattr(shape, "shape", shape))) or "scalar"


def int_or_pair(gen: torch.Generator, v_h: int, v_w: int):
    """The size (v_h, v_w), given as one int at random when both are equal (both forms must work)."""
    if v_h == v_w and randint(gen, 0, 1):
        return v_h
    return (v_h, v_w)


def exact(*labels: str) -> Callable[..., None]:
    """An item's ``compare`` for counts: the number, or with ``labels`` each labelled part of a
    tuple of numbers, must be exactly PyTorch's."""

    def compare(received, expected, what, hidden=True):
        if not labels:
            check_value(received, expected, what, hidden=True, rel=1e-12)
        for i, label in enumerate(labels):
            check_value(received[i], expected[i], f"{what}: {label}", hidden=True, rel=1e-12)

    return compare


def rand(gen: torch.Generator, *shape, device="cpu", low=-1.0, high=1.0, dtype=torch.float32):
    """Uniform random values made on the CPU generator, then moved to ``device``."""
    x = torch.rand(*shape, generator=gen, dtype=torch.float64) * (high - low) + low
    return x.to(dtype).to(device)


def randint(gen: torch.Generator, low: int, high: int) -> int:
    """A random int in [low, high] (inclusive)."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def randomize(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Fill every parameter (on the CPU) with uniform values of variance 2 / fan_in, stable
    through ReLUs. Two modules whose parameters have the same shapes, in the same order, get
    the same values from generators in the same state."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if isinstance(p, nn.parameter.UninitializedParameter):
                raise CheckError(
                    f"parameter {name} is uninitialised (a Lazy layer): give every layer its "
                    f"input size (nn.Conv2d / nn.Linear, not LazyConv2d / LazyLinear)"
                )
            bound = math.sqrt(6.0 / p[0].numel()) if p.dim() > 1 else 0.1
            p.uniform_(-bound, bound, generator=gen)  # in place: large networks stay cheap
    return module


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def drawn(build: Callable[..., nn.Module], *args, gen: torch.Generator) -> nn.Module:
    """``build(*args)`` on the CPU with its parameters drawn by :func:`randomize`.

    The module is built on the meta device and given empty CPU tensors, so PyTorch's default
    initialisation, which ``randomize`` would overwrite anyway, is never paid for (it is most of
    the cost of building AlexNet). Batch norm's running statistics get their initial values
    (mean 0, variance 1), as a freshly built student module has them; other buffers are refused."""
    with torch.device("meta"):
        module = build(*args)
    module = module.to_empty(device="cpu")
    for m in module.modules():
        reset = getattr(m, "reset_running_stats", None)
        if callable(reset):
            reset()
        elif any(True for _ in m.buffers(recurse=False)):
            raise ValueError(f"drawn(): {type(m).__name__} has buffers, which would stay uninitialised")
    return randomize(module, gen)


def _describe(case) -> str:
    parts = []
    for a in case if isinstance(case, tuple) else (case,):
        if isinstance(a, torch.Tensor):
            parts.append(dims(a))
        elif isinstance(a, (int, float, str, tuple)) and len(repr(a)) <= 24:
            parts.append(repr(a))
    return ", ".join(parts)


def _clone(case):
    """A copy of ``case`` for one student call (a NamedTuple case stays one)."""
    parts = [a.clone() if isinstance(a, torch.Tensor) else copy.deepcopy(a) for a in case]
    return type(case)(*parts) if hasattr(case, "_fields") else tuple(parts)


@dataclass
class Outcome:
    """What the student's object gave on one case: a value, or the one-line error it caused."""

    case: tuple
    what: str
    received: Any = None
    error: str | None = None


def _what(item: Item, case, i: int, n: int) -> str:
    desc = (item.describe or _describe)(case)
    return f"hidden case {i} of {n}" + (f" ({desc})" if desc else "")


def collect(item: Item, obj, device: torch.device) -> list[Outcome]:
    """Run the student's object on every hidden case (student code runs here)."""
    cases = hidden_cases(item, device)
    whats = [_what(item, case, i, len(cases)) for i, case in enumerate(cases, 1)]
    return run_cases(item.run, item.forbidden, item.given, whats, cases, obj)


def run_cases(run, forbidden, given: dict, whats: list[str], cases: list, obj) -> list[Outcome]:
    """Apply ``obj`` to each case with ``run`` (default: ``obj(*case)``). Every call of the
    student's code in it, by this harness or by ``run``, forbids the item's ``forbidden`` family,
    and the course's references in ``given`` stand in for the student's other answers."""
    outcomes = []
    for case, what in zip(cases, whats):
        try:
            copy_of_case = _clone(case)
            with item_rule(forbidden), given_names(obj, given):
                received = call(obj, *copy_of_case) if run is None else run(obj, copy_of_case)
            outcomes.append(Outcome(case, what, received=received))
        except CheckError as e:
            outcomes.append(Outcome(case, what, error=str(e)))
            break
        except Exception as e:  # noqa: BLE001 - the student's code raised: report it in one line
            message = f"{type(e).__name__}: {e}".splitlines()[0][:200]
            outcomes.append(Outcome(case, what, error=f"{what}: your code raised {message}{_where(e)}"))
            break
    return outcomes


def _where(error: BaseException) -> str:
    """Where in the student's code ``error`` was raised: its last frame outside the libraries
    (PyTorch, the course), as `` at line N: <code>``, or nothing if none is known."""
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if not _library(f.filename)]
        if not frames:
            return ""
        line = " ".join((frames[-1].line or "").split())[:80]
        return f" at line {frames[-1].lineno} of your cell" + (f": {line}" if line else "")
    except Exception:  # noqa: BLE001 - a location is a courtesy; a broken traceback costs nothing
        return ""


def _library(filename: str) -> bool:
    return any(part in filename for part in ("site-packages", "/convcourse/", "/lib/python", "<frozen"))


def judge(item: Item, outcomes: list[Outcome], expected: Callable[[int], Any] | None = None) -> None:
    """Compare each outcome with the oracle (``expected(i)`` for the i-th case, if given);
    raise :class:`CheckError` on the first failure."""
    compare = item.compare or check_tensor
    for i, o in enumerate(outcomes):
        if o.error is not None:
            raise CheckError(o.error)
        try:
            compare(o.received, expected(i) if expected else item.oracle(o.case), o.what, hidden=True)
        except CheckError as failure:
            raise CheckError(_named(item, o, str(failure))) from None


def _named(item: Item, outcome: Outcome, message: str) -> str:
    """``message``, followed by the misconception that the wrong answer matches, if one does."""
    for known in item.misconceptions:
        try:
            matches = type(outcome.received) is not bool and bool(outcome.received == known.answer(outcome.case))
        except Exception:  # noqa: BLE001 - a value that cannot be compared matches nothing
            matches = False
        if matches:
            return f"{message}. {known.says}"
    return message


def _export(value, depth: int = 0):
    """What the student's code returned, as plain data that ``torch.load(weights_only=True)`` accepts
    (nested at most 32 deep: no answer is deeper, and a deeper one must not cost a traceback)."""
    if depth > 32:
        return "<a value nested too deeply>"
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            return f"<a tensor subclass {type(value).__name__}>"
        return value.detach().clone()
    if type(value) in (int, float, bool, str) or value is None:
        return value
    if type(value) in (tuple, list):
        return type(value)(_export(v, depth + 1) for v in value)
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _export(v, depth + 1) for k, v in value.items()}
    return f"<an object of type {type(value).__name__}>"


def _in_kernel(run, forbidden, given: dict, whats: list[str], cases: list, obj) -> bytes:
    """What the kernel runs (sent by :func:`payload`): the student's results, saved as bytes."""
    import io

    full_float32()  # by reference: the kernel imports convcourse.device, which it may see
    outcomes = run_cases(run, forbidden, given, whats, cases, obj)
    buffer = io.BytesIO()
    torch.save([{"received": _export(o.received), "error": o.error} for o in outcomes], buffer)
    return buffer.getvalue()


_PAYLOADS: dict[tuple, bytes] = {}


def payload(item_id: str, device: torch.device) -> bytes:
    """The bytes a kernel needs to run one item's hidden cases, made once per grading process:
    the cases and the code that applies the student's object to them, pickled by value (the
    kernel cannot import this package, and nothing a student patched in ``convcourse.check``,
    ``convcourse.hooks`` or ``convcourse.reference`` is used), never the oracle."""
    key = (item_id, str(device), _secret())
    if key not in _PAYLOADS:
        import functools

        import cloudpickle

        import convcourse.check
        import convcourse.hooks
        import convcourse.reference

        for module in (sys.modules[__name__], convcourse.check, convcourse.hooks, convcourse.reference):
            cloudpickle.register_pickle_by_value(module)
        known = answers(item_id, device)
        item = known.item
        task = functools.partial(_in_kernel, item.run, item.forbidden, item.given, known.whats, known.cases)
        _PAYLOADS[key] = cloudpickle.dumps(task)
    return _PAYLOADS[key]


class Answers:
    """The hidden cases of one item and PyTorch's answers to them, in the grader's process.

    They depend only on the item, the instructor's secret and the device, never on the student,
    so one process grading a class builds the cases once and computes each answer on first need
    (stock nbgrader recomputes them in every student's kernel). Nothing a student writes runs
    in this process, so nothing can change them between students."""

    def __init__(self, item: Item, device: torch.device):
        full_float32()  # as the kernel computes the student's results (see _in_kernel)
        self.item = item
        self.cases = hidden_cases(item, device)
        self.whats = [_what(item, c, i, len(self.cases)) for i, c in enumerate(self.cases, 1)]
        self._expected: dict[int, Any] = {}

    def expected(self, i: int):
        if i not in self._expected:
            self._expected[i] = self.item.oracle(self.cases[i])
        return self._expected[i]


_ANSWERS: dict[tuple, Answers] = {}


def answers(item_id: str, device: torch.device) -> Answers:
    key = (item_id, str(device), _secret())
    if key not in _ANSWERS:
        _ANSWERS[key] = Answers(get_item(item_id), device)
    return _ANSWERS[key]


RESULTS_LIMIT = 256 << 20  # bytes a kernel may send back for one item
RESULTS_ELEMENTS = 1 << 26  # tensor elements, in all, that the grader accepts from one item


def _unpacked_safely(data: bytes) -> str | None:
    """Why ``data`` may not be loaded, or None. ``torch.save`` writes a zip of stored members;
    a kernel could send compressed ones that inflate to gigabytes in the grader."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "the results of the hidden tests could not be read"
    if len(members) > 10_000 or any(m.compress_type != zipfile.ZIP_STORED for m in members):
        return "the results of the hidden tests are not in the form the grader reads"
    return None


def _elements(value, depth: int = 0) -> int:
    """How many tensor elements ``value`` holds (a view counts all it shows), bounded in depth."""
    if depth > 40:
        raise ValueError("nested too deeply")
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, (list, tuple)):
        return sum(_elements(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return sum(_elements(v, depth + 1) for v in value.values())
    return 0


def verdict(item_id: str, data: bytes | None, device: torch.device) -> str | None:
    """In the grader's own process: None if the kernel's results ``data`` pass, else the
    one-line reason. ``data`` is hostile: it is loaded with ``weights_only`` and checked."""
    if data is None:
        return "the hidden tests of this item did not report their results"
    unsafe = _unpacked_safely(data)
    if unsafe:
        return unsafe
    try:
        saved = torch.load(io.BytesIO(data), weights_only=True, map_location=device)
        if _elements(saved) > RESULTS_ELEMENTS:
            return "the results of the hidden tests are far larger than the answers"
    except Exception:  # noqa: BLE001 - anything unreadable is a failure
        return "the results of the hidden tests could not be read"
    known = answers(item_id, device)
    if not isinstance(saved, list) or not saved or len(saved) > len(known.cases):
        return "the results of the hidden tests are incomplete"
    outcomes = []
    for case, what, entry in zip(known.cases, known.whats, saved):
        if not isinstance(entry, dict):
            return "the results of the hidden tests are malformed"
        error = entry.get("error")
        outcomes.append(
            Outcome(
                case, what, received=entry.get("received"), error=error if isinstance(error, (str, type(None))) else "?"
            )
        )
    if len(outcomes) < len(known.cases) and outcomes[-1].error is None:
        return "the results of the hidden tests are incomplete"
    try:
        judge(known.item, outcomes, known.expected)
    except CheckError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a comparison that breaks on odd data is a failure
        return f"the hidden tests could not compare the result ({type(e).__name__})"
    return None


def passed_message(item_id: str, device: torch.device) -> str:
    return f"{item_id}: all hidden cases passed on {device.type}"
