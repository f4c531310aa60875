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
    ### BEGIN SOLUTION
    encoded = np.zeros((len(labels), num_classes))   # [N, C] float64
    encoded[np.arange(len(labels)), labels] = 1.0
    return encoded
    ### END SOLUTION


def softmax(logits, axis=-1):
    """``exp(logits) / Σ exp(logits)`` along ``axis``; the result has the shape of ``logits``.

    Stable for any finite logits: subtracting the max along ``axis`` changes nothing
    mathematically and keeps ``exp`` from overflowing.
    """
    ### BEGIN SOLUTION
    shifted = logits - logits.max(axis=axis, keepdims=True)   # max 0 along axis
    exps = np.exp(shifted)
    return exps / exps.sum(axis=axis, keepdims=True)
    ### END SOLUTION


def cross_entropy(logits, labels):
    """Mean cross-entropy ``−(1/N)·Σ_n log softmax(logits_n)[labels_n]`` as a Python float.

    logits: [N, C]; labels: [N] integers in ``range(C)``. Stable for any finite logits:
    use ``log softmax(z) = z − max(z) − log Σ exp(z − max(z))`` (log-sum-exp), never
    the log of a probability that may have underflowed to 0.
    """
    ### BEGIN SOLUTION
    shifted = logits - logits.max(axis=1, keepdims=True)                        # [N, C]
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))    # [N, C]
    return float(-log_probs[np.arange(len(labels)), labels].mean())
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    x0, x1 = x[y == 0], x[y == 1]                 # [N0, D], [N1, D]
    n0, n1 = len(x0), len(x1)
    mu0, mu1 = x0.mean(axis=0), x1.mean(axis=0)   # [D]
    scatter0 = (x0 - mu0).T @ (x0 - mu0)          # [D, D] = N0·Σ0
    scatter1 = (x1 - mu1).T @ (x1 - mu1)          # [D, D] = N1·Σ1
    sigma_inv = np.linalg.pinv((scatter0 + scatter1) / (n0 + n1))
    w = sigma_inv @ (mu1 - mu0)                   # [D]
    b = -0.5 * mu1 @ sigma_inv @ mu1 + 0.5 * mu0 @ sigma_inv @ mu0 + np.log(n1 / n0)
    return w, float(b)
    ### END SOLUTION
