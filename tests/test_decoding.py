"""decoding.py: the reference passes; realistic mistakes are caught with the right message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from lhy_grader.catalogue import decoding as checks
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import decoding as inputs
from tests.variants import assert_caught, assert_full_marks, grade_variant

ref = reference("decoding")


@pytest.mark.parametrize("function", ["greedy_decode", "beam_search"])
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"decoding.{function}"))


GREEDY_BUGS = [
    # (replacements, failing check, hint)
    ({"        if token == eos_id:\n            break\n    return prefix[1:]": "    return prefix[1:]"},
     "matches argmax", checks.NO_EOS_STOP),
    ({"    return prefix[1:]\n    ### END SOLUTION\n\n\ndef beam_search": "    return prefix\n    ### END SOLUTION\n\n\n"
                                                                         "def beam_search"},
     "matches argmax", checks.WITH_BOS),
    ({"        prefix.append(token)\n        if token == eos_id:\n            break\n":
      "        if token == eos_id:\n            break\n        prefix.append(token)\n"},
     "matches argmax", checks.EOS_DROPPED),
    ({"    for _ in range(max_len):": "    for _ in range(max_len - 1):"}, "matches argmax", checks.STEP_TOO_FEW),
    ({"    for _ in range(max_len):": "    for _ in range(max_len + 1):"}, "matches argmax", checks.STEP_TOO_MANY),
    ({"token = int(torch.argmax(log_probs[0]))": "token = int(torch.argmin(log_probs[0]))"},
     "matches argmax", checks.ARGMIN),
    ({"token = int(torch.argmax(log_probs[0]))": "token = log_probs[0].numpy().argmax()"},
     "Python ints", checks.PYTHON_TYPES),
    ({"token = int(torch.argmax(log_probs[0]))": "token = int(torch.sort(log_probs[0], stable=True).indices[-1])"},
     "ties", None),
]


@pytest.mark.parametrize("replacements,check,hint", GREEDY_BUGS, ids=[f"greedy-{i}" for i in range(len(GREEDY_BUGS))])
def test_buggy_greedy_is_caught(worker, tmp_path, replacements, check, hint):
    assert_caught(grade_variant(worker, tmp_path, "decoding.greedy_decode", replacements), check, hint)


def test_greedy_without_bos_in_the_prefix_is_an_error_with_a_clear_message(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "decoding.greedy_decode",
                           {"log_probs = step_fn([prefix])": "log_probs = step_fn([prefix[1:]])"})
    assert_caught(result, "matches argmax", status="error", message="must start with bos_id")


def test_greedy_passing_a_flat_prefix_is_an_error_with_a_clear_message(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "decoding.greedy_decode",
                           {"log_probs = step_fn([prefix])": "log_probs = step_fn(prefix)[None]"})
    assert_caught(result, "matches argmax", status="error", message="wrap the prefix in a list")


BEAM_SORT = "        best = torch.sort(candidates, descending=True, stable=True).indices[:beam_width]\n"
BEAM_RANK = ("    ranked = [(tokens, score / len(tokens) ** length_penalty) for tokens, score in finished]\n"
             "    ranked.sort(key=lambda hypothesis: hypothesis[1], reverse=True)\n")

BEAM_BUGS = [
    # (replacements, failing check, hint)
    ({"if prefix[-1] == eos_id or step == max_len:": "if step == max_len:"},
     "matches the reference", checks.NOT_RETIRED),
    ({"if prefix[-1] == eos_id or step == max_len:": "if step == max_len:"},
     "retires hypotheses", checks.NOT_RETIRED),
    ({"if prefix[-1] == eos_id or step == max_len:": "if step == max_len:"},
     "one step_fn call per step", checks.NOT_RETIRED),
    ({"score = float(candidates[index])": "score = float(candidates[index]) / step ** length_penalty",
      "score / len(tokens) ** length_penalty) for tokens": "score) for tokens"},
     "matches the reference", checks.PENALISED_SEARCH),
    ({"alive_before, alive = alive, []": "alive_before, alive, finished = alive, [], []"},
     "matches the reference", checks.LAST_STEP_ONLY),
    ({"finished.append((prefix[1:], score))": "finished.append((prefix, score))"},
     "matches the reference", checks.WITH_BOS),
    ({"finished.append((prefix[1:], score))": "finished.append((prefix, score))"},
     "scored by the model", checks.WITH_BOS),
    ({"if prefix[-1] == eos_id or step == max_len:": "if prefix[-1] == eos_id or len(prefix) == max_len:"},
     "matches the reference", checks.STEP_TOO_FEW),
    ({"for step in range(1, max_len + 1):": "for step in range(1, max_len + 2):",
      "or step == max_len:": "or step == max_len + 1:"},
     "matches the reference", checks.STEP_TOO_MANY),
    ({"log_probs = step_fn([prefix for prefix, _ in alive]).double()":
      "log_probs = torch.cat([step_fn([prefix]) for prefix, _ in alive]).double()"},
     "one step_fn call per step", checks.PER_HYPOTHESIS),
    ({"        if not alive:\n            break\n": ""}, "one step_fn call per step", checks.EMPTY_CALL),
    ({BEAM_SORT: "        best = torch.topk(candidates, min(beam_width, len(candidates))).indices\n"},
     "exact ties", checks.UNSTABLE_TIES),
    ({BEAM_SORT: "        order = torch.arange(len(candidates)).view(-1, vocab_size).T.flatten()\n"
                 "        best = order[torch.sort(candidates[order], descending=True, stable=True).indices[:beam_width]]\n"},
     "exact ties", checks.UNSTABLE_TIES),
    ({BEAM_RANK: "    ranked = sorted(finished, key=lambda h: h[1] / len(h[0]) ** length_penalty, reverse=True)\n"},
     "scored by the model", checks.NOT_PENALISED),
    ({BEAM_RANK: "    ranked = [(tokens, score / (len(tokens) + 1) ** length_penalty) for tokens, score in finished]\n"
                 "    ranked.sort(key=lambda hypothesis: hypothesis[1], reverse=True)\n"},
     "scored by the model", checks.BOS_IN_LENGTH),
    ({BEAM_RANK: "    ranked = [(tokens, score / len(tokens) ** length_penalty) for tokens, score in finished]\n"},
     "scored by the model", checks.NOT_SORTED),
    ({"    return ranked[:beam_width]\n    ### END": "    return ranked\n    ### END"},
     "matches the reference", None),
    ({"score = float(candidates[index])": "score = candidates.numpy()[index]"}, "Python floats",
     checks.PYTHON_TYPES),
]


@pytest.mark.parametrize("replacements,check,hint", BEAM_BUGS, ids=[f"beam-{i}" for i in range(len(BEAM_BUGS))])
def test_buggy_beam_search_is_caught(worker, tmp_path, replacements, check, hint):
    assert_caught(grade_variant(worker, tmp_path, "decoding.beam_search", replacements), check, hint)


def test_beam_search_that_never_stops_gets_a_clear_error_not_a_timeout(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "decoding.beam_search", {
        "for step in range(1, max_len + 1):": "step = 0\n    while True:\n        step += 1",
        "if prefix[-1] == eos_id or step == max_len:": "if False:",
    })
    assert_caught(result, "matches the reference", status="error", message="does the search stop?")


def test_beam_search_wrong_only_in_its_greedy_is_named_in_the_width_1_message(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "decoding.beam_search",
                           {"if prefix[-1] == eos_id or step == max_len:": "if step == max_len:"})
    width_1 = next(c for c in result.checks if c.name.startswith("beam_width = 1"))
    assert not width_1.passed and "your own greedy_decode returns" in width_1.message


# ---------------------------------------------------------------------------
# The grader's own oracles and models

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(inputs.beam_problems())
def test_the_grader_search_equals_the_reference_unless_a_tie_sits_at_a_cut(ex):
    expected = ref.beam_search(**{**ex, "step_fn": ex["step_fn"].fresh()})
    ours = checks._search(ex["step_fn"], ex["bos_id"], ex["eos_id"], ex["beam_width"], ex["max_len"],
                          ex["length_penalty"])
    assert checks._ambiguous(ex) or checks._same_hypotheses(ours, expected, 1e-12)


def test_running_scores_kept_in_float32_are_not_rejected(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "decoding.beam_search", {
        "scores = torch.tensor([score for _, score in alive], dtype=torch.float64,":
        "scores = torch.tensor([score for _, score in alive], dtype=torch.float32,"})
    assert_full_marks(result)


@SETTINGS
@given(inputs.exhaustive_beam_problems())
def test_a_beam_of_width_v_to_the_t_minus_1_is_exact(ex):
    expected = checks._exhaustive(ex["step_fn"], ex["bos_id"], ex["eos_id"], ex["max_len"],
                                  ex["length_penalty"], ex["beam_width"])
    got = ref.beam_search(**{**ex, "step_fn": ex["step_fn"].fresh()})
    assert checks._ambiguous(ex) or checks._same_hypotheses(got, expected, 1e-12)


@SETTINGS
@given(inputs.beam_problems(max_width=1))
def test_width_1_equals_greedy(ex):
    tokens = ref.greedy_decode(ex["step_fn"].fresh(), ex["bos_id"], ex["eos_id"], ex["max_len"])
    assert [t for t, _ in ref.beam_search(**{**ex, "step_fn": ex["step_fn"].fresh()})] == [tokens]


def test_models_are_reproducible_and_normalised():
    a = inputs.PrefixTableModel(4, 0, 3, seed=7, eos_bias=1.0)
    b = inputs.PrefixTableModel(4, 0, 3, seed=7, eos_bias=1.0)
    out = a([[0], [0, 2, 1]])
    assert out.dtype == torch.float64 and out.shape == (2, 4)
    assert torch.equal(out, b([[0], [0, 2, 1]]))
    assert torch.allclose(out.exp().sum(1), torch.ones(2, dtype=torch.float64))
    markov = inputs.MarkovModel.random(3, 1, 2, seed=5)
    assert torch.equal(markov([[1, 0], [1, 2, 0]])[0], markov([[1, 2, 0]])[0])
    assert a.calls == [[(0,), (0, 2, 1)]] and a.fresh().calls == []


@pytest.mark.parametrize("prefixes,message", [
    ([0, 1], "wrap the prefix in a list"),
    ([[1, 2]], "must start with bos_id = 0"),
    ([[]], "must start with bos_id = 0"),
    ([[0, 7]], "outside range(4)"),
    ([[0, 1.5]], "list of int token ids"),
    ("0 1", "list of prefixes"),
])
def test_models_reject_malformed_prefixes_with_a_clear_message(prefixes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        inputs.PrefixTableModel(4, 0, 3, seed=1)(prefixes)


def test_models_accept_tensor_and_numpy_prefixes():
    model = inputs.MarkovModel.random(4, 0, 3, seed=2)
    expected = model([[0, 1], [0, 2]])
    assert torch.equal(model(torch.tensor([[0, 1], [0, 2]])), expected)
    assert torch.equal(model([np.array([0, 1]), [0, torch.tensor(2)]]), expected)
    assert torch.equal(model(torch.tensor([[0]])), model([[0]]))  # one prefix of length 1, not a flat list


def test_float32_check_model_is_well_separated():
    model = checks._well_separated_float32_model(np.random.default_rng(0), 4, 0, 3, 3, 1.0)
    assert model([[0]]).dtype == torch.float32
