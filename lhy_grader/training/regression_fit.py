"""Training check: the lecture's piecewise-linear curve, fitted with backprop and Adam (Lectures 1–2).

Lecture 1 builds a "red curve" that is flat, rises, falls, rises and is flat again,
as a constant plus a sum of ReLU pieces. Here a 1-128-1 ReLU network computed by the
student's ``mlp_forward``/``mlp_backward`` (NumPy, float64) is fitted to it by
full-batch gradient descent with the student's ``adam_step``. The grader then runs
the reference ``mlp_forward`` on the returned weights at fresh points and measures
the mean squared error against the true curve.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from lhy_grader.training.common import Evaluation, ProgressFn, Reporter, StudentCall, student_modules

#: The red curve: linear between these knots on [−1, 1].
KNOTS_X = np.array([-1.0, -0.6, -0.2, 0.3, 0.7, 1.0])
KNOTS_Y = np.array([0.5, 0.5, 1.5, 0.0, 1.0, 1.0])
HIDDEN = 128
TRAIN_POINTS = 256
STEPS, LR_START, LR_END = 3000, 1e-2, 2e-4
REPORT_EVERY = 50
MODULES = ("backprop", "optimizers")
#: Fresh evaluation points, and the largest mean squared error accepted (the curve's
#: variance is about 0.2: predicting its mean scores 0.2, a fitted network ~1e-5).
EVAL_POINTS, THRESHOLD = 2000, 1e-3
#: What ``train`` returns, checked by the grader before it evaluates anything.
WEIGHT_SHAPES = {"W1": (1, HIDDEN), "b1": (HIDDEN,), "W2": (HIDDEN, 1), "b2": (1,)}


def curve(x: np.ndarray) -> np.ndarray:
    """The red curve at ``x`` (any shape)."""
    return np.interp(x, KNOTS_X, KNOTS_Y)


def initial_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """ReLU kinks spread uniformly over [−1, 1], small output weights."""
    slopes = rng.normal(0.0, 1.0, size=(1, HIDDEN))
    kinks = rng.uniform(-1.0, 1.0, size=HIDDEN)
    return {"W1": slopes, "b1": -kinks * slopes[0],
            "W2": rng.normal(0.0, HIDDEN ** -0.5, size=(HIDDEN, 1)), "b2": np.zeros(1)}


def flatten(params: dict[str, np.ndarray]) -> np.ndarray:
    """All parameters as one vector [P] (the order of WEIGHT_SHAPES)."""
    return np.concatenate([params[key].ravel() for key in WEIGHT_SHAPES])


def unflatten(theta: np.ndarray) -> dict[str, np.ndarray]:
    params, at = {}, 0
    for key, shape in WEIGHT_SHAPES.items():
        size = int(np.prod(shape))
        params[key] = theta[at:at + size].reshape(shape)
        at += size
    return params


def run_training(modules: dict[str, ModuleType], seed: int, progress: ProgressFn | None = None) -> dict:
    """Full-batch Adam on the MSE, the learning rate decaying geometrically from LR_START
    to LR_END; returns the weights and the losses."""
    backprop, optimizers = modules["backprop"], modules["optimizers"]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(TRAIN_POINTS, 1))
    y = curve(x)
    theta = flatten(initial_params(rng))
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    report = Reporter(progress, STEPS, REPORT_EVERY)
    for step in range(1, STEPS + 1):
        scores, cache = backprop.mlp_forward(x, unflatten(theta))
        residual = scores - y                                  # [N, 1]
        grads = backprop.mlp_backward(2.0 * residual / TRAIN_POINTS, cache)
        lr = LR_START * (LR_END / LR_START) ** ((step - 1) / STEPS)
        theta, m, v = optimizers.adam_step(theta, flatten(grads), m, v, step, lr=lr)
        report(step, float(np.mean(residual ** 2)))
    return {"weights": unflatten(np.asarray(theta, dtype=np.float64)), "losses": report.losses}


def train(seed: int, device: str, progress: ProgressFn | None = None) -> dict:
    """The worker routine: NumPy on the CPU whatever the device, with the submission's functions."""
    return run_training(student_modules(*MODULES), seed, progress)


def evaluate(modules: dict[str, ModuleType], weights: dict[str, np.ndarray], eval_seed: int, train_seed: int,
             call_student: StudentCall) -> Evaluation:
    """(Grader) The reference network's MSE against the curve at fresh random points."""
    x = np.random.default_rng(eval_seed).uniform(-1.0, 1.0, size=(EVAL_POINTS, 1))
    predicted, _ = modules["backprop"].mlp_forward(x, weights)
    mse = float(np.mean((predicted - curve(x)) ** 2))
    return Evaluation("held-out mean squared error", mse, THRESHOLD, False, f"{EVAL_POINTS} fresh points of the curve")
