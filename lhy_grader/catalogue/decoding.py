"""Checks for decoding.py (Lecture 5: Transformer — decoding).

``step_fn`` is always a model answered in the grader (``lhy_grader.inputs.decoding``):
it records every batch of prefixes the submission passes, so the number of calls and
the alive hypotheses of each step are observed, not reported. Expected results come
from the reference solution; the grader's own small beam search (``_search``) has
knobs that reproduce the classic mistakes for the hints, and a brute-force
enumeration is the independent oracle for beams wide enough to be exact.

A Markov model gives the same summed log-prob to sequences that use the same
transitions in another order; when such a tie (or a near-tie) sits exactly at a cut
of the beam, the right answer depends on rounding, so that example is not judged.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_float, expect_int_list
from lhy_grader.compare.reference import reference
from lhy_grader.compare.show import show
from lhy_grader.inputs import decoding as inputs
from lhy_grader.inputs.decoding import MarkovModel, PrefixTableModel, StepModel
from lhy_grader.worker.client import WorkerProblem

ref = reference("decoding")

Hypotheses = list[tuple[list[int], float]]
#: Scores are compared to this (relative and absolute) tolerance: running scores kept in
#: a float32 tensor (``torch.tensor(list_of_floats)``) are fine.
SCORE_TOL = 1e-5
#: Score gaps below this at a cut of the beam make an example ambiguous (rounding decides).
TIE_GAP = 1e-4

NOT_RETIRED = ("finished hypotheses must leave the beam: a kept candidate ending in eos_id is finished "
               "and never extended again")
PENALISED_SEARCH = ("search by the summed log-probability: the length penalty only ranks the finished "
                    "hypotheses (do not keep the penalised score as the running score)")
LAST_STEP_ONLY = ("return the best of ALL finished hypotheses, also those that ended in eos_id at earlier "
                  "steps, not only the beam of the last step")
WITH_BOS = "the returned tokens must not include bos_id"
BOS_IN_LENGTH = "len(tokens) in the length penalty must not count bos_id"
STEP_TOO_FEW = "one step too few: run up to max_len steps (max_len new tokens; bos_id does not count)"
STEP_TOO_MANY = "one step too many: at most max_len new tokens (bos_id does not count)"
NOT_PENALISED = "the returned score is the summed log-prob divided by len(tokens) ** length_penalty"
NOT_SORTED = "sort the finished hypotheses by their length-penalised score, highest first"
PER_HYPOTHESIS = ("call step_fn once per step with the list of ALL alive prefixes (one batch), not once "
                  "per hypothesis")
UNSTABLE_TIES = ("among candidates with equal scores the one of the earlier hypothesis wins, then the lower "
                 "token id: rank with a stable sort on the score (sorted(..., key=...) or "
                 "torch.sort(..., stable=True)); torch.topk does not keep ties in order")
EMPTY_CALL = "stop as soon as no hypothesis is alive: step_fn was called with an empty list of prefixes"
PYTHON_TYPES = "convert with int(...) and float(...) (or .item()): tokens are Python ints, scores Python floats"
NO_EOS_STOP = "stop as soon as eos_id is produced (and keep it in the output)"
EOS_DROPPED = "eos_id belongs in the output when it was produced"
ARGMIN = "pick the most likely token (argmax of the log-probs), not the least likely"


# ---------------------------------------------------------------------------
# Results: validation and comparison

def _hypotheses(got, what: str = "beam_search's result") -> Hypotheses:
    """A list of (tokens, score) pairs with int tokens and a float score."""
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(f"{what} should be a list of (tokens, score) pairs, got {show(got)}")
    pairs = []
    for i, pair in enumerate(got):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise CheckFailed(f"{what}[{i}] should be a pair (tokens, score), got {show(pair)}")
        pairs.append((expect_int_list(pair[0], what=f"the tokens of {what}[{i}]"),
                      expect_float(pair[1], what=f"the score of {what}[{i}]")))
    return pairs


def _same_hypotheses(got: Hypotheses, expected: Hypotheses, tol: float) -> bool:
    """Equal scores in order and equal tokens; hypotheses whose expected scores tie (within
    ``tol``) may come in any order among themselves."""
    if len(got) != len(expected):
        return False
    if not all(math.isclose(g, e, rel_tol=tol, abs_tol=tol) for (_, g), (_, e) in zip(got, expected)):
        return False
    start = 0
    while start < len(expected):
        end = start + 1
        while end < len(expected) and math.isclose(expected[end][1], expected[start][1], rel_tol=tol, abs_tol=tol):
            end += 1
        if sorted(t for t, _ in got[start:end]) != sorted(t for t, _ in expected[start:end]):
            return False
        start = end
    return True


def _expect_hypotheses(got: Hypotheses, expected: Hypotheses, *, what: str = "beam_search",
                       mistakes: dict | None = None) -> None:
    """``got`` must equal ``expected``; on failure, hint at the mistakes it matches."""
    if _same_hypotheses(got, expected, SCORE_TOL):
        return
    hints = [hint for hint, compute in (mistakes or {}).items() if _same_hypotheses(got, compute(), SCORE_TOL)]
    raise CheckFailed(f"{what} returned {_show(got)}\n  expected {_show(expected)}", " — or: ".join(hints) or None)


def _show(hypotheses: Hypotheses) -> str:
    """(tokens, score) pairs with enough digits to see a small score difference."""
    return "[" + ", ".join(f"({tokens}, {score:.9g})" for tokens, score in hypotheses) + "]"


def _complete(tokens: list[int], eos_id: int, max_len: int) -> bool:
    """1..max_len tokens, ending with eos_id or max_len long, with no eos_id before the end."""
    return (1 <= len(tokens) <= max_len and eos_id not in tokens[:-1]
            and (tokens[-1] == eos_id or len(tokens) == max_len))


def _expect_finished(tokens: list[int], ex: dict) -> None:
    """A returned hypothesis must be a finished one (see ``_complete``)."""
    eos_id, max_len = ex["eos_id"], ex["max_len"]
    if _complete(tokens, eos_id, max_len):
        return
    with_bos = tokens[:1] == [ex["bos_id"]] and _complete(tokens[1:], eos_id, max_len)
    if len(tokens) > max_len:
        raise CheckFailed(f"the hypothesis {tokens} has {len(tokens)} tokens, more than max_len = {max_len}",
                          WITH_BOS if with_bos else STEP_TOO_MANY)
    if eos_id in tokens[:-1]:
        raise CheckFailed(f"the hypothesis {tokens} continues after eos_id = {eos_id}",
                          WITH_BOS if with_bos else NOT_RETIRED)
    raise CheckFailed(f"the hypothesis {tokens} is not finished: it neither ends with eos_id = {eos_id} "
                      f"nor has max_len = {max_len} tokens", WITH_BOS if with_bos else None)


def _expect_python_tokens(tokens, what: str) -> None:
    """Strictly a list of Python ints (the catalogue's convention)."""
    if not isinstance(tokens, list):
        raise CheckFailed(f"{what} returned the tokens as {show(tokens)}, a {type(tokens).__name__}; expected "
                          f"a list of Python ints", PYTHON_TYPES)
    wrong = next((t for t in tokens if type(t) is not int), None)
    if wrong is not None:
        raise CheckFailed(f"{what} returned the tokens {show(tokens)}, holding a {type(wrong).__name__}; "
                          f"expected a list of Python ints", PYTHON_TYPES)


def _as_lists(calls: list[list[tuple[int, ...]]]) -> list[list[list[int]]]:
    return [[list(p) for p in batch] for batch in calls]


def _continues_after_eos(prefix: tuple[int, ...], eos_id: int) -> bool:
    return eos_id in prefix[1:]


# ---------------------------------------------------------------------------
# The grader's own searches

def _search(model: StepModel, bos_id: int, eos_id: int, beam_width: int, max_len: int,
            length_penalty: float, *, retire: bool = True, penalise_running: bool = False,
            last_step_only: bool = False, keep_bos: bool = False,
            cut_gaps: list[float] | None = None) -> Hypotheses:
    """The grader's own beam search; the knobs reproduce classic mistakes for the hints.

    ``cut_gaps`` collects the score gaps at every cut (the last kept candidate against
    the first dropped one, at each step and among the finished hypotheses).
    """
    alive: list[tuple[tuple[int, ...], float]] = [((bos_id,), 0.0)]
    finished: list[tuple[tuple[int, ...], float]] = []
    for step in range(1, max_len + 1):
        candidates = [(score + float(lp), h, token) for h, (prefix, score) in enumerate(alive)
                      for token, lp in enumerate(model.log_probs(prefix))]
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        if cut_gaps is not None and len(candidates) > beam_width:
            cut_gaps.append(candidates[beam_width - 1][0] - candidates[beam_width][0])
        finished = [] if last_step_only else finished
        kept, alive = alive, []
        for score, h, token in candidates[:beam_width]:
            prefix = kept[h][0] + (token,)
            score = score / step ** length_penalty if penalise_running else score
            done = (retire and token == eos_id) or step == max_len
            (finished if done else alive).append((prefix, score))
        if not alive:
            break

    def penalised(prefix: tuple[int, ...], score: float) -> float:
        length = len(prefix) - (0 if keep_bos else 1)
        return score if penalise_running else score / length ** length_penalty

    ranked = [(list(prefix if keep_bos else prefix[1:]), penalised(prefix, score)) for prefix, score in finished]
    ranked.sort(key=lambda h: -h[1])
    if cut_gaps is not None and len(ranked) > beam_width:
        cut_gaps.append(ranked[beam_width - 1][1] - ranked[beam_width][1])
    return ranked[:beam_width]


def _ambiguous(ex: dict) -> bool:
    """True when a (near-)tie sits at a cut of the beam: rounding decides the answer."""
    gaps: list[float] = []
    _search(ex["step_fn"], ex["bos_id"], ex["eos_id"], ex["beam_width"], ex["max_len"], ex["length_penalty"],
            cut_gaps=gaps)
    return min(gaps, default=1.0) < TIE_GAP


def _beam_mistakes(ex: dict) -> dict:
    """What each classic beam-search mistake returns on ``ex`` (computed only on failure)."""
    args = (ex["step_fn"], ex["bos_id"], ex["eos_id"], ex["beam_width"], ex["max_len"], ex["length_penalty"])
    return {
        NOT_RETIRED: lambda: _search(*args, retire=False),
        PENALISED_SEARCH: lambda: _search(*args, penalise_running=True),
        LAST_STEP_ONLY: lambda: _search(*args, last_step_only=True),
        WITH_BOS: lambda: _search(*args, keep_bos=True),
        STEP_TOO_FEW: lambda: _search(*args[:4], ex["max_len"] - 1, args[5]),
        STEP_TOO_MANY: lambda: _search(*args[:4], ex["max_len"] + 1, args[5]),
        NOT_PENALISED: lambda: _search(*args[:5], 0.0),
    }


def _penalised_running(model: StepModel, tokens: list[int], penalty: float) -> float:
    """The score of ``tokens`` when the penalised score is kept as the running score."""
    prefix, running = (model.bos_id,), 0.0
    for step, token in enumerate(tokens, 1):
        running = (running + float(model.log_probs(prefix)[token])) / step ** penalty
        prefix += (token,)
    return running


def _extend(model: StepModel, level: list[tuple[tuple[int, ...], float]]) -> list[tuple[tuple[int, ...], float]]:
    """Every prefix of ``level`` followed by every token, with its summed log-prob."""
    return [(prefix + (t,), s + float(lp)) for prefix, s in level for t, lp in enumerate(model.log_probs(prefix))]


def _exhaustive(model: StepModel, bos_id: int, eos_id: int, max_len: int, length_penalty: float,
                beam_width: int) -> Hypotheses:
    """The ``beam_width`` best complete sequences by brute-force enumeration (the exact answer)."""
    complete, level = [], [((bos_id,), 0.0)]
    for step in range(1, max_len + 1):
        extended = _extend(model, level)
        complete += [(list(p[1:]), s / step ** length_penalty) for p, s in extended
                     if p[-1] == eos_id or step == max_len]
        level = [(p, s) for p, s in extended if p[-1] != eos_id]
    complete.sort(key=lambda h: -h[1])
    return complete[:beam_width]


def _well_separated_float32_model(rng: np.random.Generator, vocab_size: int, bos_id: int, eos_id: int,
                                  max_len: int, penalty: float) -> StepModel:
    """A float32 model whose prefix sums and final scores are all ≥ 1e-3 apart, so float32
    rounding in the submission cannot reorder them."""
    while True:
        model = PrefixTableModel(vocab_size, bos_id, eos_id, int(rng.integers(2**32)), eos_bias=1.0,
                                 dtype=torch.float32)
        groups, level = [], [((bos_id,), 0.0)]
        for _ in range(max_len):
            level = _extend(model, level)
            groups.append([s for _, s in level])
        groups.append([s for _, s in _exhaustive(model, bos_id, eos_id, max_len, penalty, 10**6)])
        if all(np.diff(np.sort(g)).min(initial=1.0) > 1e-3 for g in groups):
            return model


# ---------------------------------------------------------------------------
greedy_decode = Exercise("decoding", "greedy_decode", points=2,
                         arg_names=("step_fn", "bos_id", "eos_id", "max_len"))


def _greedy_mistakes(ex: dict) -> dict:
    model, bos, eos, max_len = ex["step_fn"], ex["bos_id"], ex["eos_id"], ex["max_len"]
    expected = ref.greedy_decode(model.fresh(), bos, eos, max_len)
    return {
        NO_EOS_STOP: lambda: ref.greedy_decode(model.fresh(), bos, -1, max_len),
        WITH_BOS: lambda: [bos, *expected],
        EOS_DROPPED: lambda: expected[:-1] if expected[-1:] == [eos] else None,
        STEP_TOO_FEW: lambda: ref.greedy_decode(model.fresh(), bos, eos, max_len - 1),
        STEP_TOO_MANY: lambda: ref.greedy_decode(model.fresh(), bos, eos, max_len + 1),
        ARGMIN: lambda: _argmin_decode(model, bos, eos, max_len),
    }


def _argmin_decode(model: StepModel, bos_id: int, eos_id: int, max_len: int) -> list[int]:
    prefix = (bos_id,)
    while len(prefix) <= max_len and prefix[-1:] != (eos_id,):
        prefix += (int(np.argmin(model.log_probs(prefix))),)
    return list(prefix[1:])


def _expect_tokens(got, expected: list[int], mistakes: dict | None = None) -> None:
    tokens = expect_int_list(got, what="greedy_decode's result")
    if tokens == expected:
        return
    hints = [hint for hint, compute in (mistakes or {}).items() if tokens == compute()]
    raise CheckFailed(f"greedy_decode returned {show(tokens)}, expected {show(expected)}",
                      " — or: ".join(hints) or None)


@greedy_decode.property("matches argmax decoding on random models", inputs.greedy_problems())
def _(trial, ex):
    got = trial.call(**{**ex, "step_fn": ex["step_fn"].fresh()})
    expected = ref.greedy_decode(ex["step_fn"].fresh(), ex["bos_id"], ex["eos_id"], ex["max_len"])
    _expect_tokens(got, expected, _greedy_mistakes(ex))


@greedy_decode.property("calls step_fn once per new token, with [prefix]", inputs.greedy_problems(),
                        max_examples=8)
def _(trial, ex):
    model, expected_model = ex["step_fn"].fresh(), ex["step_fn"].fresh()
    trial.call(**{**ex, "step_fn": model})
    ref.greedy_decode(expected_model, ex["bos_id"], ex["eos_id"], ex["max_len"])
    if model.calls != expected_model.calls:
        after_eos = any(_continues_after_eos(p, ex["eos_id"]) for batch in model.calls for p in batch)
        raise CheckFailed(f"step_fn received {show(_as_lists(model.calls))}\n"
                          f"  expected {show(_as_lists(expected_model.calls))} (one call per new token, "
                          f"each with the one-prefix list [prefix])", NO_EOS_STOP if after_eos else None)


@greedy_decode.check("ties go to the lowest token id", weight=0.5)
def _(trial):
    table = np.log(np.array([[0.1, 0.4, 0.4, 0.1], [0.3, 0.3, 0.1, 0.3],
                             [0.2, 0.1, 0.2, 0.5], [0.25, 0.25, 0.25, 0.25]]))
    for bos_id, eos_id in ((3, 2), (2, 0)):
        model = MarkovModel(table, bos_id)
        expected = ref.greedy_decode(model.fresh(), bos_id, eos_id, 5)
        _expect_tokens(trial.call(model, bos_id, eos_id, 5), expected)


@greedy_decode.check("returns a list of Python ints", weight=0.5)
def _(trial):
    model = MarkovModel.random(4, 0, 3, trial.seed, eos_bias=1.0)
    _expect_python_tokens(trial.call(model, 0, 3, 4), "greedy_decode")


# ---------------------------------------------------------------------------
beam_search = Exercise("decoding", "beam_search", points=4,
                       arg_names=("step_fn", "bos_id", "eos_id", "beam_width", "max_len", "length_penalty"))


def _run_beam(trial, ex: dict) -> tuple[Hypotheses, StepModel]:
    """Call the submission on a fresh copy of the example's model; returns (result, that model)."""
    model = ex["step_fn"].fresh()
    return _hypotheses(trial.call(**{**ex, "step_fn": model})), model


def _reference_beam(ex: dict) -> tuple[Hypotheses, StepModel]:
    model = ex["step_fn"].fresh()
    return ref.beam_search(**{**ex, "step_fn": model}), model


def _student_greedy(trial, ex: dict) -> str:
    """What the submission's own greedy_decode says on this model (for messages only)."""
    try:
        tokens = trial.call(ex["step_fn"].fresh(), ex["bos_id"], ex["eos_id"], ex["max_len"],
                            function="greedy_decode")
    except WorkerProblem:  # not written yet, or broken: it is graded on its own
        return ""
    return f"\n  (your own greedy_decode returns {show(tokens)} on this model)"


@beam_search.property("matches the reference beam search on random models", inputs.beam_problems(),
                      weight=3)
def _(trial, ex):
    if _ambiguous(ex):
        return
    got, _ = _run_beam(trial, ex)
    expected, _ = _reference_beam(ex)
    _expect_hypotheses(got, expected, mistakes=_beam_mistakes(ex))


@beam_search.property("beam_width = 1 equals greedy decoding",
                      inputs.beam_problems(max_len=6).map(lambda ex: {**ex, "beam_width": 1}))
def _(trial, ex):
    got, _ = _run_beam(trial, ex)
    tokens = ref.greedy_decode(ex["step_fn"].fresh(), ex["bos_id"], ex["eos_id"], ex["max_len"])
    expected = [(tokens, ex["step_fn"].sequence_log_prob(tokens) / len(tokens) ** ex["length_penalty"])]
    try:
        _expect_hypotheses(got, expected, what="beam_search(beam_width=1)", mistakes=_beam_mistakes(ex))
    except CheckFailed as failure:
        raise CheckFailed(failure.message + _student_greedy(trial, ex), failure.hint) from None


@beam_search.property("a beam ≥ V^(max_len−1) wide finds the exact best sequences (brute force)",
                      inputs.exhaustive_beam_problems())
def _(trial, ex):
    if _ambiguous(ex):
        return
    got, _ = _run_beam(trial, ex)
    expected = _exhaustive(ex["step_fn"], ex["bos_id"], ex["eos_id"], ex["max_len"], ex["length_penalty"],
                           ex["beam_width"])
    _expect_hypotheses(got, expected, what=f"beam_search(beam_width={ex['beam_width']})",
                       mistakes=_beam_mistakes(ex))


@beam_search.property("returns finished hypotheses scored by the model, length-penalised, best first",
                      inputs.beam_problems(), max_examples=12)
def _(trial, ex):
    got, _ = _run_beam(trial, ex)
    model, penalty = ex["step_fn"], ex["length_penalty"]
    if not 1 <= len(got) <= ex["beam_width"]:
        raise CheckFailed(f"beam_search returned {len(got)} hypotheses for beam_width = {ex['beam_width']}")
    for tokens, score in got:
        _expect_finished(tokens, ex)
        total = model.sequence_log_prob(tokens)
        expected = total / len(tokens) ** penalty
        if not math.isclose(score, expected, rel_tol=SCORE_TOL, abs_tol=SCORE_TOL):
            hints = [hint for hint, value in ((NOT_PENALISED, total),
                                              (BOS_IN_LENGTH, total / (len(tokens) + 1) ** penalty),
                                              (PENALISED_SEARCH, _penalised_running(model, tokens, penalty)))
                     if math.isclose(score, value, rel_tol=SCORE_TOL, abs_tol=SCORE_TOL)]
            raise CheckFailed(f"the score of {tokens} is {score:.6g}; the model gives it a summed log-prob of "
                              f"{total:.6g}, so its score is {total:.6g} / {len(tokens)} ** {penalty:g} = "
                              f"{expected:.6g}", " — or: ".join(hints) or None)
    scores = [score for _, score in got]
    if scores != sorted(scores, reverse=True):
        raise CheckFailed(f"the hypotheses are not sorted best first: scores {show(scores)}", NOT_SORTED)
    if len({tuple(tokens) for tokens, _ in got}) < len(got):
        raise CheckFailed(f"beam_search returned the same token list twice: {_show(got)}")


@beam_search.property("one step_fn call per step, batching all alive hypotheses",
                      inputs.beam_problems(min_len=2, max_width=3, eos_biases=(0.0, 2.0, 4.0)), max_examples=15)
def _(trial, ex):
    if _ambiguous(ex):
        return
    _, model = _run_beam(trial, ex)
    _, expected_model = _reference_beam(ex)
    got_calls, expected_calls = model.calls, expected_model.calls
    after_eos = any(_continues_after_eos(p, ex["eos_id"]) for batch in got_calls for p in batch)
    if len(got_calls) != len(expected_calls):
        if len(got_calls) == sum(len(batch) for batch in expected_calls):
            hint = PER_HYPOTHESIS
        elif [] in got_calls:
            hint = EMPTY_CALL
        else:
            hint = NOT_RETIRED if after_eos else None
        raise CheckFailed(f"step_fn was called {len(got_calls)} times; expected {len(expected_calls)} calls "
                          f"(one per step) with the alive prefixes {show(_as_lists(expected_calls))}", hint)
    for step, (got_batch, expected_batch) in enumerate(zip(got_calls, expected_calls), 1):
        if sorted(got_batch) != sorted(expected_batch):
            raise CheckFailed(f"at step {step}, step_fn received the prefixes {show(_as_lists([got_batch])[0])}; "
                              f"the alive hypotheses are {show(_as_lists([expected_batch])[0])}",
                              NOT_RETIRED if after_eos else None)


@beam_search.property("retires hypotheses that end in eos_id",
                      inputs.beam_problems(min_len=2, eos_biases=(2.0, 3.0)), max_examples=10)
def _(trial, ex):
    got, model = _run_beam(trial, ex)
    extended = [list(p) for batch in model.calls for p in batch if _continues_after_eos(p, ex["eos_id"])]
    if extended:
        raise CheckFailed(f"step_fn was asked to continue {show(extended[0])}, which already ended in "
                          f"eos_id = {ex['eos_id']}", NOT_RETIRED)
    for tokens, _ in got:
        _expect_finished(tokens, ex)
    if not _ambiguous(ex):
        _expect_hypotheses(got, _reference_beam(ex)[0], mistakes=_beam_mistakes(ex))


@beam_search.check("exact ties go to the earlier hypothesis, then the lower token id", weight=0.5)
def _(trial):
    # (V, bos_id, eos_id, beam_width, max_len) on a uniform model, where every candidate ties;
    # length_penalty is left at its default.
    for vocab_size, bos_id, eos_id, width, max_len in ((3, 1, 2, 2, 2), (4, 3, 0, 2, 3), (5, 0, 4, 4, 3)):
        model = MarkovModel.uniform(vocab_size, bos_id)
        got = _hypotheses(trial.call(model, bos_id, eos_id, width, max_len))
        expected = ref.beam_search(model.fresh(), bos_id, eos_id, width, max_len)
        same_scores = [(tokens, score) for (tokens, _), (_, score) in zip(got, expected)]
        _expect_hypotheses(got, expected, what=f"beam_search on {model.description}, bos_id={bos_id}, "
                           f"eos_id={eos_id}, beam_width={width}, max_len={max_len},",
                           mistakes={UNSTABLE_TIES: lambda: same_scores})


@beam_search.check("works with float32 log-probabilities", weight=0.5)
def _(trial):
    vocab_size, bos_id, eos_id, width, max_len, penalty = 4, 0, 3, 2, 3, 1.0
    model = _well_separated_float32_model(trial.rng, vocab_size, bos_id, eos_id, max_len, penalty)
    got = _hypotheses(trial.call(model, bos_id, eos_id, width, max_len, penalty))
    expected = ref.beam_search(model.fresh(), bos_id, eos_id, width, max_len, penalty)
    _expect_hypotheses(got, expected, what=f"beam_search on {model.description}, bos_id={bos_id}, "
                       f"eos_id={eos_id}, beam_width={width}, max_len={max_len}, length_penalty={penalty},")


@beam_search.check("returns Python ints and Python floats", weight=0.5)
def _(trial):
    model = MarkovModel.random(4, 0, 3, trial.seed, eos_bias=1.0)
    got = trial.call(model, 0, 3, 2, 3, 0.5)
    _hypotheses(got)  # the structure first, then the exact types
    for tokens, score in got:
        _expect_python_tokens(tokens, "beam_search")
        if type(score) is not float:
            raise CheckFailed(f"beam_search returned the score {show(score)}, a {type(score).__name__}; "
                              f"expected a Python float", PYTHON_TYPES)


EXERCISES = [greedy_decode, beam_search]
