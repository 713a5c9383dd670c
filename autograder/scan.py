"""Static checks of the code a student wrote, in the grader (nothing here runs that code).

A run-time check inside the student's process can be switched off by code in that process;
a look at the code itself cannot. From the syntax trees of the student's cells:

1. **The code each graded item uses**: from the expression its test cell passes to
   ``run_hidden``, the names are followed to their definitions in the student's cells
   (functions, classes, assignments), transitively, together with every top-level statement
   that patches an imported module or class. In that code, a routine of the item's forbidden
   family (``F.conv2d``, ``nn.MaxPool2d``, SciPy's ``correlate2d``, ...) fails the item, and so
   does reflection that could defeat a run-time check (computed ``getattr``, ``vars``,
   ``__dict__``, frames, ``gc``, ``ctypes``, ``exec``/``eval``, dispatch-mode internals,
   ``torch._C``, modules no exercise needs), which is also reported as suspicious.
2. **Anything of that kind anywhere else** in the student's cells is reported as suspicious,
   with cell and line, for the instructor. Most of it costs no points by itself (an ``import
   os``, a patched ``torch.allclose``: the grader's verdict does not depend on them), but
   constructs whose only use in an exercise is to tamper with grading itself (``sys.modules``,
   ``builtins``, ``ctypes``, ``gc``, frames, code objects, ``exec``/``eval``, the dispatch
   machinery, the grader's own modules) fail **every** item of the notebook: from the moment
   they run, nothing the kernel sends back can be trusted.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from convcourse.check import COURSE_ANSWERS, FORBIDDEN_FAMILIES, OUTSIDE_DISPATCHER

from .judge import Plan, split_cells

FAMILY_NAMES = {
    "convolution": FORBIDDEN_FAMILIES["convolution"]
    | {
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "LazyConv1d",
        "LazyConv2d",
        "LazyConv3d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
        "LazyConvTranspose2d",
        "conv_tbc",
        "conv1d_input",
        "conv1d_weight",
        "conv2d_input",
        "conv2d_weight",
        "conv3d_input",
        "conv3d_weight",
    }
    | OUTSIDE_DISPATCHER["convolution"],  # NumPy, lists, SciPy: out of the dispatcher's sight
    "pooling": FORBIDDEN_FAMILIES["pooling"]
    | {
        "MaxPool1d",
        "MaxPool2d",
        "MaxPool3d",
        "AvgPool1d",
        "AvgPool2d",
        "AvgPool3d",
        "AdaptiveAvgPool2d",
        "AdaptiveMaxPool2d",
        "LPPool2d",
        "FractionalMaxPool2d",
        "adaptive_avg_pool1d",
        "adaptive_max_pool1d",
        "maximum_filter",
        "uniform_filter",
    },
    "upsampling": FORBIDDEN_FAMILIES["upsampling"]
    | {
        "interpolate",
        "upsample",
        "Upsample",
        "UpsamplingNearest2d",
        "UpsamplingBilinear2d",
        "grid_sample",
        "affine_grid",
    },
    "mirror_padding": FORBIDDEN_FAMILIES["mirror_padding"] | {"ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d"},
    "maximum": FORBIDDEN_FAMILIES["pooling"]
    | {"amax", "maximum", "argmax", "topk", "cummax", "aminmax", "fmax", "masked_fill", "masked_select"}
    | {"MaxPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"},
    # a count derived from a formula: building a layer or measuring one is the shortcut
    "derivation": {
        "Conv2d",
        "ConvTranspose2d",
        "LazyConv2d",
        "Linear",
        "LazyLinear",
        "MaxPool2d",
        "AvgPool2d",
        "Sequential",
        "FlopCounterMode",
        "flop_counter",
        "get_total_flops",
        "numel",
        "parameters",
        "named_parameters",
        "conv2d",
        "conv_transpose2d",
        "max_pool2d",
        "avg_pool2d",
        "zeros",
        "ones",
        "empty",
        "rand",
        "randn",
        "tensor",
    },
    # FLOPs computed from shapes: PyTorch's counter (or its formula helpers) is the shortcut
    "flop_counting": {"FlopCounterMode", "flop_counter", "get_total_flops", "get_flop_counts", "conv_flop_count"},
}
REFLECTIVE_CALLS = {"vars", "globals", "locals", "breakpoint", "get_ipython", "setattr", "delattr"}
# Names whose mere use is tampering: code from strings, and attribute access by computed names.
TAMPERING_NAMES = {"eval", "exec", "compile", "__import__", "__builtins__", "attrgetter", "methodcaller"}
REFLECTIVE_ATTRS = {
    "f_back",
    "f_globals",
    "f_locals",
    "f_code",
    "tb_frame",
    "gi_frame",
    "cr_frame",
    "meta_path",
    "settrace",
    "setprofile",
    "addaudithook",
    "__code__",
    "__globals__",
    "__closure__",
    "__builtins__",
    "__subclasses__",
    "__dict__",
    "_getframe",
    "_current_frames",
    "attrgetter",
    "methodcaller",
}
GRADING_ROOTS = ("torch", "convcourse", "autograder", "sys", "builtins", "IPython", "ipykernel")
TAMPERING_BASES = {"TorchDispatchMode", "TorchFunctionMode", "BaseTorchFunctionMode"}
DUNDERS_ALLOWED = {
    "__init__",
    "__name__",
    "__class__",
    "__len__",
    "__call__",
    "__doc__",
    "__module__",
    "__qualname__",
    "__repr__",
    "__str__",
    "__getitem__",
    "__iter__",
    "__next__",
}
# Modules no exercise needs: importing one is reported (and fails an item whose code does it).
MODULES_FLAGGED = (
    "sys",
    "os",
    "subprocess",
    "signal",
    "threading",
    "_thread",
    "concurrent",
    "asyncio",
    "multiprocessing",
    "socket",
    "pty",
    "resource",
    "traceback",
    "atexit",
    "faulthandler",
    "shelve",
    "scipy",
    "IPython",
    "ipykernel",
    "jupyter_client",
    "zmq",
    "base64",
    "codecs",
    # the course's answers (its networks, references, accuracy loop and layer tables): an
    # answer that imports one did not write it (convcourse.check.COURSE_ANSWERS, the same list)
    *COURSE_ANSWERS,
)
# Modules whose only use here is to tamper with grading: importing one fails every item.
MODULES_TAMPERING = (
    "ctypes",
    "gc",
    "inspect",
    "importlib",
    "builtins",
    "marshal",
    "pickle",
    "dill",
    "cloudpickle",
    "types",
    "code",
    "codeop",
    "dis",
    "cffi",
    "mmap",
    "copyreg",
    "autograder",
    "convcourse.grading",
    "convcourse.hidden",
    "torch._C",
    "torch.library",
    "torch.utils._python_dispatch",
    "torch.overrides",
    "torch._dynamo",
    "torch.fx",
    "torch._ops",
    "torch.ops",
    "torch.utils._mode_utils",
)


@dataclass(frozen=True)
class Finding:
    cell: str
    line: int
    what: str
    forbidden: bool = False  # a routine of a forbidden family (else: reflection)
    tampering: bool = False  # reflection whose only use is to tamper with grading

    @property
    def text(self) -> str:
        return f"{self.cell} line {self.line}: {self.what}"


@dataclass
class Findings:
    blocked: dict[str, str] = field(default_factory=dict)  # item -> reason it scores 0
    suspicious: list[Finding] = field(default_factory=list)


def _in(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def _flagged_module(name: str) -> bool:
    return _in(name, MODULES_FLAGGED) or _in(name, MODULES_TAMPERING)


class _Student:
    """The student's cells, parsed: top-level statements with their cell's label."""

    def __init__(self, cells: list[tuple[str, str]], course_cells: list[str]):
        self.statements = [(label, s) for label, src in cells for s in _parse(src)]
        imports = [s for src in course_cells for s in _parse(src)] + [s for _, s in self.statements]
        self.modules = {
            a.asname or a.name.split(".")[0]: _module(s, a)
            for s in imports
            if isinstance(s, (ast.Import, ast.ImportFrom))
            for a in s.names
        }
        self.imported = set(self.modules)
        self.defs: dict[str, list] = {}
        self.patches = []
        for label, s in self.statements:
            for name in _bound(s):
                self.defs.setdefault(name, []).append((label, s))
            if self._patches(s):
                self.patches.append((label, s))
        self.own = set(self.defs)

    def _patches(self, s) -> bool:
        """A top-level statement that changes an imported module or class."""
        targets = _targets(s)
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and _call_name(s.value) in ("setattr", "delattr"):
            return True
        return any(isinstance(t, (ast.Attribute, ast.Subscript)) and _root(t) in self.imported for t in targets)

    def closure(self, expression: str, given: AbstractSet[str] = frozenset()) -> list:
        """Every (label, statement) the object ``expression`` can reach, with the patches; the
        names in ``given`` stand for the course's references while the item runs, not followed."""
        try:
            todo = list(_loads(ast.parse(expression, mode="eval")))
        except SyntaxError:
            todo = []
        out, seen = list(self.patches), set()
        for _, s in self.patches:  # what a patch puts in place, not the module it patches
            todo += _loads(s) - {_root(t) for t in _targets(s)}
        while todo:
            name = todo.pop()
            if name in seen or name in given:
                continue
            seen.add(name)
            for label, s in self.defs.get(name, ()):
                out.append((label, s))
                todo += _loads(s)
        return out

    def violations(self, label: str, node, family: str | None) -> list[Finding]:
        names = FAMILY_NAMES.get(family or "", set())
        found = []
        called = {id(c.func) for c in ast.walk(node) if isinstance(c, ast.Call)}
        for n in ast.walk(node):
            what = _reflection(n, self.imported) or _as_value(n, called)
            if what:
                found.append(Finding(label, getattr(n, "lineno", 0), what, tampering=_tampering(n, what, self.modules)))
            elif names and _uses(n, names, self.own):
                found.append(
                    Finding(label, getattr(n, "lineno", 0), f"uses {_uses(n, names, self.own)}", forbidden=True)
                )
        return found


