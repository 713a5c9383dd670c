"""Numbers the chapters' prose quotes from a computation are glued (myst-nb's `glue`) from the
cell that computes them, so prose and outputs cannot drift apart: every glue key a chapter's
markdown uses is stored in that chapter's outputs, once, and formats as the prose asks. The book
is built with warnings as errors (tests/test_book.py), and myst-nb warns of a missing key, so a
missing key also fails the build."""
import re

import nbformat
import pytest
from myst_nb.core.variables import format_plain_text

from tests.conftest import toc_chapters

CHAPTERS = toc_chapters()

# Roles {glue}`key`, {glue:}`key`, {glue:any}`key`, {glue:md}`key`, {glue:text}`key:format`,
# and directives ```{glue} key, ```{glue:figure} key, ... (also with ::: fences).
ROLE = re.compile(r"\{glue(?::(\w*))?\}`([^`]+)`")
DIRECTIVE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\{glue(?::\w*)?\}[ \t]+(\S+)", re.M)
# glue(..., display=False) stores its mimebundle under this prefix (myst_nb.ext.glue)
PREFIX_KEY = "mime_prefix"


def stored_glue(nb) -> list[tuple[str, dict]]:
    """(name, mimebundle without the glue prefix) of every glue output, in notebook order.

    myst-nb stores a glued value as a display_data output whose metadata holds
    {"scrapbook": {"name": ..., "mime_prefix": ...}}."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("scrapbook")
            if out.get("output_type") != "display_data" or not meta:
                continue
            prefix = meta.get(PREFIX_KEY, "")
            data = {k[len(prefix):]: v for k, v in out.get("data", {}).items()
                    if k.startswith(prefix)}
            found.append((meta["name"], data))
    return found


def used_glue(nb) -> list[tuple[str, str | None]]:
    """(key, format spec or None) of every glue role and directive in the markdown cells.

    As in myst-nb, {glue:text} takes the text after the last colon as a format spec."""
    used = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for kind, content in ROLE.findall(cell.source):
            if kind == "text" and ":" in content:
                key, spec = content.rsplit(":", 1)
                used.append((key, spec))
            else:
                used.append((content, "s" if kind == "text" else None))
        used += [(key, None) for key in DIRECTIVE.findall(cell.source)]
    return used


def glue_problems(nb) -> list[str]:
    """What is wrong with the glue of one notebook: keys used but not stored, keys stored
    twice, glue from another document, values that do not format as the prose asks."""
    stored = stored_glue(nb)
    names = [name for name, _ in stored]
    data = dict(stored)
    problems = [f"glue key {name!r} stored {names.count(name)} times"
                for name in sorted(set(names)) if names.count(name) > 1]
    for key, spec in used_glue(nb):
        if "::" in key:
            problems.append(f"{key!r} glues from another document, not from this chapter")
        elif key not in data:
            problems.append(f"glue key {key!r} is used in the text but no cell stores it")
        elif spec is not None:
            if "text/plain" not in data[key]:
                problems.append(f"glue key {key!r} has no text/plain value")
                continue
            try:
                format_plain_text(data[key]["text/plain"], spec)
            except Exception as exc:  # what myst-nb would report as a warning
                problems.append(f"glue key {key!r} does not format as {spec!r}: {exc}")
    return problems


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_glued_number_is_stored_once(path):
    problems = glue_problems(nbformat.read(str(path), as_version=4))
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_glues_the_numbers_its_prose_quotes(path):
    """Each chapter quotes computed numbers (sizes, counts, timings, accuracies), and each does so
    through glue: a chapter whose text uses no glue key has gone back to typed-in numbers."""
    assert used_glue(nbformat.read(str(path), as_version=4)), f"{path.name} glues no number"


def _glued_chapter():
    for path in CHAPTERS:
        nb = nbformat.read(str(path), as_version=4)
        if used_glue(nb):
            return nb
    pytest.skip("no chapter uses glue")


def test_the_check_fails_when_a_glue_cell_is_removed():
    nb = _glued_chapter()
    assert not glue_problems(nb)
    key = used_glue(nb)[0][0]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if o.get("metadata", {}).get("scrapbook", {}).get("name") != key]
    assert f"glue key {key!r} is used in the text but no cell stores it" in glue_problems(nb)


def test_the_check_fails_when_a_glue_key_is_stored_twice():
    nb = _glued_chapter()
    for cell in nb.cells:
        glued = [o for o in cell.get("outputs", []) if o.get("metadata", {}).get("scrapbook")]
        if glued:
            cell.outputs.append(glued[0])
            name = glued[0]["metadata"]["scrapbook"]["name"]
            break
    assert f"glue key {name!r} stored 2 times" in glue_problems(nb)


def test_the_check_reads_roles_directives_and_format_specs():
    md = ("{glue:text}`a:.1f` and {glue:text}`b` and {glue}`c` and {glue:md}`d`\n\n"
          "```{glue:figure} e\n:name: fig\n```\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(md)])
    assert used_glue(nb) == [("a", ".1f"), ("b", "s"), ("c", None), ("d", None), ("e", None)]
    code = nbformat.v4.new_code_cell()
    code.outputs = [nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": "np.float64(1.5)"},
        metadata={"scrapbook": {"name": "a", "mime_prefix": "application/papermill.record/"}})]
    nb.cells.append(code)
    problems = glue_problems(nb)
    # a numpy scalar's repr does not format as a float: glue Python numbers
    assert any("'a' does not format as '.1f'" in p for p in problems), problems
    assert sum("no cell stores it" in p for p in problems) == 4, problems
