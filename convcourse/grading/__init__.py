"""Hidden-test items: random cases, a PyTorch oracle and a comparison, one per graded item.

A hidden test cell in ``solutions/`` is one line::

    run_hidden("ch01.corr2d", corr2d)

The item (here ``ch01.corr2d``, defined in ``convcourse/grading/ch01.py``) makes
the cases on the selected device (``COURSE_DEVICE``), applies the student's object
to each case, and compares with PyTorch's answer.  Grading is split in two halves
so that the comparison can run outside the student's process:

- :func:`collect` runs student code on the cases and records what it returned;
- :func:`judge` computes the oracle and compares, raising a one-line
  :class:`~convcourse.check.CheckError` on the first wrong case.

Cases are seeded per item from ``COURSE_GRADING_SEED`` (the instructor's secret),
so students cannot know the exact hidden inputs in advance.

Under the course's grader, pass or fail is decided outside the student's process: the
kernel only saves what the student's code returned (plain tensors and Python values only)
into ``$COURSE_RESULTS_DIR/<item>.pt``, and the grader's own process compares it with the
oracle's answers (:func:`trusted_verdict`), which it computes once for the whole class
(:class:`Answers`). Run anywhere else (stock nbgrader, a student's own check),
:func:`run_hidden` judges in the kernel. Patching ``torch.allclose``, hiding tracebacks or
returning objects that claim to be equal changes nothing there.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..check import CheckError, call, check_tensor
from ..device import get_device


@dataclass(frozen=True)
class Item:
    """One graded item.

    ``cases(gen, device)`` returns a list of cases (tuples of arguments);
    ``run(obj, case)`` applies the student's object to one case (default:
    ``obj(*case)`` with forbidden operators checked); ``oracle(case)`` is
    PyTorch's answer; ``compare(received, expected, what)`` raises
    :class:`CheckError` when they differ (default: :func:`check_tensor`).
    """
    id: str
    cases: Callable[[torch.Generator, torch.device], list]
    oracle: Callable[[tuple], Any]
    run: Callable[[Any, tuple], Any] | None = None
    compare: Callable[..., None] | None = None
    forbidden: str | None = None
    describe: Callable[[tuple], str] | None = None
    meta: dict = field(default_factory=dict)


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
        raise KeyError(f"no hidden-test item {item_id!r} (looked in convcourse/grading/{chapter}.py)")


def _secret() -> str:
    return os.environ.get("COURSE_GRADING_SEED", "convcourse")


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


def prebuild(device: torch.device) -> None:
    """Make the hidden cases of every chapter's items now (the grading fork server does this
    once, so that no forked kernel builds them again)."""
    for chapter in sorted(p.stem for p in Path(__file__).parent.glob("ch[0-9][0-9].py")):
        importlib.import_module(f"{__name__}.{chapter}")
    for item in list(_REGISTRY.values()):
        hidden_cases(item, device)


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
                raise CheckError(f"parameter {name} is uninitialised (a Lazy layer): give every layer its "
                                 f"input size (nn.Conv2d / nn.Linear, not LazyConv2d / LazyLinear)")
            bound = math.sqrt(6.0 / p[0].numel()) if p.dim() > 1 else 0.1
            p.uniform_(-bound, bound, generator=gen)  # in place: large networks stay cheap
    return module


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def drawn(build: Callable[..., nn.Module], *args, gen: torch.Generator) -> nn.Module:
    """``build(*args)`` on the CPU with its parameters drawn by :func:`randomize`.

    The module is built on the meta device and given empty CPU parameters, so PyTorch's default
    initialisation, which ``randomize`` would overwrite anyway, is never paid for (it is most of
    the cost of building AlexNet). References with buffers (batch norm) are not supported."""
    with torch.device("meta"):
        module = build(*args)
    if any(True for _ in module.buffers()):
        raise ValueError(f"drawn(): {type(module).__name__} has buffers, which would stay uninitialised")
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            if p is not None:
                m._parameters[name] = nn.Parameter(torch.empty(p.shape), requires_grad=p.requires_grad)
    return randomize(module, gen)


def _describe(case) -> str:
    parts = []
    for a in case if isinstance(case, tuple) else (case,):
        if isinstance(a, torch.Tensor):
            parts.append("x".join(map(str, a.shape)) or "scalar")
        elif isinstance(a, (int, float, str, tuple)) and len(repr(a)) <= 24:
            parts.append(repr(a))
    return ", ".join(parts)


def _clone(case):
    return tuple(a.clone() if isinstance(a, torch.Tensor) else copy.deepcopy(a) for a in case)


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
    outcomes = []
    for i, case in enumerate(cases, 1):
        what = _what(item, case, i, len(cases))
        try:
            if item.run is None:
                received = call(obj, *_clone(case), forbidden=item.forbidden)
            else:
                received = item.run(obj, _clone(case))
            outcomes.append(Outcome(case, what, received=received))
        except CheckError as e:
            outcomes.append(Outcome(case, what, error=str(e)))
            break
        except Exception as e:  # the student's code raised: report it in one line
            outcomes.append(Outcome(case, what, error=f"{what}: your code raised "
                                                      f"{type(e).__name__}: {e}".splitlines()[0]))
            break
    return outcomes


def judge(item: Item, outcomes: list[Outcome], expected: Callable[[int], Any] | None = None) -> None:
    """Compare each outcome with the oracle (``expected(i)`` for the i-th case, if given);
    raise :class:`CheckError` on the first failure."""
    compare = item.compare or check_tensor
    for i, o in enumerate(outcomes):
        if o.error is not None:
            raise CheckError(o.error)
        compare(o.received, expected(i) if expected else item.oracle(o.case), o.what, hidden=True)


RESULTS_ENV = "COURSE_RESULTS_DIR"


def _export(value):
    """What the student's code returned, as plain data that ``torch.load(weights_only=True)`` accepts."""
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            return f"<a tensor subclass {type(value).__name__}>"
        return value.detach().clone()
    if type(value) in (int, float, bool, str) or value is None:
        return value
    if type(value) in (tuple, list):
        return type(value)(_export(v) for v in value)
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _export(v) for k, v in value.items()}
    return f"<an object of type {type(value).__name__}>"


