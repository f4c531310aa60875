"""Checks for classification.py (Lecture 2: classification; the probabilistic generative model).

The generative classifier is compared with the reference ``(w, b)`` and, independently,
with the posterior computed by Bayes' rule from the fitted Gaussians' densities (the same
model as scikit-learn's ``LinearDiscriminantAnalysis``: biased per-class covariances
weighted by counts, priors from counts).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_array, expect_close, expect_float, show
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import classification as inputs
from lhy_grader.inputs.strategies import HUGE
from lhy_grader.worker.client import StudentRaised

ref = reference("classification")

OVERFLOW_HINT = ("exp overflows for large logits: subtract the max along the softmax axis before "
                 "exponentiating (it cancels in the ratio)")
LOG_OF_ZERO_HINT = ("the log of a probability that underflowed to 0: compute log softmax as "
                    "(z − max) − log Σ exp(z − max) (log-sum-exp), not as log(softmax(z))")


def expect_stable(trial, outputs: dict[str, Any]) -> None:
    """Fail when the last call warned or returned a non-finite value, naming the likely cause."""
    values = {what: np.asarray(value, dtype=np.float64) for what, value in outputs.items()}
    broken = [f"{what} holds {value[~np.isfinite(value)].flat[0]}" for what, value in values.items()
              if not np.isfinite(value).all()]
    if not (trial.warnings or broken):
        return
    text = " ".join(trial.warnings)
    any_nan = any(np.isnan(value).any() for value in values.values())
    if "divide by zero" in text or (broken and not any_nan and "overflow" not in text):
        hint = LOG_OF_ZERO_HINT
    else:
        hint = OVERFLOW_HINT
    problem = f"NumPy warned: {trial.warnings[0]}" if trial.warnings else f"{broken[0]} for finite logits"
    raise CheckFailed(problem, hint)


def _torch_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    import torch
    return torch.softmax(torch.from_numpy(logits), dim=axis).numpy()


def softmax_along(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """A stable softmax, for computing what mistakes return."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)


def _log_of_softmax_loss(logits: np.ndarray, labels: np.ndarray, subtract_max: bool) -> float:
    """The cross-entropy as −log(softmax probability), with or without the max subtraction:
    what the unstable implementations return."""
    with np.errstate(all="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True) if subtract_max else logits
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(probs[np.arange(len(labels)), labels])))


def cross_entropy_mistakes(logits: np.ndarray, labels: np.ndarray, loss: float) -> dict:
    """What the classic mistakes return for the mean cross-entropy of ``logits`` [N, C]."""
    rows = np.arange(len(labels))
    return {
        "the loss is summed over the batch, not averaged (divide by N)": loss * len(labels),
        "the minus sign is missing: the loss is −log p(label)": -loss,
        "the softmax is taken over the wrong axis (over the batch, not over the classes)":
            lambda: float(-np.mean(np.log(softmax_along(logits, axis=0)[rows, labels]))),
        OVERFLOW_HINT: lambda: _log_of_softmax_loss(logits, labels, subtract_max=False),
        LOG_OF_ZERO_HINT: lambda: _log_of_softmax_loss(logits, labels, subtract_max=True),
    }


# ---------------------------------------------------------------------------
one_hot = Exercise("classification", "one_hot", points=2, arg_names=("labels", "num_classes"))


