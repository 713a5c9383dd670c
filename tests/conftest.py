"""Shared fixtures: the repository's paths, the chapters in the table of contents, a grader,
the built book."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "fashion-mnist-sample"

warnings.filterwarnings("ignore", message=".*not in session.*")

# In CI (CI=true) a test whose system packages are missing fails; elsewhere it is skipped.
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require(missing: list[str], how: str = "run .ci/system-deps.sh") -> None:
    """Skip (fail in CI) when something the test needs from the system is missing."""
    if missing:
        why = f"{', '.join(missing)} not installed ({how})"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)


def toc_chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def assignments() -> list[str]:
    return sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())


@pytest.fixture(autouse=True)
def _cpu_only(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", os.environ.get("COURSE_DEVICE", "cpu"))


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> Path:
    """The HTML book, built once per session into a temporary folder (warnings are errors)."""
    return build_book(tmp_path_factory.mktemp("book"))


def build_book(out: Path, config: Path | None = None) -> Path:
    """Build the HTML book into ``out`` (with another _config.yml if given); its html folder."""
    jb = Path(sys.executable).parent / "jupyter-book"
    extra = ["--config", str(config)] if config else []
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out),
                           "--warningiserror", "--nitpick", "--keep-going", *extra],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out / "_build" / "html"
