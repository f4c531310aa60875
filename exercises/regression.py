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
    # YOUR CODE HERE
    raise NotImplementedError


def mse_loss(y_pred, y_true):
    """Mean squared error ``mean((y_pred − y_true)²)`` as a Python float.

    y_pred, y_true: [N] → float.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def mse_gradients(x, y, w, b):
    """Gradient of ``mse_loss(linear_model(x, w, b), y)`` with respect to ``w`` and ``b``.

    x: [N, D], y: [N], w: [D], b: float → (dw [D], db float).
    With residual r = b + x·w − y:  dL/dw = (2/N)·xᵀr,  dL/db = (2/N)·Σr.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def gradient_descent(grad_fn, theta0, lr, num_steps):
    """Run ``num_steps`` steps of ``θ_{t+1} = θ_t − lr·grad_fn(θ_t)`` from ``theta0``.

    grad_fn: maps a [P] array to its [P] gradient; theta0: [P] → [num_steps + 1, P]
    trajectory whose row 0 is ``theta0``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sigmoid(x):
    """Elementwise ``1 / (1 + e^{−x})``, finite and warning-free for any finite float64.

    x: any shape → same shape. Hint: never exponentiate a large positive number.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sigmoid_model(x, W, b, c, b0):
    """The lecture's "more features" model ``y_n = b0 + Σ_i c_i·sigmoid(b_i + Σ_j W_ij·x_nj)``.

    x: [N, D], W: [H, D], b: [H], c: [H], b0: float → [N].
    """
    # YOUR CODE HERE
    raise NotImplementedError


def relu_model(x, W, b, c, b0):
    """The same model with ``max(0, ·)`` in place of the sigmoid.

    x: [N, D], W: [H, D], b: [H], c: [H], b0: float → [N].
    """
    # YOUR CODE HERE
    raise NotImplementedError
