"""Lecture 1: the three steps of machine learning (regression).

1. A function with unknown parameters: ``y = b + x·w``, or a sum of sigmoids/ReLUs.
2. A loss on the training data: the mean squared error.
3. Optimization: gradient descent, ``θ ← θ − η·∇L(θ)``.

Everything here is NumPy on float64 arrays; no function modifies its inputs.
"""

import numpy as np


def linear_model(x, w, b):
    """The linear model ``y = b + x·w``.

    x: [N, D] features, w: [D] weights, b: float bias → [N] predictions.
    """
    ### BEGIN SOLUTION
    return b + x @ w  # [N]
    ### END SOLUTION


def mse_loss(y_pred, y_true):
    """Mean squared error ``mean((y_pred − y_true)²)`` as a Python float.

    y_pred, y_true: [N] → float.
    """
    ### BEGIN SOLUTION
    return float(np.mean((y_pred - y_true) ** 2))
    ### END SOLUTION


def mse_gradients(x, y, w, b):
    """Gradient of ``mse_loss(linear_model(x, w, b), y)`` with respect to ``w`` and ``b``.

    x: [N, D], y: [N], w: [D], b: float → (dw [D], db float).
    With residual r = b + x·w − y:  dL/dw = (2/N)·xᵀr,  dL/db = (2/N)·Σr.
    """
    ### BEGIN SOLUTION
    n = x.shape[0]
    residual = linear_model(x, w, b) - y  # [N]
    dw = 2.0 / n * (x.T @ residual)       # [D]
    db = 2.0 / n * float(residual.sum())
    return dw, db
    ### END SOLUTION


def gradient_descent(grad_fn, theta0, lr, num_steps):
    """Run ``num_steps`` steps of ``θ_{t+1} = θ_t − lr·grad_fn(θ_t)`` from ``theta0``.

    grad_fn: maps a [P] array to its [P] gradient; theta0: [P] → [num_steps + 1, P]
    trajectory whose row 0 is ``theta0``.
    """
    ### BEGIN SOLUTION
    thetas = [np.array(theta0, dtype=np.float64)]
    for _ in range(num_steps):
        thetas.append(thetas[-1] - lr * np.asarray(grad_fn(thetas[-1])))
    return np.stack(thetas)  # [num_steps + 1, P]
    ### END SOLUTION


def sigmoid(x):
    """Elementwise ``1 / (1 + e^{−x})``, finite and warning-free for any finite float64.

    x: any shape → same shape. Hint: never exponentiate a large positive number.
    """
    ### BEGIN SOLUTION
    z = np.exp(-np.abs(x))  # in (0, 1]: cannot overflow
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    ### END SOLUTION


def sigmoid_model(x, W, b, c, b0):
    """The lecture's "more features" model ``y_n = b0 + Σ_i c_i·sigmoid(b_i + Σ_j W_ij·x_nj)``.

    x: [N, D], W: [H, D], b: [H], c: [H], b0: float → [N].
    """
    ### BEGIN SOLUTION
    hidden = sigmoid(x @ W.T + b)  # [N, H]
    return b0 + hidden @ c         # [N]
    ### END SOLUTION


def relu_model(x, W, b, c, b0):
    """The same model with ``max(0, ·)`` in place of the sigmoid.

    x: [N, D], W: [H, D], b: [H], c: [H], b0: float → [N].
    """
    ### BEGIN SOLUTION
    hidden = np.maximum(0.0, x @ W.T + b)  # [N, H]
    return b0 + hidden @ c                 # [N]
    ### END SOLUTION