def _expect_one_hot(got, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """An [N, C] float array; a wrong shape or dtype fails with a hint naming the cause."""
    n = len(labels)
    if isinstance(got, np.ndarray) and got.shape != (n, num_classes):
        if got.shape == (num_classes, n):
            hint = "the result is transposed: one row per label, one column per class"
        elif got.shape == (n, int(labels.max()) + 1):
            hint = "the width comes from labels.max() + 1: use num_classes (a class may be absent from the labels)"
        else:
            hint = None
        raise CheckFailed(f"the result has shape {got.shape}, expected ({n}, {num_classes})", hint)
    if isinstance(got, np.ndarray) and got.dtype.kind != "f":
        raise CheckFailed(f"the result has dtype {got.dtype}, expected a float array",
                          "one_hot must return floats (e.g. np.zeros((N, C)), float64 by default); convert "
                          "with .astype(float) if you build it from integers or comparisons")
    return expect_array(got, (n, num_classes))


@one_hot.property("matches F.one_hot, as floats", inputs.labels_and_classes())
def _(trial, ex):
    import torch
    import torch.nn.functional as F
    got = _expect_one_hot(trial.call(**ex), **ex)
    expected = F.one_hot(torch.from_numpy(ex["labels"]), ex["num_classes"]).double().numpy()
    mistakes = {"the result is transposed: one row per label, one column per class": lambda: expected.T}
    expect_close(got, ref.one_hot(**ex), rtol=0, atol=0, mistakes=mistakes)
    expect_close(got, expected, rtol=0, atol=0, mistakes=mistakes)


@one_hot.check("num_classes wider than every label")
def _(trial):
    labels = np.array([0, 2, 0, 1])
    got = _expect_one_hot(trial.call(labels, 6), labels, 6)
    expect_close(got, ref.one_hot(labels, 6), rtol=0, atol=0)


@one_hot.check("one sample")
def _(trial):
    labels = np.array([3])
    expect_close(_expect_one_hot(trial.call(labels, 4), labels, 4), np.array([[0.0, 0.0, 0.0, 1.0]]),
                 rtol=0, atol=0)


# ---------------------------------------------------------------------------
softmax = Exercise("classification", "softmax", points=2, arg_names=("logits", "axis"))


def _softmax_mistakes(logits: np.ndarray, axis: int) -> dict:
    axis, last = axis % logits.ndim, logits.ndim - 1
    wrong_axes = {(f"the softmax is taken along axis {other}, not {axis}" if other != last else
                   "the axis argument is ignored (the softmax is always taken along the last axis)"):
                  (lambda other=other: softmax_along(logits, other)) for other in range(logits.ndim) if other != axis}
    return {
        **wrong_axes,
        "normalized over the whole array, not along the axis (sum with axis=..., keepdims=True)":
            lambda: np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum(),
        "the exponentials are not normalized (divide by their sum along the axis)": lambda: np.exp(logits),
        OVERFLOW_HINT: lambda: _without_max_subtraction(logits, axis),
    }


def _without_max_subtraction(logits: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.exp(logits) / np.exp(logits).sum(axis=axis, keepdims=True)


def _compare_softmax(trial, ex: dict, stability: bool = False) -> None:
    axis = ex.get("axis", -1)
    got = expect_array(trial.call(**ex), ex["logits"].shape)
    if stability:
        expect_stable(trial, {"the result": got})
    mistakes = _softmax_mistakes(ex["logits"], axis)
    expect_close(got, ref.softmax(**ex), rtol=1e-9, atol=1e-15, mistakes=mistakes)
    expect_close(got, _torch_softmax(ex["logits"], axis), rtol=1e-9, atol=1e-15, mistakes=mistakes)


@softmax.property("matches torch.softmax over the last axis", inputs.logit_matrices())
def _(trial, ex):
    _compare_softmax(trial, ex)


@softmax.property("softmax along any axis, 1-D to 3-D", inputs.logits_with_axis(), max_examples=15)
def _(trial, ex):
    _compare_softmax(trial, ex)


@softmax.property("finite and warning-free for logits up to ±1e4", inputs.huge_logit_matrices(), max_examples=10)
def _(trial, ex):
    _compare_softmax(trial, ex, stability=True)


# ---------------------------------------------------------------------------
cross_entropy = Exercise("classification", "cross_entropy", points=2, arg_names=("logits", "labels"))


def _torch_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    import torch
    import torch.nn.functional as F
    return F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()


def _compare_cross_entropy(trial, ex: dict, stability: bool = False) -> None:
    got = expect_float(trial.call(**ex), what="the loss")
    if stability:
        expect_stable(trial, {"the loss": got})
    expected = _torch_cross_entropy(**ex)
    mistakes = cross_entropy_mistakes(ex["logits"], ex["labels"], expected)
    expect_close(got, ref.cross_entropy(**ex), rtol=1e-9, atol=1e-9, what="the loss", mistakes=mistakes)
    expect_close(got, expected, rtol=1e-9, atol=1e-9, what="the loss", mistakes=mistakes)


@cross_entropy.property("matches F.cross_entropy (mean over the batch)", inputs.logits_and_labels())
def _(trial, ex):
    _compare_cross_entropy(trial, ex)


@cross_entropy.property("finite and warning-free for logits up to ±1e4", inputs.logits_and_labels(HUGE),
                        max_examples=10)
def _(trial, ex):
    _compare_cross_entropy(trial, ex, stability=True)


@cross_entropy.check("one sample, and equal logits give log C")
def _(trial):
    _compare_cross_entropy(trial, {"logits": trial.rng.normal(size=(1, 3)), "labels": np.array([1])})
    _compare_cross_entropy(trial, {"logits": np.full((2, 4), -3.0), "labels": np.array([3, 0])})


# ---------------------------------------------------------------------------
fit_generative_classifier = Exercise("classification", "fit_generative_classifier", points=4,
                                     arg_names=("x", "y"))

PINV_HINT = ("the covariance Σ is singular here (a constant or duplicated feature, or too few samples): "
             "np.linalg.inv/solve fail or return huge values; use the pseudo-inverse np.linalg.pinv")
NAN_COVARIANCE_HINT = ("Σ holds NaN or inf: with a single sample in a class, dividing by N_k − 1 (np.cov's "
                       "default) or by N − 2 divides by 0; maximum likelihood divides by N_k and N")


def _class_statistics(x: np.ndarray, y: np.ndarray) -> tuple:
    """Counts, means and scatter matrices Σ_n (x_n − μk)(x_n − μk)ᵀ of both classes."""
    x0, x1 = x[y == 0], x[y == 1]
    mu0, mu1 = x0.mean(axis=0), x1.mean(axis=0)
    return len(x0), len(x1), mu0, mu1, (x0 - mu0).T @ (x0 - mu0), (x1 - mu1).T @ (x1 - mu1)


def _fit_with(x: np.ndarray, y: np.ndarray, covariance: str = "shared", prior_sign: float = 1.0) -> tuple:
    """``(w, b)`` of the generative model fitted with a (possibly mistaken) covariance and prior
    term ``prior_sign·ln(N1/N0)``; ``(None, None)`` when that mistake divides by 0. Only used to
    name mistakes: the expected values come from the reference and the Gaussians' posterior."""
    n0, n1, mu0, mu1, s0, s1 = _class_statistics(x, y)
    n = n0 + n1
    sigma = {
        "shared": (s0 + s1) / n,
        "unbiased": (s0 + s1) / (n - 2) if n > 2 else None,
        "unbiased per class": (n0 * s0 / (n0 - 1) + n1 * s1 / (n1 - 1)) / n if min(n0, n1) > 1 else None,
        "unweighted": (s0 / n0 + s1 / n1) / 2,
        "global": np.cov(x.T, bias=True).reshape(x.shape[1], x.shape[1]),
    }[covariance]
    if sigma is None:
        return None, None
    inverse = np.linalg.pinv(sigma)
    w = inverse @ (mu1 - mu0)
    b = -0.5 * mu1 @ inverse @ mu1 + 0.5 * mu0 @ inverse @ mu0 + prior_sign * np.log(n1 / n0)
    return w, float(b)


COVARIANCE_MISTAKES = {
    "unbiased": "the covariance is divided by N − 2 (or N − 1): maximum likelihood divides by N",
    "unbiased per class": "the class covariances are unbiased (N_k − 1, np.cov's default): "
                          "maximum likelihood divides by N_k (np.cov(..., bias=True))",
    "unweighted": "the class covariances are averaged, not weighted by their counts: Σ = (N0·Σ0 + N1·Σ1)/N",
    "global": "Σ is the covariance of all the data around one global mean: centre each class on its own mean",
}


def _mistaken_fits(x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], tuple]]:
    """hint → a function computing the ``(w, b)`` of that mistake."""
    fits = {hint: (lambda kind=kind: _fit_with(x, y, kind)) for kind, hint in COVARIANCE_MISTAKES.items()}
    fits["the priors are ignored: b needs + ln(N1/N0)"] = lambda: _fit_with(x, y, prior_sign=0.0)
    fits["the prior ratio is inverted: + ln(N1/N0), not ln(N0/N1)"] = lambda: _fit_with(x, y, prior_sign=-1.0)
    fits["the classes are swapped: P(y=1 | x) needs w = Σ⁻¹(μ1 − μ0) and the matching b"] = \
        lambda: _fit_with(x, 1 - y)
    return fits


