"""Lecture 2: classification, and the probabilistic generative model.

Classes as one-hot vectors, softmax and cross-entropy for the discriminative view;
for the generative view, two Gaussian classes sharing one covariance matrix, whose
posterior ``P(C1 | x) = σ(w·x + b)`` turns out to be a linear model.

Everything here is NumPy on float64 arrays; no function modifies its inputs.
"""

import numpy as np


def one_hot(labels, num_classes):
    """One-hot encoding of integer class labels.

    labels: [N] integers in ``range(num_classes)`` → [N, num_classes] float array
    with a 1.0 in column ``labels[n]`` of row ``n`` and 0.0 elsewhere.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def softmax(logits, axis=-1):
    """``exp(logits) / Σ exp(logits)`` along ``axis``; the result has the shape of ``logits``.

    Stable for any finite logits: subtracting the max along ``axis`` changes nothing
    mathematically and keeps ``exp`` from overflowing.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def cross_entropy(logits, labels):
    """Mean cross-entropy ``−(1/N)·Σ_n log softmax(logits_n)[labels_n]`` as a Python float.

    logits: [N, C]; labels: [N] integers in ``range(C)``. Stable for any finite logits:
    use ``log softmax(z) = z − max(z) − log Σ exp(z − max(z))`` (log-sum-exp), never
    the log of a probability that may have underflowed to 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def fit_generative_classifier(x, y):
    """Fit two Gaussian classes with one shared covariance; return the posterior's ``(w, b)``.

    x: [N, D]; y: [N] labels in {0, 1} (both classes present) → (w [D], b float) with
    ``P(y=1 | x) = sigmoid(w·x + b)``. Maximum likelihood:

        μk = mean of the class-k rows        Σk = (1/Nk)·Σ_{n in k} (x_n − μk)(x_n − μk)ᵀ
        Σ  = (N0·Σ0 + N1·Σ1) / N             priors Pk = Nk / N
        w  = Σ⁻¹(μ1 − μ0)                    b  = −½·μ1ᵀΣ⁻¹μ1 + ½·μ0ᵀΣ⁻¹μ0 + ln(N1/N0)

    Σ can be singular (a constant or duplicated feature, few samples): use the
    pseudo-inverse Σ⁺ (``np.linalg.pinv``) in place of Σ⁻¹.
    """
    # YOUR CODE HERE
    raise NotImplementedError
