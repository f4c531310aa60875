"""Checks for regression.py (Lecture 1: the three steps of machine learning)."""

from __future__ import annotations

import numpy as np

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_array, expect_close, expect_float
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import regression as inputs
from lhy_grader.inputs.strategies import arrays

ref = reference("regression")

# ---------------------------------------------------------------------------
linear_model = Exercise("regression", "linear_model", points=2, arg_names=("x", "w", "b"))


@linear_model.property("matches b + x·w", inputs.linear_inputs())
def _(trial, ex):
    got = expect_array(trial.call(**ex), (ex["x"].shape[0],))
    expect_close(got, ref.linear_model(**ex), mistakes={
        "the bias b is missing": ex["x"] @ ex["w"],
        "the bias is subtracted": ex["x"] @ ex["w"] - ex["b"],
    })


@linear_model.check("one sample, one feature")
def _(trial):
    x, w = np.array([[2.0]]), np.array([3.0])
    expect_close(expect_array(trial.call(x, w, 0.5), (1,)), np.array([6.5]))


# ---------------------------------------------------------------------------
mse_loss = Exercise("regression", "mse_loss", points=2, arg_names=("y_pred", "y_true"))


@mse_loss.property("matches mean((y_pred − y_true)²)", inputs.prediction_pairs())
def _(trial, ex):
    got = expect_float(trial.call(**ex))
    diff = ex["y_pred"] - ex["y_true"]
    n = diff.size
    expect_close(got, ref.mse_loss(**ex), mistakes={
        "sum of squares instead of the mean": np.sum(diff ** 2),
        "the error is not squared (mean absolute error?)": np.mean(np.abs(diff)),
        "the square root was taken (RMSE, not MSE)": np.sqrt(np.mean(diff ** 2)),
        "divided by N − 1 instead of N": np.sum(diff ** 2) / (n - 1) if n > 1 else np.nan,
        "half the MSE (the ½ belongs to other conventions)": 0.5 * np.mean(diff ** 2),
    })


@mse_loss.check("returns a Python float, 0 for a perfect fit")
def _(trial):
    y = np.array([1.0, -2.0, 3.0])
    got = trial.call(y, y.copy())
    if not isinstance(got, float):
        raise CheckFailed(f"expected a Python float, got {type(got).__name__} (use float(...))")
    expect_close(got, 0.0)


# ---------------------------------------------------------------------------
mse_gradients = Exercise("regression", "mse_gradients", points=3, arg_names=("x", "y", "w", "b"))


def _gradient_mistakes(ex: dict, dw: np.ndarray) -> dict:
    return {
        "the factor 2 of d(r²)/dr is missing": dw / 2,
        "the sum is not divided by N (gradient of the sum, not the mean)": dw * ex["x"].shape[0],
        "the sign is flipped (residual taken as y − ŷ)": -dw,
    }


@mse_gradients.property("matches the analytic gradient (2/N)·xᵀr, (2/N)·Σr", inputs.regression_data())
def _(trial, ex):
    got = trial.call(**ex)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise CheckFailed(f"expected a tuple (dw, db), got {type(got).__name__}")
    dw_ref, db_ref = ref.mse_gradients(**ex)
    dw = expect_array(got[0], ex["w"].shape, what="dw")
    expect_close(dw, dw_ref, rtol=1e-7, atol=1e-8, what="dw", mistakes=_gradient_mistakes(ex, dw_ref))
    db = expect_float(got[1], what="db")
    expect_close(db, db_ref, rtol=1e-7, atol=1e-8, what="db",
                 mistakes={"the factor 2 is missing": db_ref / 2, "the sign is flipped": -db_ref})


@mse_gradients.property("agrees with torch autograd", inputs.regression_data(), max_examples=15)
def _(trial, ex):
    import torch
    x, y = torch.from_numpy(ex["x"]), torch.from_numpy(ex["y"])
    w = torch.tensor(ex["w"], requires_grad=True)
    b = torch.tensor(ex["b"], dtype=torch.float64, requires_grad=True)
    torch.mean((b + x @ w - y) ** 2).backward()
    dw, db = trial.call(**ex)
    expect_close(expect_array(dw, ex["w"].shape, what="dw"), w.grad.numpy(), rtol=1e-7, atol=1e-8, what="dw")
    expect_close(expect_float(db, what="db"), b.grad.item(), rtol=1e-7, atol=1e-8, what="db")


@mse_gradients.check("is zero at the least-squares optimum")
def _(trial):
    x = trial.rng.normal(size=(20, 3))
    y = trial.rng.normal(size=20)
    solution = np.linalg.lstsq(np.c_[x, np.ones(20)], y, rcond=None)[0]
    dw, db = trial.call(x, y, solution[:3], float(solution[3]))
    expect_close(expect_array(dw, (3,), what="dw"), np.zeros(3), atol=1e-10, what="dw at the optimum")
    expect_close(expect_float(db, what="db"), 0.0, atol=1e-10, what="db at the optimum")


# ---------------------------------------------------------------------------
gradient_descent = Exercise("regression", "gradient_descent", points=3,
                            arg_names=("grad_fn", "theta0", "lr", "num_steps"))


class QuadraticGradient:
    """grad_fn for L(θ) = ½θᵀAθ − cᵀθ, answered in the grader; counts its calls."""

    def __init__(self, A: np.ndarray, c: np.ndarray) -> None:
        self.A, self.c, self.calls = A, c, 0
        self.description = "grad_fn(θ) = Aθ − c with A = " + np.array2string(A, precision=3, separator=", ")

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        self.calls += 1
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != self.c.shape:
            raise ValueError(f"grad_fn expects θ of shape {self.c.shape}, got {theta.shape}")
        return self.A @ theta - self.c