def _part_mistakes(fits: dict[str, Callable[[], tuple]], index: int) -> dict:
    """The mistakes' w (index 0) or b (index 1)."""
    return {hint: (lambda fit=fit: fit()[index]) for hint, fit in fits.items()}


def _posterior(points: np.ndarray, w: np.ndarray | None, b: float | None) -> np.ndarray | None:
    """sigmoid(points·w + b), computed without overflow."""
    return None if w is None else 0.5 * (1.0 + np.tanh(0.5 * (points @ w + b)))


def _call_fit(trial, ex: dict) -> tuple[np.ndarray, float]:
    """The student's ``(w, b)``; a LinAlgError is explained (status failed, with a hint)."""
    try:
        got = trial.call(**ex)
    except StudentRaised as e:
        if "LinAlgError" not in str(e):
            raise
        raise CheckFailed(f"raised {e}", PINV_HINT if "Singular matrix" in str(e) else NAN_COVARIANCE_HINT) from None
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CheckFailed(f"fit_generative_classifier should return a pair (w, b), got a {type(got).__name__}")
    return expect_array(got[0], (ex["x"].shape[1],), what="w"), expect_float(got[1], what="b")


def _compare_fit(trial, ex: dict, singular: bool = False) -> None:
    """Compare with the reference; ``singular`` inputs explain a huge or non-finite w."""
    w, b = _call_fit(trial, ex)
    expected_w, expected_b = ref.fit_generative_classifier(**ex)
    if singular and not (np.isfinite(w).all() and np.abs(w).max() < 1e6 * (1 + np.abs(expected_w).max())):
        raise CheckFailed(f"w = {show(w)} is far off: expected {show(expected_w)}", PINV_HINT)
    fits = _mistaken_fits(ex["x"], ex["y"])
    expect_close(w, expected_w, rtol=1e-7, atol=1e-9, what="w", mistakes=_part_mistakes(fits, 0))
    expect_close(b, expected_b, rtol=1e-7, atol=1e-9, what="b", mistakes=_part_mistakes(fits, 1))


