"""Checks for backprop.py (Lecture 1: backpropagation).

``mlp_forward`` returns a cache of the student's own design, so ``mlp_backward`` is
always graded through the student's ``mlp_forward``: the cache (plain arrays, or an
object that stays in the worker) is passed back unchanged.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lhy_grader.catalogue.base import Exercise
from lhy_grader.catalogue.classification import cross_entropy_mistakes, expect_stable, softmax_along
from lhy_grader.compare import CheckFailed, expect_array, expect_close, expect_float, matches
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import backprop as inputs
from lhy_grader.worker.client import NotImplementedYet, StudentRaised

ref = reference("backprop")

GRADIENT_KEYS = ("W1", "b1", "W2", "b2", "x")


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, z)


def _as_torch(ex: dict, requires_grad: bool = False) -> dict:
    """float64 torch copies of x and the parameters of one example."""
    import torch
    return {key: torch.tensor(value, dtype=torch.float64, requires_grad=requires_grad)
            for key, value in {"x": ex["x"], **ex["params"]}.items()}


def _type_name(value) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


# ---------------------------------------------------------------------------
mlp_forward = Exercise("backprop", "mlp_forward", points=2, arg_names=("x", "params"))


def _expect_scores(got, x: np.ndarray, params: dict) -> np.ndarray:
    """The scores of an ``mlp_forward`` reply, which must be a pair ``(scores, cache)``."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CheckFailed(f"mlp_forward should return a pair (scores, cache), got {_type_name(got)}",
                          "return the cache too: `return scores, cache`")
    return expect_array(got[0], (x.shape[0], params["W2"].shape[1]), what="scores")


def _forward_mistakes(x: np.ndarray, p: dict) -> dict:
    z = x @ p["W1"] + p["b1"]
    return {
        "the ReLU is missing: h = max(0, x @ W1 + b1)": lambda: z @ p["W2"] + p["b2"],
        "b1 is added after the ReLU: it belongs inside, relu(x @ W1 + b1)":
            lambda: (_relu(x @ p["W1"]) + p["b1"]) @ p["W2"] + p["b2"],
        "the hidden bias b1 is missing": lambda: _relu(x @ p["W1"]) @ p["W2"] + p["b2"],
        "the output bias b2 is missing": lambda: _relu(z) @ p["W2"],
        "the ReLU is applied to the output scores too": lambda: _relu(_relu(z) @ p["W2"] + p["b2"]),
    }


@mlp_forward.property("matches relu(x @ W1 + b1) @ W2 + b2", inputs.mlp_inputs())
def _(trial, ex):
    scores = _expect_scores(trial.call(**ex), **ex)
    expected, _ = ref.mlp_forward(**ex)
    expect_close(scores, expected, rtol=1e-9, atol=1e-10, what="scores",
                 mistakes=_forward_mistakes(ex["x"], ex["params"]))


@mlp_forward.property("agrees with torch (F.linear, relu)", inputs.mlp_inputs(), max_examples=10)
def _(trial, ex):
    import torch.nn.functional as F
    t = _as_torch(ex)
    expected = F.linear(F.relu(F.linear(t["x"], t["W1"].T, t["b1"])), t["W2"].T, t["b2"])
    expect_close(_expect_scores(trial.call(**ex), **ex), expected.numpy(), rtol=1e-9, atol=1e-10, what="scores",
                 mistakes=_forward_mistakes(ex["x"], ex["params"]))


@mlp_forward.check("one sample, one hidden unit")
def _(trial):
    x = trial.rng.normal(size=(1, 3))
    params = {"W1": trial.rng.normal(size=(3, 1)), "b1": np.array([0.5]),
              "W2": trial.rng.normal(size=(1, 2)), "b2": trial.rng.normal(size=2)}
    expected, _ = ref.mlp_forward(x, params)
    expect_close(_expect_scores(trial.call(x, params), x, params), expected, rtol=1e-9, atol=1e-10,
                 what="scores", mistakes=_forward_mistakes(x, params))


# ---------------------------------------------------------------------------
mlp_backward = Exercise("backprop", "mlp_backward", points=4, arg_names=("dscores", "cache"))

FORWARD_FIRST = "mlp_backward is graded through the cache of your mlp_forward"


def _student_cache(trial, ex: dict):
    """The cache of the student's ``mlp_forward`` on ``ex``, once its scores are right."""
    recorded = len(trial.mutations)
    try:
        got = trial.call(ex["x"], ex["params"], function="mlp_forward")
        del trial.mutations[recorded:]  # an in-place write there is mlp_forward's own check's business
    except NotImplementedYet:
        _raise_if_backward_unimplemented(trial, ex["dscores"])
        raise CheckFailed(f"{FORWARD_FIRST}, which still raises NotImplementedError: "
                          f"implement mlp_forward first") from None
    except StudentRaised as e:
        raise CheckFailed(f"{FORWARD_FIRST}, which raised {e}: fix mlp_forward first") from None
    expected, _ = ref.mlp_forward(ex["x"], ex["params"])
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and matches(got[0], expected, 1e-9, 1e-10)):
        raise CheckFailed(f"{FORWARD_FIRST}, whose scores are wrong (see the mlp_forward checks): "
                          f"fix mlp_forward first")
    return got[1]


