"""Lecture 1: backpropagation.

A two-layer network ``h = relu(x @ W1 + b1)``, ``scores = h @ W2 + b2``, trained by
gradient descent: the forward pass computes the scores and keeps what the backward
pass needs; the backward pass applies the chain rule layer by layer, from the
output back to the input.

Everything here is NumPy on float64 arrays; no function modifies its inputs.
"""

import numpy as np


def mlp_forward(x, params):
    """Forward pass of ``scores = relu(x @ W1 + b1) @ W2 + b2``.

    x: [N, D]; params: dict with W1 [D, H], b1 [H], W2 [H, C], b2 [C].
    Returns ``(scores [N, C], cache)``, where ``cache`` is anything you like that
    ``mlp_backward`` will need (for example the input, the weights and the
    pre-activations ``z = x @ W1 + b1``).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def mlp_backward(dscores, cache):
    """Backward pass: the gradients of ``sum(dscores * scores)``.

    dscores: [N, C], the upstream gradient dL/dscores; cache: what ``mlp_forward``
    returned. Returns a dict with the keys ``"W1" "b1" "W2" "b2"`` (same shapes as
    the parameters) and ``"x"`` ([N, D]). The chain rule, output to input::

        dW2 = hᵀ·dscores        db2 = Σ_n dscores       dh = dscores·W2ᵀ
        dz  = dh ⊙ [z > 0]      (the ReLU's derivative is 0 at exactly z = 0)
        dW1 = xᵀ·dz             db1 = Σ_n dz            dx = dz·W1ᵀ
    """
    # YOUR CODE HERE
    raise NotImplementedError


def softmax_cross_entropy(scores, labels):
    """Mean cross-entropy of softmax(scores) against integer labels, and its gradient.

    scores: [N, C] logits; labels: [N] integers in ``range(C)``.
    Returns ``(loss, dscores)``: ``loss = −(1/N)·Σ_n log softmax(scores_n)[labels_n]``
    as a Python float, and ``dscores [N, C] = (softmax(scores) − one_hot(labels)) / N``.
    Stable for logits of any magnitude: subtract each row's max before exponentiating,
    and take the log through log-sum-exp, not as the log of a probability.
    """
    # YOUR CODE HERE
    raise NotImplementedError
