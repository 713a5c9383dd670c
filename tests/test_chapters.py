"""Every chapter in the table of contents runs top to bottom in a fresh kernel (smoke mode),
its stored outputs hold no errors, and its worked examples show the stated values."""
import importlib
import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, assignments, toc_chapters

CHAPTERS = toc_chapters()


def _facts():
    facts = []
    for a in assignments():
        facts += getattr(importlib.import_module(f"tests.chapters.{a}"), "FACTS", [])
    return facts


def _texts(nb) -> str:
    """All printed text and plain-text results. A line printed at once can reach the notebook in
    two stream messages (the kernel flushes on a timer), so stream texts are joined as they came."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            parts.append(text if isinstance(text, str) else "".join(text))
            plain = out.get("data", {}).get("text/plain", "")
            if plain:
                parts.append("\n" + (plain if isinstance(plain, str) else "".join(plain)) + "\n")
        parts.append("\n")
    return "".join(parts)


def test_toc_lists_every_chapter_file():
    on_disk = sorted((ROOT / "chapters").glob("*.ipynb"))
    assert on_disk and sorted(CHAPTERS) == on_disk


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_stored_outputs_are_clean_and_show_the_worked_examples(path):
    nb = nbformat.read(str(path), as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} stores error outputs"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code if c.source.strip()), f"{path.name} is not fully executed"
    text = _texts(nb)
    missing = [fact for stem, fact in _facts() if stem == path.stem and fact not in text]
    assert not missing, f"{path.name} does not show: {missing}"
    assert "{download}`" in "".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_in_smoke_mode(path, monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    text = _texts(nb)
    missing = [fact for stem, fact in _facts() if stem == path.stem and fact not in text]
    assert not missing, f"{path.name} in smoke mode does not show: {missing}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_sources_hold_no_control_characters(path):
    """A stray escape in an edit (a backspace from '\\b', a tab from '\\t') breaks the typeset maths."""
    nb = nbformat.read(str(path), as_version=4)
    bad = [i for i, c in enumerate(nb.cells) if any(ch < " " and ch not in "\n" for ch in c.source)]
    assert not bad, f"{path.name}: control characters in cells {bad}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_code_lines_fit_the_text_column(path):
    """At most 88 characters per line of code, so that no code block scrolls sideways at 1280 px
    (tests/test_browser.py measures the rendered page in CI; this catches it without a browser)."""
    nb = nbformat.read(str(path), as_version=4)
    long = [
        f"cell {i}: {len(line)} characters: {line.strip()[:60]}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > 88
    ]
    assert not long, f"{path.name}: " + "; ".join(long)