def _raise_if_backward_unimplemented(trial, dscores: np.ndarray) -> None:
    """Let a still-unimplemented mlp_backward be reported as such (its stub raises at once)."""
    try:
        trial.call(dscores, None)
    except NotImplementedYet:
        raise
    except StudentRaised:
        pass  # mlp_backward exists: the missing mlp_forward is what to report


def _expect_gradients(got) -> dict:
    """A dict holding an array for every key of GRADIENT_KEYS (shapes are compared later)."""
    if not isinstance(got, dict):
        raise CheckFailed(f"mlp_backward should return a dict of gradients, got {_type_name(got)}")
    missing = [key for key in GRADIENT_KEYS if key not in got]
    if missing:
        hint = ('the gradient with respect to the input "x" is missing: one more step of the chain '
                'rule, dx = dz @ W1ᵀ (a deeper network would pass it on to the layer below)'
                if missing == ["x"] else None)
        raise CheckFailed(f"the gradient dict has no key {', '.join(map(repr, missing))}; "
                          f"expected the keys {', '.join(map(repr, GRADIENT_KEYS))}", hint)
    for key in GRADIENT_KEYS:
        if not isinstance(got[key], np.ndarray):
            raise CheckFailed(f'the gradient "{key}" should be a NumPy array, got {_type_name(got[key])}')
    return got


def _chain_rule(ex: dict, relu_derivative: np.ndarray | None = None) -> dict:
    """The gradients for a given ReLU derivative (default: the true one, 1 where z > 0), with
    ``"dz"``. Only used to name mistakes: the expected values come from the reference and torch."""
    x, p, dscores = ex["x"], ex["params"], ex["dscores"]
    z = x @ p["W1"] + p["b1"]
    dz = dscores @ p["W2"].T * (z > 0 if relu_derivative is None else relu_derivative)
    return {"W1": x.T @ dz, "b1": dz.sum(axis=0), "W2": _relu(z).T @ dscores, "b2": dscores.sum(axis=0),
            "x": dz @ p["W1"].T, "dz": dz}


def _mistaken_backprops(ex: dict) -> dict[str, Callable[[], dict]]:
    """hint → a function computing every gradient as that mistake does."""
    z = ex["x"] @ ex["params"]["W1"] + ex["params"]["b1"]

    def summed_over_features() -> dict:
        right = _chain_rule(ex)
        return {**right, "b1": right["dz"].sum(axis=1), "b2": ex["dscores"].sum(axis=1)}

    return {
        "the ReLU's derivative at exactly z = 0 is taken as 1 (a mask z >= 0): it is 0 there, as in "
        "torch (use z > 0)": lambda: _chain_rule(ex, z >= 0),
        "the ReLU's derivative is missing: multiply dh by the mask (z > 0)": lambda: _chain_rule(ex, np.ones_like(z)),
        "dW2 uses the pre-activation z instead of h = relu(z)": lambda: {**_chain_rule(ex), "W2": z.T @ ex["dscores"]},
        "the bias gradient is summed over the wrong axis: sum over the batch (axis 0)": summed_over_features,
    }


def _compare_gradients(got: dict, expected: dict, ex: dict) -> None:
    mistaken = _mistaken_backprops(ex)
    for key in ("W2", "b2", "W1", "b1", "x"):
        expect_close(got[key], expected[key], rtol=1e-9, atol=1e-9, what=f'the gradient "{key}"',
                     mistakes={hint: (lambda grads=grads: grads()[key]) for hint, grads in mistaken.items()})


def _backward(trial, ex: dict) -> dict:
    cache = _student_cache(trial, ex)
    return _expect_gradients(trial.call(ex["dscores"], cache))


