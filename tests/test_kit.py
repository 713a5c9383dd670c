"""The student kit: the wheel the book offers holds what the exercise notebooks import and nothing
of the grader, installs where only PyTorch is, and runs a downloaded notebook's visible tests there."""

import ast
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from autograder import kit
from autograder.config import EXERCISES
from autograder.synthetic import submission
from tests.conftest import assignments

# run outside the repository, with no inherited Python path: only the fresh environment counts
_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def test_the_wheel_holds_the_student_modules_and_nothing_of_the_grader(tmp_path):
    wheel = kit.build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        text = {n: zf.read(n).decode() for n in names}
    info = f"{kit.DIST}-{kit.VERSION}.dist-info"
    assert sorted(names) == sorted(
        [f"convcourse/{m}" for m in kit.MODULES] + [f"{info}/{f}" for f in ("METADATA", "WHEEL", "top_level.txt", "RECORD")]
    )
    joined = "\n".join(text.values())
    for leak in ("run_hidden", "BEGIN SOLUTION", "HIDDEN TESTS"):
        assert leak not in joined, leak
    imported = {name for n in names if n.endswith(".py") for name in _imports(text[n])}
    assert imported <= set(sys.stdlib_module_names) | {"torch", "convcourse"} | {m[:-3] for m in kit.MODULES}, imported
    requires = [line for line in text[f"{info}/METADATA"].splitlines() if line.startswith("Requires-Dist")]
    assert requires == ["Requires-Dist: torch"]
    assert kit.build_wheel(tmp_path / "again").read_bytes() == wheel.read_bytes(), "the build is not reproducible"


def _imports(source: str) -> set[str]:
    """Top-level names of the modules ``source`` imports (relative imports by their module)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0] if node.level == 0 else (node.module or "convcourse"))
    return names


def test_every_exercise_notebook_starts_with_the_kit_setup():
    for assignment in assignments():
        first = nbformat.read(str(EXERCISES / assignment / f"{assignment}.ipynb"), as_version=4).cells[0]
        assert first.cell_type == "markdown" and first.source == kit.setup_text(), assignment
        for line in (f"%pip install {kit.WHEEL}", f"python -m pip install {kit.WHEEL}", "Colab", kit.CPU_TORCH):
            assert line in first.source, (assignment, line)


def test_the_book_offers_the_kit_it_built(book, tmp_path):
    built = book / "kit" / kit.WHEEL
    assert built.read_bytes() == kit.build_wheel(tmp_path).read_bytes()
    home = (book / "intro.html").read_text()
    words = " ".join(re.sub(r"<[^>]+>", "", home).split())
    assert f'href="kit/{kit.WHEEL}"' in home and f"python -m pip install {kit.WHEEL}" in words
    page = (book / "chapters" / "01_cross_correlation.html").read_text()
    assert f'href="../kit/{kit.WHEEL}"' in page


def _torch_alone(site: Path, into: Path) -> None:
    """Links to PyTorch and the distributions it requires (on this platform, with the extras it
    asks for, such as ``cuda-toolkit[cudart]``), and nothing else."""
    env, todo, seen = default_environment(), [("torch", frozenset())], set()
    while todo:
        name, extras = todo.pop()
        dist = md.distribution(name)
        key = (dist.metadata["Name"].lower(), extras)
        if key in seen:
            continue
        seen.add(key)
        for entry in {Path(str(f)).parts[0] for f in dist.files or []} - {".."}:
            if (site / entry).exists() and not (into / entry).exists():
                (into / entry).symlink_to(site / entry)
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in {"", *extras}):
                todo.append((req.name, frozenset(req.extras)))


@pytest.fixture(scope="module")
def student_python(book, tmp_path_factory) -> Path:
    """The python of a fresh virtual environment with PyTorch only, then the book's wheel installed."""
    root = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], check=True)
    python = root / "env" / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip())
    (root / "torch").mkdir()
    _torch_alone(Path(md.distribution("torch").locate_file("")), root / "torch")
    (site / "torch-only.pth").write_text(str(root / "torch") + "\n")
    wheel = book / "kit" / kit.WHEEL
    # this environment's pip, told to install into the fresh one (which has neither pip nor setuptools)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index", str(wheel)], check=True)
    return python


def _script(book: Path, assignment: str, blank: bool) -> str:
    """The code cells of the notebook the book offers, as one script, with each answer cell
    filled with the solution's code as a student who solved it would (left as is: ``blank``)."""
    assert _downloaded(book, assignment).read_bytes() == (EXERCISES / assignment / f"{assignment}.ipynb").read_bytes()
    nb = submission(assignment, blank=blank)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _downloaded(book: Path, assignment: str) -> Path:
    found = [p for p in (book / "_downloads").rglob(f"{assignment}.ipynb")]
    assert len(found) == 1, f"the book offers {len(found)} copies of {assignment}.ipynb"
    return found[0]


def test_without_torch_or_grader_packages_the_student_env_is_bare(student_python, tmp_path):
    probe = "import importlib.util as u, json; print(json.dumps({m: bool(u.find_spec(m)) for m in %r}))"
    modules = ["torch", "convcourse", "convcourse.check", "convcourse.grading", "autograder", "nbgrader", "pandas"]
    out = subprocess.check_output([student_python, "-c", probe % modules], text=True, cwd=tmp_path, env=_CLEAN)
    assert json.loads(out) == {m: m in ("torch", "convcourse", "convcourse.check") for m in modules}


@pytest.mark.parametrize("assignment", assignments())
def test_a_solved_download_passes_its_visible_tests_with_the_kit(book, student_python, assignment, tmp_path):
    script = tmp_path / "solved.py"
    script.write_text(_script(book, assignment, blank=False))
    run = subprocess.run([student_python, str(script)], capture_output=True, text=True, cwd=tmp_path, env=_CLEAN, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_blank_download_fails_its_first_visible_test_with_the_kits_message(book, student_python, tmp_path):
    script = tmp_path / "blank.py"
    script.write_text(_script(book, "ch01", blank=True))
    run = subprocess.run([student_python, str(script)], capture_output=True, text=True, cwd=tmp_path, env=_CLEAN, timeout=600)
    assert run.returncode == 1
    assert "CheckError: corr2d is still the placeholder" in run.stderr, run.stderr[-2000:]


def test_the_readme_and_home_page_name_the_wheel_that_is_built():
    for doc in ("README.md", "intro.md"):
        text = (EXERCISES.parent / doc).read_text()
        assert f"python -m pip install {kit.WHEEL}" in " ".join(text.split()), doc
        assert kit.CPU_TORCH in " ".join(text.split()), doc
