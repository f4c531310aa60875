"""Inputs for the Lecture 1 regression exercises."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from lhy_grader.inputs.strategies import arrays, floats, sizes


@st.composite
def linear_inputs(draw, max_n: int = 8, max_d: int = 5) -> dict:
    """x [N, D], w [D], b float."""
    n, d = draw(sizes(1, max_n)), draw(sizes(1, max_d))
    return {"x": draw(arrays((n, d))), "w": draw(arrays(d)), "b": draw(floats())}


@st.composite
def regression_data(draw, min_n: int = 1, max_n: int = 8, max_d: int = 4) -> dict:
    """x [N, D], y [N], w [D], b float."""
    n, d = draw(sizes(min_n, max_n)), draw(sizes(1, max_d))
    return {"x": draw(arrays((n, d))), "y": draw(arrays(n)), "w": draw(arrays(d)), "b": draw(floats())}


@st.composite
def prediction_pairs(draw, max_n: int = 10) -> dict:
    n = draw(sizes(1, max_n))
    return {"y_pred": draw(arrays(n)), "y_true": draw(arrays(n))}


@st.composite
def feature_models(draw, max_n: int = 6, max_d: int = 4, max_h: int = 5) -> dict:
    """x [N, D], W [H, D], b [H], c [H], b0 float: the sigmoid/ReLU feature model."""
    n, d, h = draw(sizes(1, max_n)), draw(sizes(1, max_d)), draw(sizes(1, max_h))
    return {"x": draw(arrays((n, d), -3, 3)), "W": draw(arrays((h, d), -3, 3)),
            "b": draw(arrays(h, -3, 3)), "c": draw(arrays(h, -3, 3)), "b0": draw(floats(-3, 3))}


@st.composite
def quadratic_problems(draw) -> dict:
    """A convex quadratic L(θ) = ½θᵀAθ − cᵀθ, a start θ0, a stable lr and a step count."""
    p = draw(sizes(1, 4))
    m = draw(arrays((p, p), -1, 1))
    return {"A": m @ m.T + 0.5 * np.eye(p), "c": draw(arrays(p, -3, 3)),
            "theta0": draw(arrays(p, -3, 3)), "lr": draw(floats(0.01, 0.2)),
            "num_steps": draw(st.integers(0, 12))}