def _save(item_id: str, outcomes: list[Outcome], folder: str) -> None:
    data = [{"received": _export(o.received), "error": o.error} for o in outcomes]
    torch.save(data, os.path.join(folder, f"{item_id}.pt"))


class Answers:
    """The hidden cases of one item and PyTorch's answers to them, in the grader's process.

    They depend only on the item, the instructor's secret and the device, never on the student,
    so one process grading a class builds the cases once and computes each answer on first need
    (stock nbgrader recomputes them in every student's kernel). Nothing a student writes runs
    in this process, so nothing can change them between students."""

    def __init__(self, item: Item, device: torch.device):
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
    key = (item_id, str(device), os.environ.get("COURSE_GRADING_SEED", "convcourse"))
    if key not in _ANSWERS:
        _ANSWERS[key] = Answers(get_item(item_id), device)
    return _ANSWERS[key]


def trusted_verdict(item_id: str, path: str, device: torch.device) -> str | None:
    """In the grader's own process: None if the saved results pass, else the one-line reason."""
    if not os.path.exists(path):
        return "the hidden tests of this item did not report their results"
    try:
        saved = torch.load(path, weights_only=True, map_location=device)
    except Exception:  # noqa: BLE001 - anything unreadable is a failure
        return "the results of the hidden tests could not be read"
    known = answers(item_id, device)
    if not isinstance(saved, list) or not saved or len(saved) > len(known.cases):
        return "the results of the hidden tests are incomplete"
    outcomes = []
    for case, what, entry in zip(known.cases, known.whats, saved):
        error = entry.get("error") if isinstance(entry, dict) else "malformed result"
        outcomes.append(Outcome(case, what, received=entry.get("received") if isinstance(entry, dict)
                                else None, error=error if isinstance(error, (str, type(None))) else "?"))
    if len(outcomes) < len(known.cases) and outcomes[-1].error is None:
        return "the results of the hidden tests are incomplete"
    try:
        judge(known.item, outcomes, known.expected)
    except CheckError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a comparison that breaks on odd data is a failure
        return f"the hidden tests could not compare the result ({type(e).__name__})"
    return None


def run_hidden(item_id: str, obj) -> None:
    """The whole hidden test of one item, as called from a hidden test cell."""
    item = get_item(item_id)
    device = get_device()
    outcomes = collect(item, obj, device)
    folder = os.environ.get(RESULTS_ENV)
    if folder:  # the course's grader judges the saved results in its own process
        _save(item_id, outcomes, folder)
        print(f"{item_id}: {len(outcomes)} hidden case(s) ran on {device.type}; the grader judges the results")
        return
    judge(item, outcomes)
    print(passed_message(item_id, device))


def passed_message(item_id: str, device: torch.device) -> str:
    return f"{item_id}: all hidden cases passed on {device.type}"