@gradient_descent.property("matches the trajectory on a quadratic", inputs.quadratic_problems())
def _(trial, ex):
    grad = QuadraticGradient(ex["A"], ex["c"])
    got = trial.call(grad, ex["theta0"], ex["lr"], ex["num_steps"])
    expected = ref.gradient_descent(grad, ex["theta0"], ex["lr"], ex["num_steps"])
    p = ex["theta0"].size
    if isinstance(got, np.ndarray) and got.shape == (ex["num_steps"], p):
        hints = [h for h, rows in (("row 0 must be theta0 itself", expected[1:]),
                                   ("one step too few: the trajectory has num_steps + 1 rows", expected[:-1]))
                 if np.allclose(got, rows)]
        raise CheckFailed(f"the trajectory has shape {got.shape}, expected {expected.shape}",
                          " — or: ".join(hints) or None)
    got = expect_array(got, expected.shape, what="the trajectory")
    ascent = ref.gradient_descent(lambda t: -(ex["A"] @ t - ex["c"]), ex["theta0"], ex["lr"], ex["num_steps"])
    expect_close(got, expected, rtol=1e-9, atol=1e-10, what="the trajectory",
                 mistakes={"the step goes uphill: use θ − lr·grad, not θ + lr·grad": ascent})


@gradient_descent.check("calls grad_fn once per step")
def _(trial):
    grad = QuadraticGradient(np.eye(2), np.ones(2))
    trial.call(grad, np.zeros(2), 0.1, 7)
    if grad.calls != 7:
        raise CheckFailed(f"grad_fn was called {grad.calls} times for num_steps = 7, expected 7")


@gradient_descent.check("num_steps = 0 gives just θ0")
def _(trial):
    theta0 = np.array([1.0, -2.0])
    got = expect_array(trial.call(QuadraticGradient(np.eye(2), np.zeros(2)), theta0, 0.1, 0), (1, 2))
    expect_close(got, theta0[None, :])


# ---------------------------------------------------------------------------
sigmoid = Exercise("regression", "sigmoid", points=2, arg_names=("x",))


def _naive_sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


@sigmoid.property("matches 1/(1+e^{−x})", arrays((7,), -30, 30).map(lambda x: {"x": x}))
def _(trial, ex):
    got = expect_array(trial.call(**ex), ex["x"].shape)
    expect_close(got, ref.sigmoid(**ex), rtol=1e-12, atol=1e-15, mistakes={
        "the sign of x is flipped: sigmoid(x) = 1/(1+e^{−x})": ref.sigmoid(-ex["x"]),
        "this is e^{x}/(1+e^{x}) without care, or tanh": np.tanh(ex["x"]),
    })


@sigmoid.property("finite and warning-free for |x| up to 1e4",
                  arrays((5,), -1e4, 1e4).map(lambda x: {"x": x}))
def _(trial, ex):
    got = expect_array(trial.call(**ex), ex["x"].shape)
    hint = "np.exp overflows for large |x|: use e^{−|x|} and pick the formula by the sign of x"
    if trial.warnings:
        raise CheckFailed(f"NumPy warned: {trial.warnings[0]}", hint)
    expect_close(got, ref.sigmoid(**ex), rtol=1e-12, atol=1e-15, mistakes={hint: _naive_sigmoid(ex["x"])})


@sigmoid.check("works on any shape (2-D input)")
def _(trial):
    x = trial.rng.normal(size=(3, 4)) * 5
    expect_close(expect_array(trial.call(x), (3, 4)), ref.sigmoid(x), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
def _feature_model(name: str, activation: str) -> Exercise:
    ex_ = Exercise("regression", name, points=2, arg_names=("x", "W", "b", "c", "b0"))
    model = getattr(ref, name)

    @ex_.property(f"matches b0 + Σ c_i·{activation}(b_i + W_i·x)", inputs.feature_models())
    def _(trial, ex):
        got = expect_array(trial.call(**ex), (ex["x"].shape[0],))
        expect_close(got, model(**ex), rtol=1e-9, atol=1e-10, mistakes={
            "b0 is missing": model(**{**ex, "b0": 0.0}) if ex["b0"] != 0 else None,
            "the weights c are missing (Σ_i of the raw features)": model(**{**ex, "c": np.ones_like(ex["c"])}),
            "the bias b is outside the activation": _bias_outside(ex, model),
        })

    @ex_.check("one hidden feature reduces to b0 + c·activation(b + w·x)")
    def _(trial):
        x = np.array([[1.0, 2.0], [-1.0, 0.5]])
        W, b, c = np.array([[0.5, -1.0]]), np.array([0.25]), np.array([2.0])
        expect_close(expect_array(trial.call(x, W, b, c, 1.0), (2,)), model(x, W, b, c, 1.0), rtol=1e-12)

    return ex_


def _bias_outside(ex: dict, model) -> np.ndarray:
    return model(**{**ex, "b": np.zeros_like(ex["b"]), "b0": ex["b0"] + float(ex["c"] @ ex["b"])})


sigmoid_model = _feature_model("sigmoid_model", "sigmoid")
relu_model = _feature_model("relu_model", "max(0, ·)")

EXERCISES = [linear_model, mse_loss, mse_gradients, gradient_descent, sigmoid, sigmoid_model, relu_model]
