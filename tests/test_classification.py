"""classification.py: the reference passes; realistic mistakes are caught with the right message."""

from __future__ import annotations

import pytest

from tests.variants import assert_caught, assert_full_marks, grade_variant

EXERCISES = ["one_hot", "softmax", "cross_entropy", "fit_generative_classifier"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"classification.{function}"))


ONE_HOT = "    encoded = np.zeros((len(labels), num_classes))   # [N, C] float64\n"
SHIFT = "shifted = logits - logits.max(axis=axis, keepdims=True)"
LOG_PROBS = "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))"
PINV = "sigma_inv = np.linalg.pinv((scatter0 + scatter1) / (n0 + n1))"


ALTERNATIVES = [
    # other correct ways to write it
    ("one_hot", {ONE_HOT: "    return np.eye(num_classes)[labels]\n"}),
    ("softmax", {SHIFT: "shifted = logits - np.logaddexp.reduce(logits, axis=axis, keepdims=True)"}),
    ("cross_entropy", {LOG_PROBS: "log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)"}),
    ("fit_generative_classifier", {
        PINV: "sigma_inv = np.linalg.lstsq((scatter0 + scatter1) / (n0 + n1), np.eye(len(mu0)), rcond=None)[0]"}),
]


@pytest.mark.parametrize("function,replacements", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_other_correct_version_gets_full_marks(worker, tmp_path, function, replacements):
    assert_full_marks(grade_variant(worker, tmp_path, f"classification.{function}", replacements))


BUGS = [
    # (exercise, replacements, failing check, hint)
    ("one_hot", {ONE_HOT: "    encoded = np.zeros((len(labels), num_classes), dtype=int)\n"}, "as floats",
     "must return floats"),
    ("one_hot", {ONE_HOT: "    encoded = np.zeros((len(labels), labels.max() + 1))\n"}, "wider than every label",
     "labels.max() + 1"),
    ("one_hot", {ONE_HOT: "    return (labels[:, None] == np.arange(num_classes)[None, :])\n"}, "as floats",
     "must return floats"),
    ("one_hot", {"encoded[np.arange(len(labels)), labels] = 1.0\n    return encoded":
                 "encoded[np.arange(len(labels)), labels] = 1.0\n    return encoded.T"}, "as floats", "transposed"),
    ("softmax", {SHIFT: "shifted = logits"}, "warning-free", "overflows"),
    ("softmax", {"exps.sum(axis=axis, keepdims=True)": "exps.sum()"}, "over the last axis", "whole array"),
    ("softmax", {SHIFT: "shifted = logits - logits.max(axis=-1, keepdims=True)",
                 "exps.sum(axis=axis, keepdims=True)": "exps.sum(axis=-1, keepdims=True)"},
     "along any axis", "axis argument is ignored"),
    ("softmax", {SHIFT: "shifted = logits - logits.max(axis=0, keepdims=True)",
                 "exps.sum(axis=axis, keepdims=True)": "exps.sum(axis=0, keepdims=True)"},
     "over the last axis", "along axis 0"),
    ("cross_entropy", {"return float(-log_probs[np.arange(len(labels)), labels].mean())":
                       "return float(-log_probs[np.arange(len(labels)), labels].sum())"},
     "mean over the batch", "not averaged"),
    ("cross_entropy", {"shifted = logits - logits.max(axis=1, keepdims=True)": "shifted = logits"},
     "warning-free", "overflows"),
    ("cross_entropy", {LOG_PROBS: "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))"},
     "warning-free", "underflowed"),
    ("cross_entropy", {"return float(-log_probs": "return float(log_probs"}, "mean over the batch", "minus sign"),
    ("cross_entropy", {"shifted = logits - logits.max(axis=1, keepdims=True)":
                       "shifted = logits - logits.max(axis=0, keepdims=True)",
                       "np.exp(shifted).sum(axis=1, keepdims=True)": "np.exp(shifted).sum(axis=0, keepdims=True)"},
     "mean over the batch", "wrong axis"),
    ("fit_generative_classifier", {PINV: "sigma_inv = np.linalg.pinv((scatter0 + scatter1) / (n0 + n1 - 2))"},
     "maximum-likelihood", "N − 2"),
    ("fit_generative_classifier", {PINV: "sigma_inv = np.linalg.pinv(np.cov(x0.T).reshape(len(mu0), -1) * n0 / (n0 + n1)"
                                   " + np.cov(x1.T).reshape(len(mu0), -1) * n1 / (n0 + n1))"},
     "maximum-likelihood", "np.cov's default"),
    ("fit_generative_classifier", {PINV: "sigma_inv = np.linalg.pinv((scatter0 / n0 + scatter1 / n1) / 2)"},
     "maximum-likelihood", "weighted by their counts"),
    ("fit_generative_classifier", {" + np.log(n1 / n0)": ""}, "maximum-likelihood", "priors are ignored"),
    ("fit_generative_classifier", {"w = sigma_inv @ (mu1 - mu0)": "w = sigma_inv @ (mu0 - mu1)"},
     "maximum-likelihood", "classes are swapped"),
    ("fit_generative_classifier", {PINV: "sigma_inv = np.linalg.inv((scatter0 + scatter1) / (n0 + n1))"},
     "pseudo-inverse", "np.linalg.pinv"),
    ("fit_generative_classifier", {PINV: "sigma_inv = np.linalg.pinv(np.cov(x.T, bias=True).reshape(len(mu0), -1))"},
     "maximum-likelihood", "global mean"),
]


@pytest.mark.parametrize("function,replacements,check,hint", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint):
    result = grade_variant(worker, tmp_path, f"classification.{function}", replacements)
    assert_caught(result, check, hint)
