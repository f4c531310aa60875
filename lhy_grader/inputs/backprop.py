"""Inputs for the Lecture 1 backpropagation exercises: a two-layer ReLU network."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lhy_grader.inputs.classification import logits_and_labels
from lhy_grader.inputs.strategies import HUGE, TYPICAL, arrays, sizes


@st.composite
def mlp_inputs(draw, max_n: int = 5, max_d: int = 4, max_h: int = 5, max_c: int = 4,
               with_dscores: bool = False) -> dict:
    """x [N, D] and params W1 [D, H], b1 [H], W2 [H, C], b2 [C]; with ``with_dscores``
    also the upstream gradient dscores [N, C]."""
    n, d, h, c = draw(sizes(1, max_n)), draw(sizes(1, max_d)), draw(sizes(1, max_h)), draw(sizes(1, max_c))
    params = {"W1": draw(arrays((d, h), -3, 3)), "b1": draw(arrays(h, -3, 3)),
              "W2": draw(arrays((h, c), -3, 3)), "b2": draw(arrays(c, -3, 3))}
    example = {"x": draw(arrays((n, d), -3, 3)), "params": params}
    if with_dscores:
        example["dscores"] = draw(arrays((n, c), -3, 3))
    return example


def backward_inputs() -> st.SearchStrategy[dict]:
    """Typical inputs: no hidden pre-activation is exactly 0 (that case has its own check)."""
    return mlp_inputs(with_dscores=True).filter(_no_zero_preactivation)


def _no_zero_preactivation(ex: dict) -> bool:
    return bool(np.all(ex["x"] @ ex["params"]["W1"] + ex["params"]["b1"] != 0))


@st.composite
def zero_preactivation_inputs(draw, max_n: int = 4, max_d: int = 3, max_h: int = 4, max_c: int = 3) -> dict:
    """Like ``backward_inputs`` with small-integer x, W1, b1 chosen so that every hidden
    pre-activation of sample 0 (and often others) is exactly 0."""
    n, d, h, c = draw(sizes(1, max_n)), draw(sizes(1, max_d)), draw(sizes(1, max_h)), draw(sizes(1, max_c))
    x = _small_integers(draw, (n, d))
    w1 = _small_integers(draw, (d, h))
    params = {"W1": w1, "b1": -(x[0] @ w1), "W2": draw(arrays((h, c), -3, 3)), "b2": draw(arrays(c, -3, 3))}
    return {"x": x, "params": params, "dscores": draw(arrays((n, c), -3, 3))}


def _small_integers(draw, shape: tuple[int, ...]) -> np.ndarray:
    return draw(hnp.arrays(np.int64, shape, elements=st.integers(-2, 2))).astype(np.float64)


def scores_and_labels(magnitude: float = TYPICAL) -> st.SearchStrategy[dict]:
    """scores [N, C] in ±magnitude and labels [N]."""
    return logits_and_labels(magnitude, name="scores")


def huge_scores_and_labels() -> st.SearchStrategy[dict]:
    return scores_and_labels(HUGE)