@fit_generative_classifier.property("matches the maximum-likelihood (w, b)", inputs.gaussian_classes())
def _(trial, ex):
    _compare_fit(trial, ex)


def _gaussian_posterior(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """P(y=1 | point) by Bayes' rule from the two fitted Gaussians' log-densities
    −½(p − μk)ᵀΣ⁻¹(p − μk) − ½·ln det(2πΣ) and the priors Nk/N."""
    classes = [x[y == k] for k in (0, 1)]
    means = [c.mean(axis=0) for c in classes]
    sigma = sum((c - m).T @ (c - m) for c, m in zip(classes, means)) / len(x)
    _, log_det = np.linalg.slogdet(2 * np.pi * sigma)
    log_joint = []
    for c, m in zip(classes, means):
        centred = points - m                                              # [P, D]
        mahalanobis = np.sum(centred * np.linalg.solve(sigma, centred.T).T, axis=1)
        log_joint.append(-0.5 * mahalanobis - 0.5 * log_det + np.log(len(c) / len(x)))
    return np.exp(log_joint[1] - np.logaddexp(log_joint[0], log_joint[1]))


@fit_generative_classifier.property("its posterior sigmoid(w·x + b) equals the fitted Gaussians'",
                                    inputs.gaussian_classes(), max_examples=10)
def _(trial, ex):
    w, b = _call_fit(trial, ex)
    others = np.random.default_rng(trial.seed).normal(0.0, 2.0, size=(5, ex["x"].shape[1]))
    points = np.vstack([ex["x"], others])
    mistakes = {hint: (lambda fit=fit: _posterior(points, *fit())) for hint, fit in _mistaken_fits(**ex).items()}
    expect_close(_posterior(points, w, b), _gaussian_posterior(ex["x"], ex["y"], points), rtol=1e-6, atol=1e-9,
                 what="P(y=1 | x) at the training points and 5 others", mistakes=mistakes)


@fit_generative_classifier.property("a singular covariance (constant or duplicated feature) uses the pseudo-inverse",
                                    inputs.singular_gaussian_classes(), max_examples=15)
def _(trial, ex):
    _compare_fit(trial, ex, singular=True)


@fit_generative_classifier.check("one sample per class: Σ = 0, so w = 0 and b = ln(N1/N0)")
def _(trial):
    for x, y in ((np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([1, 0])),
                 (np.array([[0.5], [0.5], [-2.0]]), np.array([1, 1, 0]))):
        _compare_fit(trial, {"x": x, "y": y}, singular=True)


EXERCISES = [one_hot, softmax, cross_entropy, fit_generative_classifier]
