"""regression.py: the reference passes; realistic mistakes are caught with the right message."""

from __future__ import annotations

import pytest

from tests.variants import assert_caught, assert_full_marks, grade_variant

EXERCISES = ["linear_model", "mse_loss", "mse_gradients", "gradient_descent", "sigmoid",
             "sigmoid_model", "relu_model"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"regression.{function}"))


BUGS = [
    # (exercise, replacements, failing check, hint)
    ("linear_model", {"return b + x @ w  # [N]": "return x @ w"}, "matches b + x·w", "bias b is missing"),
    ("linear_model", {"return b + x @ w  # [N]": "return x @ w - b"}, "matches b + x·w", "subtracted"),
    ("linear_model", {"return b + x @ w  # [N]": "x *= 1.0\n    x[0, 0] = 7.0\n    return b + x @ w"},
     "leaves its inputs unchanged", "in-place"),
    ("mse_loss", {"np.mean((y_pred - y_true) ** 2)": "np.sum((y_pred - y_true) ** 2)"}, "matches mean", "sum of squares"),
    ("mse_loss", {"np.mean((y_pred - y_true) ** 2)": "np.sqrt(np.mean((y_pred - y_true) ** 2))"}, "matches mean", "RMSE"),
    ("mse_loss", {"np.mean((y_pred - y_true) ** 2)": "np.mean(np.abs(y_pred - y_true))"}, "matches mean", "not squared"),
    ("mse_loss", {"return float(np.mean((y_pred - y_true) ** 2))": "return np.mean((y_pred - y_true) ** 2, keepdims=True)"},
     "matches mean", None),
    ("mse_gradients", {"dw = 2.0 / n * (x.T @ residual)": "dw = 1.0 / n * (x.T @ residual)"}, "analytic gradient", "factor 2"),
    ("mse_gradients", {"dw = 2.0 / n * (x.T @ residual)": "dw = 2.0 * (x.T @ residual)"}, "analytic gradient", "not divided by N"),
    ("mse_gradients", {"residual = linear_model(x, w, b) - y": "residual = y - linear_model(x, w, b)"},
     "analytic gradient", "sign is flipped"),
    ("gradient_descent", {"thetas[-1] - lr * np.asarray": "thetas[-1] + lr * np.asarray"}, "trajectory", "uphill"),
    ("gradient_descent", {"return np.stack(thetas)  # [num_steps + 1, P]": "return np.stack(thetas)[1:]"},
     "trajectory", "row 0 must be theta0"),
    ("gradient_descent", {"for _ in range(num_steps):": "for _ in range(num_steps - 1):"}, "trajectory", "one step too few"),
    ("sigmoid", {"    z = np.exp(-np.abs(x))  # in (0, 1]: cannot overflow\n":
                 "    return 1.0 / (1.0 + np.exp(-x))\n"}, "warning-free", "overflows"),
    ("sigmoid", {"return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))": "return 1.0 / (1.0 + np.exp(x))"},
     "matches 1/(1+e^{−x})", "sign of x"),
    ("sigmoid", {"return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))": "return np.where(x >= 0, 1.0 / (1.0 + z), z)"},
     "matches 1/(1+e^{−x})", None),
    ("sigmoid_model", {"return b0 + hidden @ c         # [N]": "return hidden @ c"}, "matches b0", "b0 is missing"),
    ("sigmoid_model", {"return b0 + hidden @ c         # [N]": "return b0 + hidden.sum(axis=1)"}, "matches b0", "weights c"),
    ("sigmoid_model", {"hidden = sigmoid(x @ W.T + b)  # [N, H]": "hidden = sigmoid(x @ W.T) + b"}, "matches b0", None),
    ("relu_model", {"np.maximum(0.0, x @ W.T + b)": "np.maximum(0.0, x @ W.T) + b"}, "matches b0", None),
    ("relu_model", {"return b0 + hidden @ c                 # [N]": "return hidden @ c"}, "matches b0", "b0 is missing"),
    ("relu_model", {"np.maximum(0.0, x @ W.T + b)": "np.abs(x @ W.T + b)"}, "matches b0", None),
]


@pytest.mark.parametrize("function,replacements,check,hint", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint):
    result = grade_variant(worker, tmp_path, f"regression.{function}", replacements)
    assert_caught(result, check, hint)