@functools.lru_cache(maxsize=1)
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _parse(source: str) -> tuple:
    """The top-level statements of a cell as IPython runs it (magics turned into Python). Cells
    of up to 64 kB are cached: the course's own cells, and many answers, are the same text in
    every notebook of a class; nothing here changes a tree once parsed."""
    return _parse_cached(source) if len(source) <= 1 << 16 else _parse_now(source)


@functools.lru_cache(maxsize=4096)
def _parse_cached(source: str) -> tuple:
    return _parse_now(source)


def _parse_now(source: str) -> tuple:
    try:
        return tuple(ast.parse(_transformer().transform_cell(source)).body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()  # the kernel cannot run it either


def _targets(s) -> list:
    if isinstance(s, ast.Assign):
        return list(s.targets)
    if isinstance(s, (ast.AugAssign, ast.AnnAssign)):
        return [s.target]
    if isinstance(s, ast.Delete):
        return list(s.targets)
    return []


def _bound(s) -> list[str]:
    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [s.name]
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        return [a.asname or a.name.split(".")[0] for a in s.names]
    return [n.id for t in _targets(s) for n in ast.walk(t) if isinstance(n, ast.Name)]


def _loads(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _root(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _call_name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else None


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _module(s, alias) -> str:
    """The module (or module attribute) an import binds to its name."""
    return alias.name if isinstance(s, ast.Import) else f"{s.module or ''}.{alias.name}"


def _tampering(n, what: str, modules: dict[str, str]) -> bool:
    """Is the reflection ``what`` found at node ``n`` of the kind that only tampers with grading?
    (A private of torch, of the course or of ``sys`` is; ``os._exit`` is merely a crash.)"""
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        return _in(what.removeprefix("imports "), MODULES_TAMPERING)
    if isinstance(n, ast.ClassDef) or (isinstance(n, ast.Name) and what.startswith("uses")):
        return n.id in TAMPERING_NAMES | {"getattr"} if isinstance(n, ast.Name) else True
    if isinstance(n, ast.Attribute):
        root = modules.get(_root(n) or "", _root(n) or "")
        return (
            n.attr in REFLECTIVE_ATTRS
            or what.startswith("reads sys.modules")
            or (what.startswith("reaches") and _in(root.split(".")[0], GRADING_ROOTS))
        )
    return False


def _as_value(n, called: set[int]) -> str | None:
    """``getattr`` (or another reflective builtin) passed around as a value, e.g. to
    ``functools.reduce``: a way to reach attributes by computed names."""
    if (
        isinstance(n, ast.Name)
        and isinstance(n.ctx, ast.Load)
        and id(n) not in called
        and n.id in REFLECTIVE_CALLS | {"getattr"}
    ):
        return f"uses {n.id} as a value"
    return None


def _reflection(n, imported: set[str]) -> str | None:
    """What makes node ``n`` reflection that grading does not allow, or None."""
    if isinstance(n, ast.Name) and n.id in TAMPERING_NAMES:
        return f"uses {n.id}"
    if isinstance(n, ast.ClassDef) and any(_dotted(b).split(".")[-1] in TAMPERING_BASES for b in n.bases):
        return f"defines a dispatch mode ({n.name})"
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        mods = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
        bad = [m for m in mods if _flagged_module(m)]
        if isinstance(n, ast.ImportFrom) and not bad:
            bad = [
                f"{n.module}.{a.name}"
                for a in n.names
                if _flagged_module(f"{n.module}.{a.name}") or a.name.startswith("_")
            ]
        return f"imports {bad[0]}" if bad else None
    if isinstance(n, ast.Call) and _call_name(n) in REFLECTIVE_CALLS | TAMPERING_NAMES:
        return f"calls {_call_name(n)}()"
    if isinstance(n, ast.Call) and _call_name(n) == "getattr" and len(n.args) >= 2:
        name = n.args[1]
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("_")):
            return "calls getattr() with a computed or private name"
    if isinstance(n, ast.Attribute):
        return _reflective_attribute(n, imported)
    return None


def _reflective_attribute(n: ast.Attribute, imported: set[str]) -> str | None:
    attr, root = n.attr, _root(n)
    if attr in REFLECTIVE_ATTRS:
        return f"reads .{attr}"
    if attr.startswith("__") and attr.endswith("__") and attr not in DUNDERS_ALLOWED:
        return f"reads .{attr}"
    if attr.startswith("_") and root in imported:
        return f"reaches the private {_dotted(n) or attr}"
    if root == "torch" and _dotted(n).startswith(("torch.ops", "torch.library", "torch.overrides")):
        return f"reaches {_dotted(n)}"
    if root == "sys" and attr == "modules":
        return "reads sys.modules"
    return None


def _uses(n, names: AbstractSet[str], own: set[str]) -> str | None:
    """The forbidden routine node ``n`` names, if any (the student's own names excepted)."""
    if isinstance(n, ast.Attribute) and n.attr in names and _root(n) != "self":
        return _dotted(n) or n.attr
    if isinstance(n, ast.Name) and n.id in names and n.id not in own:
        return n.id
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        hit = [a.name for a in n.names if a.name.split(".")[-1] in names]
        return hit[0] if hit else None
    return None


def scan(nb, plan: Plan) -> Findings:
    """The static findings on an executed or submitted notebook (see the module docstring)."""
    from convcourse.grading import get_item

    student = _Student(*split_cells(nb, plan))
    findings = Findings()
    for label, s in student.statements:
        findings.suspicious += [f for f in student.violations(label, s, None) if not f.forbidden]
    tampering = next((f for f in findings.suspicious if f.tampering), None)
    for calls in plan.calls.values():
        for call in calls:
            if tampering is not None:
                findings.blocked[call.item] = (
                    f"the notebook tampers with grading ({tampering.cell}, line {tampering.line}: "
                    f"{tampering.what}); every item scores 0 until your instructor reviews it"
                )
                continue
            item = get_item(call.item)
            reached = student.closure(call.expression, set(item.given))
            hits = [f for label, s in reached for f in student.violations(label, s, item.forbidden)]
            if hits:
                hit = next((f for f in hits if f.forbidden), hits[0])
                findings.blocked[call.item] = (
                    f"{call.expression} {hit.what} ({hit.cell}, line {hit.line}), which this exercise forbids"
                    if hit.forbidden
                    else f"{call.expression} {hit.what} ({hit.cell}, line {hit.line}): answers may not use "
                    f"reflection or grading internals; your instructor will review it"
                )
    findings.suspicious = list(dict.fromkeys(findings.suspicious))
    return findings
