"""Inputs for the Lecture 2 classification exercises (also used by backprop's loss)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lhy_grader.inputs.strategies import HUGE, TYPICAL, arrays, seeds, sizes


def labels(n: int, num_classes: int) -> st.SearchStrategy[np.ndarray]:
    """int64 class labels [n] in ``range(num_classes)`` (shrinks towards class 0)."""
    return hnp.arrays(np.int64, n, elements=st.integers(0, num_classes - 1))


@st.composite
def labels_and_classes(draw, max_n: int = 8, max_c: int = 6) -> dict:
    """labels [N], num_classes C."""
    n, c = draw(sizes(1, max_n)), draw(sizes(1, max_c))
    return {"labels": draw(labels(n, c)), "num_classes": c}


@st.composite
def logits_and_labels(draw, magnitude: float = TYPICAL, name: str = "logits", max_n: int = 6,
                      max_c: int = 5) -> dict:
    """``name`` [N, C] with entries in ±magnitude, labels [N] in range(C)."""
    n, c = draw(sizes(1, max_n)), draw(sizes(2, max_c))
    return {name: draw(arrays((n, c), -magnitude, magnitude)), "labels": draw(labels(n, c))}


def logit_matrices(magnitude: float = TYPICAL, max_n: int = 6, max_c: int = 5) -> st.SearchStrategy[dict]:
    """logits [N, C] (softmax along the default last axis)."""
    shapes = st.tuples(sizes(1, max_n), sizes(2, max_c))
    return shapes.flatmap(lambda shape: arrays(shape, -magnitude, magnitude)).map(lambda z: {"logits": z})


@st.composite
def logits_with_axis(draw) -> dict:
    """logits of 1 to 3 dimensions and an ``axis`` in ``range(-ndim, ndim)``."""
    shape = tuple(draw(st.lists(sizes(1, 4), min_size=1, max_size=3)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return {"logits": draw(arrays(shape)), "axis": axis}


def huge_logit_matrices() -> st.SearchStrategy[dict]:
    return logit_matrices(HUGE)


@st.composite
def gaussian_classes(draw, max_d: int = 3, max_per_class: int = 8) -> dict:
    """x [N, D], y [N] in {0, 1}: two Gaussian classes with a shared covariance, in shuffled
    order. Each class has at least D + 1 samples, so the pooled covariance is invertible."""
    d = draw(sizes(1, max_d))
    n0, n1 = draw(sizes(d + 1, max_per_class)), draw(sizes(d + 1, max_per_class))
    x, y = _two_gaussians(draw(seeds()), d, n0, n1)
    return {"x": x, "y": y}


@st.composite
def singular_gaussian_classes(draw, max_d: int = 3, max_per_class: int = 8) -> dict:
    """Like ``gaussian_classes`` with one extra feature that makes the covariance singular:
    a constant (an exact small integer) or an exact copy of another feature."""
    d = draw(sizes(1, max_d))
    n0, n1 = draw(sizes(d + 2, max_per_class)), draw(sizes(d + 2, max_per_class))
    x, y = _two_gaussians(draw(seeds()), d, n0, n1)
    if draw(st.booleans()):
        extra = np.full(len(y), float(draw(st.integers(-2, 2))))
    else:
        extra = x[:, draw(st.integers(0, d - 1))]
    at = draw(st.integers(0, d))
    return {"x": np.insert(x, at, extra, axis=1), "y": y}


def _two_gaussians(seed: int, d: int, n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples of N(μ0, AAᵀ) and N(μ1, AAᵀ), rows shuffled, from one seed."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) + 2.0 * np.eye(d)            # shared covariance AAᵀ
    means = rng.normal(0.0, 1.5, size=(2, d))
    y = rng.permutation(np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    x = means[y] + rng.normal(size=(n0 + n1, d)) @ mixing.T
    return x, y
