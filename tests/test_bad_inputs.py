"""Broken submissions: each problem costs only its own exercise, with a one-line reason."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from lhy_grader import catalogue
from lhy_grader.runner import grade_submission

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / "solutions" / "regression.py").read_text()

BROKEN = textwrap.dedent('''
    import numpy as np

    def linear_model(x, w, b):
        raise ValueError("shapes do not line up")

    def mse_loss(y_pred, y_true):
        return None

    def mse_gradients(x, y, w, b):
        return np.zeros(len(w) + 1), 0.0

    def gradient_descent(grad_fn, theta0, lr, num_steps):
        while True:
            pass

    def sigmoid(x):
        return np.full(x.shape, np.nan)

    def sigmoid_model(x, W, b, c, b0):
        return np.zeros(x.shape[0], dtype=np.int64)

    class Liar(float):
        def __eq__(self, other):
            return True
        __hash__ = float.__hash__

    class Sneaky(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.broadcast(self, other).shape, bool)

    def relu_model(x, W, b, c, b0):
        return np.zeros(x.shape[0]).view(Sneaky) + Liar(1e9)
''')


@pytest.fixture(scope="module")
def broken(worker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    (folder / "regression.py").write_text(BROKEN)
    result = grade_submission(folder, catalogue.select(["regression"]), worker=worker)
    return {e.name.split(".")[1]: e for e in result.exercises}


def messages(ex) -> str:
    return "\n".join(c.message for c in ex.checks)


def test_raising_function_is_an_error_with_the_exception_and_line(broken):
    ex = broken["linear_model"]
    assert ex.status == "error" and ex.score == 0
    assert "raised ValueError: shapes do not line up (regression.py:5)" in messages(ex)


def test_returning_none_fails_with_the_type(broken):
    ex = broken["mse_loss"]
    assert ex.status == "failed" and "should be a float, got None" in messages(ex)


def test_wrong_shape_fails_with_both_shapes(broken):
    assert "has shape" in messages(broken["mse_gradients"]) and broken["mse_gradients"].score == 0


def test_never_returning_is_a_timeout_and_says_so(broken):
    ex = broken["gradient_descent"]
    assert ex.status == "timeout" and ex.score == 0
    assert "a timeout, not a wrong answer, cost these points" in messages(ex)


def test_nan_output_fails(broken):
    assert "holds nan" in messages(broken["sigmoid"])


def test_wrong_dtype_fails(broken):
    assert "dtype int64, expected a floating dtype" in messages(broken["sigmoid_model"])


def test_subclass_with_lying_eq_is_compared_as_plain_data(broken):
    ex = broken["relu_model"]
    assert ex.status == "failed" and ex.score == 0
    assert "differs from the expected value" in messages(ex)


def test_missing_function_and_module(worker, tmp_path):
    (tmp_path / "regression.py").write_text(REFERENCE.split("def relu_model")[0])
    result = grade_submission(tmp_path, catalogue.select(["regression"]), worker=worker)
    by_name = {e.name: e for e in result.exercises}
    assert by_name["regression.relu_model"].status == "missing"
    assert "has no function relu_model" in by_name["regression.relu_model"].checks[0].message
    assert by_name["regression.sigmoid"].status == "passed"
    empty = tmp_path / "empty"
    empty.mkdir()
    for ex in grade_submission(empty, catalogue.select(["regression"]), worker=worker).exercises:
        assert ex.status == "missing" and "regression.py not found" in ex.checks[0].message


@pytest.mark.parametrize("source,fragment", [
    ("def linear_model(x, w, b:\n    pass\n", "SyntaxError"),
    ("import no_such_package_here\n", "ModuleNotFoundError: No module named 'no_such_package_here'"),
    ("import sys\nsys.exit(0)\n", "SystemExit"),
    ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
])
def test_module_that_fails_to_import(worker, tmp_path, source, fragment):
    (tmp_path / "regression.py").write_text(source)
    for ex in grade_submission(tmp_path, catalogue.select(["regression"]), worker=worker).exercises:
        assert ex.status == "error" and ex.score == 0
        assert "regression.py failed to import" in ex.checks[0].message
        assert fragment in ex.checks[0].message


def test_killing_the_worker_costs_one_exercise_only(worker, tmp_path):
    (tmp_path / "regression.py").write_text(
        REFERENCE.replace('    return b + x @ w  # [N]', '    import os\n    os._exit(3)'))
    by_name = {e.name: e for e in grade_submission(tmp_path, catalogue.select(["regression"]),
                                                   worker=worker).exercises}
    dead = by_name["regression.linear_model"]
    assert dead.status == "error" and "exited with status 3" in messages(dead)
    assert by_name["regression.sigmoid"].status == "passed"


def test_command_line_never_shows_a_traceback(tmp_path):
    (tmp_path / "regression.py").write_text(BROKEN.replace("while True:\n        pass", "return None"))
    proc = subprocess.run(["lhy-grade", "check", "regression", "--path", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "shapes do not line up" in proc.stdout


def test_not_implemented_in_another_module_names_that_file(worker, tmp_path):
    """A transformer block built on an unfinished attention.py points the student there."""
    from tests.variants import make_variant
    folder = make_variant(tmp_path / "sub", "transformer")
    (folder / "attention.py").write_text((ROOT / "exercises" / "attention.py").read_text())
    (result,) = grade_submission(folder, catalogue.select(["transformer.encoder_block"]), worker=worker).exercises
    assert result.status == "not_implemented"
    assert "calls code that still raises NotImplementedError (attention.py line" in result.checks[0].message
    assert "implement that first" in result.checks[0].message


def test_a_reused_worker_forgets_the_previous_submission(worker, tmp_path):
    """Loading another folder must not leave the old folder's modules importable."""
    from tests.variants import make_variant
    stubbed = make_variant(tmp_path / "first", "transformer")
    (stubbed / "attention.py").write_text((ROOT / "exercises" / "attention.py").read_text())
    grade_submission(stubbed, catalogue.select(["transformer.encoder_block"]), worker=worker)
    complete = make_variant(tmp_path / "second", "transformer")
    (result,) = grade_submission(complete, catalogue.select(["transformer.encoder_block"]), worker=worker).exercises
    assert result.status == "passed", [(c.name, c.message) for c in result.checks]
