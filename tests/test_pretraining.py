"""pretraining.py: the reference passes; realistic mistakes are caught with the right message;
the statistical margins are sound."""

from __future__ import annotations

import math

import pytest

from lhy_grader import catalogue
from lhy_grader.catalogue.pretraining import binomial_margin
from lhy_grader.runner import grade_submission
from tests.variants import assert_caught, assert_full_marks, grade_variant, make_variant

EXERCISES = ["mlm_mask", "next_sentence_pairs", "sample_next_token", "generate"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"pretraining.{function}"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_passes_the_statistical_checks_under_other_seeds(worker, tmp_path, seed):
    folder = make_variant(tmp_path, "pretraining")
    result = grade_submission(folder, catalogue.select(["pretraining"]), seed=seed, worker=worker)
    for exercise in result.exercises:
        assert_full_marks(exercise)


def _exact_two_sided_tail(n: int, p: float, t: float) -> float:
    """P(|Binomial(n, p) − np| ≥ t), summed exactly in log space."""
    def log_pmf(k: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                + k * math.log(p) + (n - k) * math.log1p(-p))
    return sum(math.exp(log_pmf(k)) for k in range(n + 1) if abs(k - n * p) >= t)


@pytest.mark.parametrize("n,p,delta", [(500, 0.865, 2.5e-8), (300, 0.27, 3.3e-8), (3000, 0.5, 1e-7),
                                       (64800, 0.1 / 12, 1e-8), (50, 0.02, 1e-7)])
def test_bernstein_margin_is_conservative(n, p, delta):
    margin = binomial_margin(n, p, delta)
    assert _exact_two_sided_tail(n, p, margin) <= delta
    assert margin < 12 * math.sqrt(n * p * (1 - p)) + 12  # and not absurdly wide


SELECT = "selected = (select_draw < mask_prob) & ~special_mask"
LABELS = "labels = torch.where(selected, tokens, torch.full_like(tokens, -100))"
MASK_INPUTS = "inputs = torch.where(to_mask, torch.full_like(tokens, mask_id), tokens)"
TO_RANDOM = "to_random = selected & (action_draw >= 0.8) & (action_draw < 0.9)"
RANDINT = "torch.randint(vocab_size, tokens.shape"
NEGATIVE = "other = rng.randrange(len(documents) - 1)\n                other += other >= d"
SAMPLE_CALL = "sample_next_token(next_logits_fn(list(tokens)), temperature, top_k, generator)"
EOS_STOP = "tokens.append(token)\n        if token == eos_id:\n            break"

BUGS = [
    # (exercise, replacements, failing check, hint, status)
    ("mlm_mask", {"(select_draw < mask_prob)": "(select_draw < 0.15)"}, "with probability mask_prob",
     "mask_prob is ignored", "failed"),
    ("mlm_mask", {MASK_INPUTS: "inputs = torch.where(to_mask, random_tokens, tokens)"}, "80% become [MASK]",
     "80% of the selected positions must become mask_id", "failed"),
    ("mlm_mask", {TO_RANDOM: "to_random = selected & (torch.rand(tokens.shape, generator=generator) < 0.1)"},
     "80% become [MASK]", "independent draws", "failed"),
    ("mlm_mask", {LABELS: "labels = tokens.clone()"}, "labels: the original token", "labels equal tokens everywhere",
     "failed"),
    ("mlm_mask", {SELECT: "selected = select_draw < mask_prob"}, "labels: the original token",
     "special positions", "failed"),
    ("mlm_mask", {LABELS: "labels = torch.where(selected & (action_draw < 0.8), tokens, torch.full_like(tokens, -100))"},
     "labels: the original token", "EVERY selected position", "failed"),
    ("mlm_mask", {LABELS: "labels = torch.where(selected, tokens, torch.full_like(tokens, -1))"},
     "labels: the original token", "use -100", "failed"),
    ("mlm_mask", {RANDINT: "torch.randint(vocab_size - 1, tokens.shape"}, "uniform over range(vocab_size)",
     "off by one", "failed"),
    ("mlm_mask", {RANDINT: "torch.randint(3, vocab_size, tokens.shape"}, "uniform over range(vocab_size)",
     "special ids included", "failed"),
    ("mlm_mask", {"generator=generator, device=draw_on": "device=draw_on"}, "the same generator seed",
     "global random state", "failed"),
    ("mlm_mask", {MASK_INPUTS: "inputs = tokens\n    inputs[to_mask] = mask_id"}, "leaves its inputs unchanged",
     "in-place", "failed"),
    ("next_sentence_pairs", {NEGATIVE: "other = rng.randrange(len(documents))"}, "label 0 = a sentence of another",
     "exclude the current one", "failed"),
    ("next_sentence_pairs", {"rng.choice(documents[other])":
                             "documents[other][rng.randrange(max(len(documents[other]) - 1, 1))]"},
     "every sentence of every other document", "last sentence", "failed"),
    ("next_sentence_pairs", {NEGATIVE: "other = (d + 1) % len(documents)"}, "every sentence of every other document",
     "ALL other documents", "failed"),
    ("next_sentence_pairs", {"(first, second, 1)": "(first, second, 0)", "rng.choice(documents[other]), 0)":
                             "rng.choice(documents[other]), 1)"}, "label 1 = true successor", "swapped", "failed"),
    ("next_sentence_pairs", {"import torch": "import random\nimport torch", "rng.random() < 0.5": "random.random() < 0.5"},
     "the same rng seed", "not the `random` module", "failed"),
    ("next_sentence_pairs", {"rng.random() < 0.5": "rng.random() < 0.2"}, "probability 1/2", None, "failed"),
    ("sample_next_token", {"scaled = logits / temperature  # [V]": "scaled = logits",
                           "probs = torch.softmax(scaled, dim=-1)  # [V]":
                           "probs = torch.softmax(scaled, dim=-1) / temperature"},
     "softmax(logits / temperature)", "temperature is ignored", "failed"),
    ("sample_next_token", {"scaled = logits / temperature  # [V]": "scaled = logits * temperature"},
     "softmax(logits / temperature)", "multiplied by the temperature", "failed"),
    ("sample_next_token", {"torch.topk(logits, top_k)": "torch.topk(logits, top_k + 1)"}, "top_k keeps exactly",
     "k + 1", "failed"),
    ("sample_next_token", {"torch.topk(logits, top_k)": "torch.topk(logits, top_k, largest=False)"},
     "top_k keeps exactly", "SMALLEST", "failed"),
    ("sample_next_token", {'float("-inf")': "0.0"}, "top_k keeps exactly", "−inf (0 is not enough)", "failed"),
    ("sample_next_token", {"generator=generator))": "))"}, "the same generator seed", "global random state", "failed"),
    ("sample_next_token", {"return int(torch.multinomial(": "return (torch.multinomial("}, "returns an int",
     "Python int", "failed"),
    ("sample_next_token", {"return int(torch.argmax(logits))":
                           "return len(logits) - 1 - int(torch.argmax(logits.flip(0)))"},
     "temperature 0 returns the first argmax", "LAST maximum", "failed"),
    ("sample_next_token", {"if top_k is not None and top_k < logits.shape[-1]:": "if top_k is not None:"},
     "top_k ≥ V restricts nothing", None, "error"),
    ("generate", {EOS_STOP: "if token == eos_id:\n            break\n        tokens.append(token)"},
     "stops right after eos_id", "eos_id is not included", "failed"),
    ("generate", {EOS_STOP: "tokens.append(token)"}, "stops right after eos_id", "continues after eos_id", "failed"),
    ("generate", {"    return tokens\n    ### END": "    return tokens[len(prompt):]\n    ### END"},
     "equals the greedy continuation", "prompt is missing", "failed"),
    ("generate", {SAMPLE_CALL: "sample_next_token(next_logits_fn(list(tokens)), top_k=top_k, generator=generator)"},
     "samples every token", "temperature is not passed on", "failed"),
    ("generate", {SAMPLE_CALL: "sample_next_token(next_logits_fn(list(tokens)), temperature, generator=generator)"},
     "samples every token", "top_k is not passed on", "failed"),
    ("generate", {SAMPLE_CALL: "sample_next_token(next_logits_fn(list(tokens)), temperature, top_k)"},
     "the same generator seed", "pass `generator` on", "failed"),
    ("generate", {"next_logits_fn(list(tokens))": "next_logits_fn(tokens[-1:])"}, "once per new token",
     "not just the last token", "failed"),
    ("generate", {"for _ in range(max_new_tokens):": "for _ in range(max_new_tokens + 1):"},
     "equals the greedy continuation", "one token too many", "failed"),
]


@pytest.mark.parametrize("function,replacements,check,hint,status", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint, status):
    result = grade_variant(worker, tmp_path, f"pretraining.{function}", replacements)
    assert_caught(result, check, hint, status=status)
