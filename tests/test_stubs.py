"""exercises/ is generated from solutions/ and stays in sync; stubs score zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from lhy_grader import catalogue
from lhy_grader.runner import grade_submission
from lhy_grader.stubs import generate, stub_source

ROOT = Path(__file__).resolve().parents[1]


def test_exercises_are_in_sync_with_solutions():
    assert generate(ROOT / "solutions", ROOT / "exercises", write=False) == [], \
        "exercises/ drifted from solutions/: run `lhy-grade stubs`"


def test_every_graded_module_has_a_solution_and_a_stub():
    for module in catalogue.available_modules():
        assert (ROOT / "solutions" / f"{module}.py").is_file()
        assert (ROOT / "exercises" / f"{module}.py").is_file()


def test_stub_keeps_signature_and_docstring_and_drops_the_body():
    solution = '''def f(x):
    """Double x."""
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION
'''
    stub = stub_source(solution)
    assert 'def f(x):\n    """Double x."""\n' in stub
    assert "raise NotImplementedError" in stub and "2 * x" not in stub


def test_unbalanced_markers_are_rejected():
    with pytest.raises(ValueError):
        stub_source("def f():\n    ### BEGIN SOLUTION\n    return 1\n")


@pytest.mark.parametrize("module", catalogue.available_modules())
def test_stubs_score_zero_as_not_implemented(worker, module):
    result = grade_submission(ROOT / "exercises", catalogue.select([module]), worker=worker)
    for ex in result.exercises:
        assert ex.score == 0.0 and ex.status == "not_implemented", (ex.name, ex.status)
        assert all(not c.passed for c in ex.checks)