def _torch_gradients(ex: dict) -> dict:
    """Autograd's gradients of sum(dscores * scores) for the same network in float64."""
    import torch
    t = _as_torch(ex, requires_grad=True)
    scores = torch.relu(t["x"] @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    (scores * torch.from_numpy(ex["dscores"])).sum().backward()
    return {key: tensor.grad.numpy() for key, tensor in t.items()}


@mlp_backward.property("matches the chain rule (every gradient, x included)", inputs.backward_inputs())
def _(trial, ex):
    expected = ref.mlp_backward(ex["dscores"], ref.mlp_forward(ex["x"], ex["params"])[1])
    _compare_gradients(_backward(trial, ex), expected, ex)


@mlp_backward.property("agrees with torch autograd", inputs.backward_inputs(), max_examples=10)
def _(trial, ex):
    _compare_gradients(_backward(trial, ex), _torch_gradients(ex), ex)


@mlp_backward.property("ReLU derivative is 0 at a pre-activation of exactly 0 (as torch)",
                       inputs.zero_preactivation_inputs(), max_examples=15)
def _(trial, ex):
    _compare_gradients(_backward(trial, ex), _torch_gradients(ex), ex)


@mlp_backward.check("zero gradients: dscores = 0, and a dead ReLU layer")
def _(trial):
    x = trial.rng.normal(size=(4, 3))
    params = {"W1": trial.rng.normal(size=(3, 5)), "b1": np.full(5, -100.0),   # every z < 0
              "W2": trial.rng.normal(size=(5, 2)), "b2": trial.rng.normal(size=2)}
    for dscores in (np.zeros((4, 2)), trial.rng.normal(size=(4, 2))):
        ex = {"x": x, "params": params, "dscores": dscores}
        _compare_gradients(_backward(trial, ex), _torch_gradients(ex), ex)


@mlp_backward.check("one sample (N = 1)")
def _(trial):
    params = {"W1": trial.rng.normal(size=(2, 3)), "b1": trial.rng.normal(size=3),
              "W2": trial.rng.normal(size=(3, 2)), "b2": trial.rng.normal(size=2)}
    ex = {"x": trial.rng.normal(size=(1, 2)), "params": params, "dscores": trial.rng.normal(size=(1, 2))}
    _compare_gradients(_backward(trial, ex), _torch_gradients(ex), ex)


# ---------------------------------------------------------------------------
softmax_cross_entropy = Exercise("backprop", "softmax_cross_entropy", points=3, arg_names=("scores", "labels"))


def _dscores_mistakes(scores: np.ndarray, labels: np.ndarray, dscores: np.ndarray) -> dict:
    n = len(labels)
    return {
        "dscores is not divided by N (the loss is a mean over the batch)": dscores * n,
        "the 1 of the true class is not subtracted: dscores = (softmax − one_hot) / N": softmax_along(scores) / n,
        "the sign of dscores is flipped: (softmax − one_hot) / N": -dscores,
        "the softmax is taken over the wrong axis (over the batch, not over the classes)":
            lambda: (softmax_along(scores, axis=0) - np.eye(scores.shape[1])[labels]) / n,
    }


def _expect_loss_and_gradient(got, shape: tuple[int, int]) -> tuple[float, np.ndarray]:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CheckFailed(f"softmax_cross_entropy should return a pair (loss, dscores), got {_type_name(got)}")
    return expect_float(got[0], what="the loss"), expect_array(got[1], shape, what="dscores")


def _compare_loss_and_gradient(trial, ex: dict, expected: tuple[float, np.ndarray], *,
                               stability: bool = False) -> None:
    loss, dscores = _expect_loss_and_gradient(trial.call(**ex), ex["scores"].shape)
    if stability:
        expect_stable(trial, {"the loss": loss, "dscores": dscores})
    expected_loss, expected_dscores = expected
    expect_close(loss, expected_loss, rtol=1e-9, atol=1e-9, what="the loss",
                 mistakes=cross_entropy_mistakes(ex["scores"], ex["labels"], expected_loss))
    expect_close(dscores, expected_dscores, rtol=1e-9, atol=1e-12, what="dscores",
                 mistakes=_dscores_mistakes(ex["scores"], ex["labels"], expected_dscores))


def _torch_loss_and_gradient(ex: dict) -> tuple[float, np.ndarray]:
    import torch
    import torch.nn.functional as F
    scores = torch.tensor(ex["scores"], requires_grad=True)
    loss = F.cross_entropy(scores, torch.from_numpy(ex["labels"]))
    loss.backward()
    return loss.item(), scores.grad.numpy()


@softmax_cross_entropy.property("matches the mean cross-entropy and (softmax − one_hot) / N",
                                inputs.scores_and_labels())
def _(trial, ex):
    _compare_loss_and_gradient(trial, ex, ref.softmax_cross_entropy(**ex))


@softmax_cross_entropy.property("agrees with F.cross_entropy and its autograd gradient",
                                inputs.scores_and_labels(), max_examples=10)
def _(trial, ex):
    _compare_loss_and_gradient(trial, ex, _torch_loss_and_gradient(ex))


@softmax_cross_entropy.property("finite and warning-free for logits up to ±1e4", inputs.huge_scores_and_labels(),
                                max_examples=10)
def _(trial, ex):
    _compare_loss_and_gradient(trial, ex, _torch_loss_and_gradient(ex), stability=True)


@softmax_cross_entropy.check("one sample, and equal logits give log C")
def _(trial):
    one_sample = {"scores": trial.rng.normal(size=(1, 4)), "labels": np.array([2])}
    _compare_loss_and_gradient(trial, one_sample, ref.softmax_cross_entropy(**one_sample))
    labels = np.array([0, 4, 1])
    _compare_loss_and_gradient(trial, {"scores": np.full((3, 5), 7.0), "labels": labels},
                               (float(np.log(5)), (np.full((3, 5), 0.2) - np.eye(5)[labels]) / 3))


EXERCISES = [mlp_forward, mlp_backward, softmax_cross_entropy]
