"""backprop.py: the reference passes; realistic mistakes are caught with the right message."""

from __future__ import annotations

import pytest

from tests.variants import assert_caught, assert_full_marks, grade_variant

EXERCISES = ["mlp_forward", "mlp_backward", "softmax_cross_entropy"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"backprop.{function}"))


FORWARD = "    cache = (x, params[\"W1\"], params[\"W2\"], z, h)\n    return scores, cache\n"
BACKWARD_UNPACK = "    x, W1, W2, z, h = cache\n"
MASK = "dz = dh * (z > 0)            # [N, H]"
LOSS = "loss = -log_probs[rows, labels].mean()"


@pytest.mark.parametrize("cache", [
    # an object of the student's own class stays in the worker and comes back as itself
    "class Cache:\n    pass\n\n\n",
    # a closure cannot cross to the grader either
    "",
])
def test_any_cache_object_works(worker, tmp_path, cache):
    if cache:
        replacements = {
            "def mlp_forward(x, params):": cache + "def mlp_forward(x, params):",
            FORWARD: "    cache = Cache()\n    cache.values = (x, params[\"W1\"], params[\"W2\"], z, h)\n"
                     "    return scores, cache\n",
            BACKWARD_UNPACK: "    x, W1, W2, z, h = cache.values\n",
        }
    else:
        replacements = {
            FORWARD: "    saved = (x, params[\"W1\"], params[\"W2\"], z, h)\n    return scores, lambda: saved\n",
            BACKWARD_UNPACK: "    x, W1, W2, z, h = cache()\n",
        }
    assert_full_marks(grade_variant(worker, tmp_path, "backprop.mlp_backward", replacements))


def test_backward_is_not_implemented_while_both_are_stubs(worker, tmp_path):
    stub = "    raise NotImplementedError\n"
    result = grade_variant(worker, tmp_path, "backprop.mlp_backward", {
        "    z = x @ params[\"W1\"] + params[\"b1\"]         # [N, H] pre-activations\n": stub,
        BACKWARD_UNPACK: stub,
    })
    assert result.status == "not_implemented" and result.score == 0


def test_backward_with_a_missing_forward_says_so(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "backprop.mlp_backward", {
        "    z = x @ params[\"W1\"] + params[\"b1\"]         # [N, H] pre-activations\n":
            "    raise NotImplementedError\n"})
    assert_caught(result, "matches the chain rule", message="implement mlp_forward first")


ALTERNATIVES = [
    # other correct ways to write it
    ("mlp_forward", {FORWARD: "    return scores, {\"x\": x, \"z\": z}\n"}),
    ("mlp_backward", {MASK: "dz = np.where(h > 0, dh, 0.0)"}),
    ("softmax_cross_entropy", {
        "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))":
        "log_probs = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)"}),
]


@pytest.mark.parametrize("function,replacements", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_other_correct_version_gets_full_marks(worker, tmp_path, function, replacements):
    assert_full_marks(grade_variant(worker, tmp_path, f"backprop.{function}", replacements))


BUGS = [
    # (exercise, replacements, failing check, hint)
    ("mlp_forward", {"h = np.maximum(0.0, z)": "h = z"}, "matches relu", "ReLU is missing"),
    ("mlp_forward", {"z = x @ params[\"W1\"] + params[\"b1\"]": "z = x @ params[\"W1\"]",
                     "h = np.maximum(0.0, z)": "h = np.maximum(0.0, z) + params[\"b1\"]"},
     "matches relu", "b1 is added after the ReLU"),
    ("mlp_forward", {"scores = h @ params[\"W2\"] + params[\"b2\"]": "scores = h @ params[\"W2\"]"},
     "matches relu", "b2 is missing"),
    ("mlp_forward", {"    return scores, cache\n": "    return scores\n"}, "matches relu", "return the cache too"),
    ("mlp_forward", {"h = np.maximum(0.0, z)": "h = 1.0 / (1.0 + np.exp(-z))"}, "matches relu", None),
    ("mlp_backward", {MASK: "dz = dh * (z >= 0)"}, "exactly 0", "mask z >= 0"),
    ("mlp_backward", {MASK: "dz = dh"}, "matches the chain rule", "derivative is missing"),
    ("mlp_backward", {', "x": dx}': "}"}, "matches the chain rule", '"x" is missing'),
    ("mlp_backward", {"db1 = dz.sum(axis=0)": "db1 = dz.sum(axis=1)"}, "matches the chain rule", "wrong axis"),
    ("mlp_backward", {"db2 = dscores.sum(axis=0)": "db2 = dscores.sum(axis=1)"}, "matches the chain rule",
     "wrong axis"),
    ("mlp_backward", {"dW2 = h.T @ dscores": "dW2 = z.T @ dscores"}, "matches the chain rule", "pre-activation z"),
    ("mlp_backward", {MASK: "z[z <= 0] = 0\n    dz = dh * (z > 0)"}, "leaves its inputs unchanged", "in-place"),
    ("softmax_cross_entropy", {LOSS: "loss = -log_probs[rows, labels].sum()"}, "matches the mean",
     "not averaged"),
    ("softmax_cross_entropy", {"return float(loss), dscores / n": "return float(loss), dscores"},
     "matches the mean", "not divided by N"),
    ("softmax_cross_entropy", {"dscores[rows, labels] -= 1.0": "pass"}, "matches the mean", "not subtracted"),
    ("softmax_cross_entropy", {"shifted = scores - scores.max(axis=1, keepdims=True)": "shifted = scores"},
     "warning-free", "overflows"),
    ("softmax_cross_entropy", {
        "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))":
        "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))"},
     "warning-free", "underflowed"),
    ("softmax_cross_entropy", {"shifted = scores - scores.max(axis=1, keepdims=True)":
                               "shifted = scores - scores.max(axis=0, keepdims=True)",
                               "np.exp(shifted).sum(axis=1, keepdims=True)": "np.exp(shifted).sum(axis=0, keepdims=True)"},
     "matches the mean", "wrong axis"),
]


@pytest.mark.parametrize("function,replacements,check,hint", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint):
    result = grade_variant(worker, tmp_path, f"backprop.{function}", replacements)
    assert_caught(result, check, hint)
