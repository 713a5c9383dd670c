"""Fast checks of every exercise notebook, in this process (no kernel, no nbgrader).

The end-to-end tests in test_grading.py repeat the same through real autograde.
"""
import importlib

import pytest

from autograder.config import EXERCISES
from tests.conftest import assignments
from tests.nbrun import run, solution_path


@pytest.mark.parametrize("assignment", assignments())
def test_solution_passes_every_test(assignment):
    failing = {k: v for k, v in run(solution_path(assignment)).items() if v}
    assert not failing


@pytest.mark.parametrize("assignment", assignments())
def test_blank_release_fails_every_test_with_a_placeholder_message(assignment):
    results = run(EXERCISES / assignment / f"{assignment}.ipynb")
    assert results and all(results.values()), [k for k, v in results.items() if not v]
    assert any("placeholder" in v for v in results.values())


@pytest.mark.parametrize("assignment", assignments())
def test_wrong_answers_fail_exactly_their_tests_with_one_line_messages(assignment):
    spec = importlib.import_module(f"tests.chapters.{assignment}")
    assert spec.WRONG, f"{assignment} lists no realistic wrong answers"
    for name, replace, failing in spec.WRONG + getattr(spec, "SHORTCUTS", []):
        results = run(solution_path(assignment), replace)
        assert {k for k, v in results.items() if v} == set(failing), name
        for k in failing:
            message = results[k]
            assert "\n" not in message and message.strip(), (name, k, message)
            assert not message.startswith("AssertionError: \n"), (name, k)


@pytest.mark.parametrize("assignment", assignments())
def test_visible_tests_catch_every_shortcut_with_the_rule(assignment):
    """A shortcut fails its visible test already (the test cells without their hidden part), with
    the one-line rule the hidden test applies, so the student learns it before submitting."""
    spec = importlib.import_module(f"tests.chapters.{assignment}")
    for name, replace, failing in getattr(spec, "SHORTCUTS", []):
        results = run(solution_path(assignment), replace, visible_only=True)
        assert {k for k, v in results.items() if v} == set(failing), name
        for k in failing:
            assert "forbids" in results[k] and "\n" not in results[k], (name, k, results[k])
