"""Checks for pretraining.py (Lecture 7: BERT and GPT).

The functions here are random, so they are graded in two ways:

* structure, draw by draw (any single output of a correct function obeys it): labels
  are the original token or -100, special positions are never selected, a positive NSP
  pair is a true successor, a draw lies in the top-k, temperature 0 is greedy...
* statistics over many draws, each made with the student's own generator seeded by the
  check (so a run is reproducible): every observed count must fall within a Bernstein
  bound around its expectation. For ``X ~ Binomial(n, p)``,
  ``P(|X − np| ≥ t) ≤ 2·exp(−t² / (2(np(1−p) + t/3)))``; solving for the ``t`` that
  makes this ``δ`` gives a rigorous margin (no normal approximation, no SciPy). A check
  testing ``K`` counts uses ``δ = FALSE_REJECT / K`` each (union bound), so a correct
  submission fails any statistical check with probability below ``FALSE_REJECT = 1e-7``.
  Each check's docstring states its sample size and what that margin means for the
  classic mistakes it targets.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_equal, expect_int_list, expect_tensor
from lhy_grader.compare.reference import reference
from lhy_grader.compare.show import show
from lhy_grader.inputs import pretraining as inputs
from lhy_grader.worker.codec import RngSpec

ref = reference("pretraining")

#: Probability that a correct submission fails one statistical check.
FALSE_REJECT = 1e-7


# ---------------------------------------------------------------------------
# Statistics

def binomial_margin(n: int, p: float, delta: float = FALSE_REJECT) -> float:
    """The ``t`` with ``P(|Binomial(n, p) − np| ≥ t) ≤ delta`` by Bernstein's inequality."""
    log_term = math.log(2.0 / delta)
    variance = n * p * (1.0 - p)
    return log_term / 3.0 + math.sqrt((log_term / 3.0) ** 2 + 2.0 * log_term * variance)


def consistent(count: int, n: int, p: float, delta: float = FALSE_REJECT) -> bool:
    """Whether ``count`` of ``n`` is within the Bernstein margin of a rate ``p``."""
    return abs(count - n * p) < binomial_margin(n, p, delta)


def expect_rates(counts: list[int], totals: list[int], probs: list[float], names: list[str], *,
                 what: str, mistakes: dict[str, list[float] | None] | None = None,
                 false_reject: float = FALSE_REJECT) -> None:
    """Each ``counts[i]`` must be consistent with ``Binomial(totals[i], probs[i])``.

    The ``K`` tests share ``false_reject`` (union bound). ``mistakes`` maps a hint to
    the rates a known mistake would produce; it is given when every count fits them.
    """
    delta = false_reject / len(counts)
    for count, n, p, name in zip(counts, totals, probs, names):
        if consistent(count, n, p, delta):
            continue
        margin = binomial_margin(n, p, delta) / max(n, 1)
        lines = "\n".join(f"  {nm}: {c} of {t} = {c / max(t, 1):.4f} (expected {q:.4f})"
                          for c, t, q, nm in zip(counts, totals, probs, names))
        hints = [hint for hint, alt in (mistakes or {}).items()
                 if alt is not None and alt != list(probs)
                 and all(consistent(c, t, q, delta) for c, t, q in zip(counts, totals, alt))]
        raise CheckFailed(
            f"{what}: {name} is {count} of {n} = {count / max(n, 1):.4f}, expected {p:.4f} ± {margin:.4f} "
            f"(a correct solution lands outside this range with probability below {false_reject:g})\n{lines}",
            " — or: ".join(hints) or None)


def base_seed(trial) -> int:
    """A generator seed derived from the check's seed (torch and random take 32-bit seeds well)."""
    return trial.seed % 2**32


def seeds_for(trial, count: int) -> list[int]:
    """``count`` distinct generator seeds derived from the check's seed."""
    return [(base_seed(trial) + i) % 2**32 for i in range(count)]


# ---------------------------------------------------------------------------
mlm_mask = Exercise("pretraining", "mlm_mask", points=4,
                    arg_names=("tokens", "special_mask", "vocab_size", "mask_id", "mask_prob", "generator"))

MLM_VOCAB = 12
MLM_MASK_ID = 3
MLM_SHAPE = (200, 400)      # 80 000 positions per statistical call


def _mlm_inputs(trial, shape: tuple[int, int], special_fraction: float, **extra: Any) -> dict:
    """Keyword arguments of mlm_mask on a fresh batch (vocabulary of MLM_VOCAB, [MASK] = MLM_MASK_ID)."""
    tokens, special = inputs.token_batch(trial.rng, shape, MLM_VOCAB, MLM_MASK_ID, special_fraction)
    return {"tokens": tokens, "special_mask": special, "vocab_size": MLM_VOCAB, "mask_id": MLM_MASK_ID,
            "generator": RngSpec("torch", int(trial.rng.integers(2**32))), **extra}


def _first(where: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in torch.nonzero(where)[0])


def _call_mlm(trial, ex: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Call mlm_mask and check the structure every output must have; returns
    ``(inputs, labels, selected)`` on the CPU."""
    got = trial.call(**ex)
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CheckFailed(f"expected a tuple (inputs, labels), got {show(got)}")
    tokens, special = ex["tokens"], ex["special_mask"]
    shape = tuple(tokens.shape)
    out = expect_tensor(got[0], shape, tokens.dtype, device=trial.device, what="inputs").cpu()
    labels = expect_tensor(got[1], shape, tokens.dtype, device=trial.device, what="labels").cpu()
    selected = labels != -100

    wrong_label = selected & (labels != tokens)
    if wrong_label.any():
        at = _first(wrong_label)
        values = labels[wrong_label].unique()
        if bool((labels[wrong_label] == out[wrong_label]).all()):
            hint = "labels hold the masked inputs: they must hold the ORIGINAL tokens (copy them from tokens)"
        elif values.numel() == 1 and bool((~wrong_label | (labels == values[0])).all()):
            hint = f"unselected positions are labelled {int(values[0])}: use -100, the ignore_index of F.cross_entropy"
        else:
            hint = None
        raise CheckFailed(f"labels{list(at)} is {int(labels[at])}: a label must be the original token "
                          f"({int(tokens[at])} here) or -100", hint)
    on_special = selected & special
    if on_special.any():
        at = _first(on_special)
        hint = ("labels equal tokens everywhere: positions that were not selected must be labelled -100"
                if bool(selected.all()) else
                "special positions ([CLS], [SEP], padding: special_mask True) must never be selected: "
                "combine the random selection with ~special_mask")
        raise CheckFailed(f"position {list(at)} is special (special_mask True) but was selected "
                          f"(labels{list(at)} = {int(labels[at])}, not -100)", hint)
    changed = ~selected & (out != tokens)
    if changed.any():
        at = _first(changed)
        hint = ("labels must be set at EVERY selected position: those replaced by a random token (and those kept) "
                "too, not only the [MASK]ed ones" if bool((out[changed] != ex["mask_id"]).all()) else
                "only selected positions may change, and each changed position keeps its original token as label")
        raise CheckFailed(f"position {list(at)} was not selected (label -100) but its input changed from "
                          f"{int(tokens[at])} to {int(out[at])}", hint)
    out_of_range = selected & ((out < 0) | (out >= ex["vocab_size"]))
    if out_of_range.any():
        at = _first(out_of_range)
        raise CheckFailed(f"inputs{list(at)} is {int(out[at])}, outside range(vocab_size = {ex['vocab_size']})")
    return out, labels, selected


@mlm_mask.property("labels: the original token where selected, -100 elsewhere; "
                   "only selected non-special positions change", inputs.mlm_batches())
def _(trial, ex):
    """Structure of single outputs on small int64/int32 batches: a correct solution never fails."""
    _call_mlm(trial, ex)


@mlm_mask.check("selects each non-special position with probability mask_prob")
def _(trial):
    """Two calls on 80 000 positions (15% special): the default mask_prob (0.15) and 0.4.

    About 68 000 non-special positions per call: the Bernstein margin (δ = 5e-8 each) is
    ±0.0082 around 0.15 and ±0.0112 around 0.4, so ignoring mask_prob (0.15 instead of
    0.4, a 0.25 gap), labelling only the [MASK]ed 80% (0.8·p: a gap of 0.03 and 0.08) or
    selecting with probability 1 − p is far outside.
    """
    for mask_prob in (None, 0.4):
        extra = {} if mask_prob is None else {"mask_prob": mask_prob}
        ex = _mlm_inputs(trial, MLM_SHAPE, 0.15, **extra)
        _, _, selected = _call_mlm(trial, ex)
        p = 0.15 if mask_prob is None else mask_prob
        candidates = ~ex["special_mask"]
        what = ("the selected fraction with the default mask_prob" if mask_prob is None
                else f"the selected fraction with mask_prob = {mask_prob}")
        expect_rates([int(selected.sum())], [int(candidates.sum())], [p], ["selected / non-special"],
                     what=what, false_reject=FALSE_REJECT / 2, mistakes={
                         "mask_prob is ignored (0.15 is used whatever mask_prob says)": [0.15],
                         "only the [MASK]ed 80% are labelled: the random and unchanged 20% need labels too": [0.8 * p],
                         "the unchanged 10% are not labelled (they are predicted too)": [0.9 * p],
                         "a position is selected with probability 1 − mask_prob (the comparison is reversed)": [1 - p],
                     })


@mlm_mask.check("of the selected positions, 80% become [MASK], 10% a random token, 10% stay")
def _(trial):
    """One call on 80 000 positions, mask_prob = 0.9, 10% special: ~65 000 selected.

    Expected split with a vocabulary of V = 12 (a random token can be [MASK] or the
    original): [MASK] 0.8 + 0.1/V, unchanged 0.1 + 0.1/V, another token 0.1·(V − 2)/V.
    Margins (δ = 3.3e-8 each) are ±0.0093, ±0.0074, ±0.0066: never using [MASK], 80/20
    splits, or independent draws per branch (0.72 [MASK]: 8 margins away) are far outside.
    """
    ex = _mlm_inputs(trial, MLM_SHAPE, 0.1, mask_prob=0.9)
    out, _, selected = _call_mlm(trial, ex)
    tokens = ex["tokens"]
    n = int(selected.sum())
    masked = int((selected & (out == MLM_MASK_ID)).sum())
    kept = int((selected & (out == tokens)).sum())
    v = MLM_VOCAB

    def split(mask: float, random: float, keep: float) -> list[float]:
        return [mask + random / v, keep + random / v, random * (v - 2) / v]

    if masked < 0.3 * n:  # a correct solution has 0.81·n: this is 50 margins away
        raise CheckFailed(f"only {masked} of {n} selected positions became [MASK] (mask_id = {MLM_MASK_ID}), "
                          f"expected about 80%", "80% of the selected positions must become mask_id: is [MASK] "
                                                 "ever used, or replaced by a random token?")
    expect_rates([masked, kept, n - masked - kept], [n] * 3, split(0.8, 0.1, 0.1),
                 ["[MASK]", "unchanged", "another token"], what="the 80/10/10 split of the selected positions",
                 mistakes={
                     "every selected position becomes [MASK]: 10% must get a random token and 10% stay": split(1, 0, 0),
                     "no selected position keeps its token: the split is 80% [MASK], 10% random, 10% unchanged":
                         split(0.8, 0.2, 0.0),
                     "no random tokens: the split is 80% [MASK], 10% random, 10% unchanged": split(0.8, 0.0, 0.2),
                     "the [MASK] and random branches use independent draws (so random overwrites 10% of the "
                     "[MASK]ed): draw one number per position and split it 0.8 / 0.1 / 0.1": split(0.72, 0.1, 0.18),
                     "only 10% of the remaining 20% get a random token: it is half of them": split(0.8, 0.02, 0.18),
                     "the [MASK] and random proportions are swapped": split(0.1, 0.8, 0.1),
                 })


@mlm_mask.check("random replacement tokens are uniform over range(vocab_size)")
def _(trial):
    """One call on 80 000 positions, mask_prob = 0.9, 10% special, V = 12, [MASK] = 3.

    For every token v other than [MASK], the positions whose original is not v show v
    with probability 0.1/V exactly: ~540 expected sightings each, margin ±150
    (δ = 9e-9 each, 11 tokens). A range that misses the special ids 0–2 or the last id
    (``randint(vocab_size − 1)``) leaves a count at 0.
    """
    ex = _mlm_inputs(trial, MLM_SHAPE, 0.1, mask_prob=0.9)
    out, _, selected = _call_mlm(trial, ex)
    tokens = ex["tokens"]
    values = [t for t in range(MLM_VOCAB) if t != MLM_MASK_ID]
    counts = [int((selected & (out == t) & (tokens != t)).sum()) for t in values]
    totals = [int((selected & (tokens != t)).sum()) for t in values]
    missing = [t for t, c in zip(values, counts) if c == 0]
    hint = None
    if missing and set(missing) <= set(inputs.SPECIAL_IDS):
        hint = "random tokens come from the whole vocabulary range(vocab_size), special ids included"
    elif missing == [MLM_VOCAB - 1]:
        hint = "the last id never appears: torch.randint(vocab_size, ...) already excludes vocab_size (off by one)"
    elif missing == [0]:
        hint = "id 0 never appears: the range starts at 0"
    if hint:
        raise CheckFailed(f"token(s) {missing} never appeared as a random replacement in "
                          f"{int(selected.sum())} selected positions (vocab_size = {MLM_VOCAB})", hint)
    expect_rates(counts, totals, [0.1 / MLM_VOCAB] * len(values), [f"token {t}" for t in values],
                 what="how often each token appears as a random replacement")


@mlm_mask.check("mask_prob 0 selects nothing; mask_prob 1 selects every non-special position")
def _(trial):
    for mask_prob in (0.0, 1.0):
        ex = _mlm_inputs(trial, (8, 30), 0.2, mask_prob=mask_prob)
        _, _, selected = _call_mlm(trial, ex)
        expected = ~ex["special_mask"] if mask_prob else torch.zeros_like(selected)
        expect_equal(selected, expected, what=f"the selected positions (labels ≠ -100) with mask_prob = {mask_prob:g}")


@mlm_mask.check("the same generator seed gives the same result, and draws come only from it")
def _(trial):
    """Two calls with generators seeded alike must agree exactly, and a third with another
    seed must differ (2 400 positions at mask_prob 0.5: equal by chance with probability 2^-2000)."""
    base = _mlm_inputs(trial, (20, 120), 0.1, mask_prob=0.5)
    seed = base["generator"].seed
    first, second, other = (_call_mlm(trial, {**base, "generator": RngSpec("torch", s)})
                            for s in (seed, seed, seed + 1))
    if not (torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])):
        raise CheckFailed("two calls with generators seeded alike gave different results",
                          "draw every random number with `generator` (torch.rand(..., generator=generator)), "
                          "never from torch's global random state")
    if torch.equal(first[1], other[1]):
        raise CheckFailed("generators with different seeds selected exactly the same positions",
                          "the draws must come from the `generator` argument (is a fixed seed set inside?)")


@mlm_mask.check("generator=None draws from torch's default generator")
def _(trial):
    ex = _mlm_inputs(trial, (10, 40), 0.1, mask_prob=0.5)
    del ex["generator"]
    _, _, selected = _call_mlm(trial, ex)
    if not selected.any():
        raise CheckFailed("nothing was selected among 360 positions at mask_prob = 0.5 without a generator")


# ---------------------------------------------------------------------------
next_sentence_pairs = Exercise("pretraining", "next_sentence_pairs", points=3, arg_names=("documents", "rng"))


def _call_nsp(trial, documents: list[list[str]], seed: int) -> list[tuple[str, str, int]]:
    """Call next_sentence_pairs and check the structure every output must have."""
    got = trial.call(documents, RngSpec("python", seed))
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(f"expected a list of (sentence, sentence, label) triples, got {show(got)}")
    expected_firsts = [(d, i) for d, doc in enumerate(documents) for i in range(len(doc) - 1)]
    if len(got) != len(expected_firsts):
        hint = ("pairs cross document boundaries: pair only sentences of the same document"
                if len(got) == sum(map(len, documents)) - 1 else None)
        raise CheckFailed(f"expected {len(expected_firsts)} pairs (one per pair of consecutive sentences of a "
                          f"document), got {len(got)}", hint)
    source = {s: (d, i) for d, doc in enumerate(documents) for i, s in enumerate(doc)}
    pairs = []
    for k, ((d, i), pair) in enumerate(zip(expected_firsts, got)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 3):
            raise CheckFailed(f"pair {k} is {show(pair)}, expected a triple (sentence, sentence, label)")
        first, second, label = pair
        if type(label) is not int or label not in (0, 1):
            raise CheckFailed(f"pair {k} has label {show(label)}, expected the int 0 or 1",
                              "use 1 and 0 (ints), not True/False" if isinstance(label, bool) else None)
        if first != documents[d][i]:
            raise CheckFailed(f"pair {k} starts with {first!r}, expected {documents[d][i]!r}: pairs come in "
                              f"document-then-sentence order", "do not shuffle the pairs")
        if label == 1 and second != documents[d][i + 1]:
            raise CheckFailed(f"pair {k} = {show(pair)} is labelled 1 but {second!r} is not the sentence after "
                              f"{first!r} ({documents[d][i + 1]!r})", "the labels are swapped: 1 = IsNext")
        if label == 0 and (second not in source or source[second][0] == d):
            where = ("is not a sentence of the documents" if second not in source
                     else f"comes from the same document (doc {d})")
            raise CheckFailed(f"pair {k} = {show(pair)} is labelled 0 (NotNext) but its second sentence {where}",
                              "negatives must come from another document: exclude the current one when drawing"
                              if second in source else None)
        pairs.append((first, second, label))
    return pairs


@next_sentence_pairs.property("pairs consecutive sentences in order; label 1 = true successor, "
                              "label 0 = a sentence of another document", inputs.nsp_corpora())
def _(trial, ex):
    """Structure of single outputs on 2–5 documents of 1–6 sentences."""
    _call_nsp(trial, ex["documents"], ex["rng"].seed)


@next_sentence_pairs.check("label 1 with probability 1/2")
def _(trial):
    """One call with 3 000 pairs (30 documents of 101 sentences): Bernstein margin ±0.055
    around 1/2 (δ = 1e-7); always-positive, always-negative or 1/3–2/3 labelling is outside."""
    pairs = _call_nsp(trial, inputs.documents_of([101] * 30), base_seed(trial))
    positives = sum(label for _, _, label in pairs)
    expect_rates([positives], [len(pairs)], [0.5], ["label 1"], what="the fraction of positive pairs")


@next_sentence_pairs.check("every sentence of every other document can be drawn as a negative")
def _(trial):
    """Document 0 has 1 201 sentences, documents 1–3 have 4, 5 and 1: the ~600 negatives of
    document 0 (fewer than 450 with probability < 1e-13) must show all 10 other sentences.
    Each has probability at least 1/15 per draw (uniform document then sentence) or 1/10
    (pooled), so one is missed with probability below 10·(14/15)^450 < 1e-12."""
    documents = inputs.documents_of([1201, 4, 5, 1])
    pairs = _call_nsp(trial, documents, base_seed(trial))
    drawn = {second for first, second, label in pairs if label == 0 and first.startswith("doc0-")}
    never = [s for doc in documents[1:] for s in doc if s not in drawn]
    if never:
        last_only = set(never) == {doc[-1] for doc in documents[1:] if len(doc) > 1}
        raise CheckFailed(f"among {len(drawn)} distinct negatives drawn for document 0, these sentences of other "
                          f"documents never appeared: {never}",
                          "the last sentence of a document is never drawn (randrange(len(doc) − 1)?)" if last_only
                          else "negatives must be drawn from ALL other documents, each sentence possible")


@next_sentence_pairs.check("the same rng seed gives the same pairs, and draws come only from it")
def _(trial):
    documents = inputs.documents_of([30, 20, 25])
    seed = base_seed(trial)
    first, second, other = (_call_nsp(trial, documents, s) for s in (seed, seed, seed + 1))
    if first != second:
        raise CheckFailed("two calls with random.Random generators seeded alike gave different pairs",
                          "draw with the `rng` argument (rng.random(), rng.choice(...)), not the `random` module")
    if first == other:
        raise CheckFailed("generators with different seeds gave exactly the same 72 pairs",
                          "the draws must come from the `rng` argument")


# ---------------------------------------------------------------------------
sample_next_token = Exercise("pretraining", "sample_next_token", points=3,
                             arg_names=("logits", "temperature", "top_k", "generator"))

INT_HINT = "return a Python int: int(index)"
SOFTMAX_DRAWS = 500
TOP_K_DRAWS = 300


def _draw(trial, logits: torch.Tensor, seed: int, **options: Any) -> int:
    got = trial.call(logits, generator=RngSpec("torch", seed), **options)
    if type(got) is not int:
        raise CheckFailed(f"expected a Python int, got {show(got)} ({type(got).__name__})", INT_HINT)
    if not 0 <= got < logits.shape[-1]:
        raise CheckFailed(f"drew {got}, outside range(V = {logits.shape[-1]})")
    return got


def _first_argmax(logits: torch.Tensor) -> int:
    return int(np.argmax(logits.double().numpy()))


def _topk_indices(logits: torch.Tensor, top_k: int | None) -> list[int]:
    if top_k is None or top_k >= logits.shape[-1]:
        return list(range(logits.shape[-1]))
    return sorted(int(i) for i in torch.topk(logits, top_k).indices)


def _softmax(logits: torch.Tensor, temperature: float = 1.0, keep: list[int] | None = None) -> list[float]:
    scaled = logits.double() / temperature
    if keep is not None:
        scaled = torch.full_like(scaled, -math.inf).index_copy(0, torch.tensor(keep), scaled[keep])
    return torch.softmax(scaled, -1).tolist()


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(v, 4) for v in values.tolist()]


def _draw_counts(trial, logits: torch.Tensor, draws: int, **options: Any) -> list[int]:
    counts = [0] * logits.shape[-1]
    for seed in seeds_for(trial, draws):
        counts[_draw(trial, logits, seed, **options)] += 1
    return counts


@sample_next_token.property("returns an int in range(V), in the top-k when given, "
                            "the first argmax at temperature 0", inputs.next_token_logits())
def _(trial, ex):
    """Structure of single draws (ties included: hypothesis shrinks logits towards all zeros)."""
    logits, top_k = ex["logits"], ex["top_k"]
    got = _draw(trial, logits, ex["generator"].seed, temperature=ex["temperature"], top_k=top_k)
    if ex["temperature"] == 0:
        masked = torch.full_like(logits, -math.inf).index_copy(
            0, torch.tensor(_topk_indices(logits, top_k)), logits[_topk_indices(logits, top_k)])
        allowed = {_first_argmax(logits), _first_argmax(masked)}
        if got not in allowed:
            raise CheckFailed(f"at temperature 0 expected the first argmax {_first_argmax(logits)}, got {got}",
                              "temperature 0 means greedy: the index of the first maximum (torch.argmax)")
        return
    kth_largest = float(torch.sort(logits, descending=True).values[min(top_k or len(logits), len(logits)) - 1])
    if float(logits[got]) < kth_largest:
        raise CheckFailed(f"drew {got} (logit {float(logits[got]):.4g}), which is not among the top_k = {top_k} "
                          f"largest logits", "tokens outside the top-k must get probability 0 (logit −inf)")


@sample_next_token.check("draws follow softmax(logits / temperature)")
def _(trial):
    """500 draws (one fresh seeded generator each) from logits [2, 1, 0, −1] at T = 0.5:
    p = [.865, .117, .016, .002], margins (δ = 2.5e-8 each) ±.105, ±.100, ±.048, ±.029.
    Ignoring T (or dividing after the softmax, which the normalisation undoes) gives
    p₀ = .644: its token-0 count would have to land 5.4 standard deviations above its
    mean to pass (probability < 1e-7); multiplying by T (p₀ = .455), argmax-only and
    uniform draws are further away still."""
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    temperature = 0.5
    counts = _draw_counts(trial, logits, SOFTMAX_DRAWS, temperature=temperature)
    expect_rates(counts, [SOFTMAX_DRAWS] * 4, _softmax(logits, temperature), [f"token {i}" for i in range(4)],
                 what=f"the frequencies of {SOFTMAX_DRAWS} draws from logits {_rounded(logits)} at temperature {temperature}",
                 mistakes={
                     "the temperature is ignored (dividing the probabilities after the softmax is undone when "
                     "they are normalised): divide the logits": _softmax(logits),
                     "the logits are multiplied by the temperature: divide them": _softmax(logits * temperature),
                     "the draws are always the argmax: sample with torch.multinomial": [1.0, 0.0, 0.0, 0.0],
                     "the draws are uniform: sample from the softmax probabilities": [0.25] * 4,
                 })


@sample_next_token.check("top_k keeps exactly the k largest logits, renormalised")
def _(trial):
    """300 draws at T = 1 from 6 logits with top_k = 3 (probabilities .40/.33/.27 inside).

    Any draw outside the top 3 fails (a correct solution never makes one); keeping k + 1
    tokens gives the 4th probability .068, seen at least once in 300 draws except with
    probability 7e-10; keeping the smallest, or giving the others logit 0, is seen at
    once. Within the top 3, the frequencies must fit the renormalised softmax
    (Bernstein, δ = 3.3e-8 each; margins about ±0.19)."""
    logits = torch.tensor([0.3, 2.0, -1.0, 1.8, 1.6, 0.0])
    top = _topk_indices(logits, 3)
    order = torch.argsort(logits, descending=True).tolist()
    counts = _draw_counts(trial, logits, TOP_K_DRAWS, top_k=3)
    outside = [i for i, c in enumerate(counts) if c and i not in top]
    if outside:
        if outside == [order[3]]:
            hint = "top-k keeps k + 1 tokens (off by one): keep exactly the k largest"
        elif set(outside) <= set(order[-3:]) and not any(counts[i] for i in top):
            hint = "the k SMALLEST logits were kept: torch.topk returns the largest"
        else:
            hint = "tokens outside the top-k must get probability 0: set their logits to −inf (0 is not enough)"
        raise CheckFailed(f"with top_k = 3 of logits {_rounded(logits)}, token(s) {outside} were drawn "
                          f"(counts {counts}); only {top} may be", hint)
    expect_rates([counts[i] for i in top], [TOP_K_DRAWS] * 3, [_softmax(logits, 1.0, top)[i] for i in top],
                 [f"token {i}" for i in top], what=f"the frequencies of {TOP_K_DRAWS} draws with top_k = 3 of {_rounded(logits)}",
                 mistakes={"the kept tokens are drawn uniformly: use the softmax of their logits": [1 / 3] * 3})


@sample_next_token.check("top_k ≥ V restricts nothing")
def _(trial):
    """45 draws from 3 equal logits with top_k = 3 and 7: a token is missed by chance with
    probability 3·(2/3)^45 < 4e-8 per call."""
    logits = torch.zeros(3)
    for top_k in (3, 7):
        counts = _draw_counts(trial, logits, 45, top_k=top_k)
        if 0 in counts:
            raise CheckFailed(f"with top_k = {top_k} ≥ V = 3, token {counts.index(0)} never appeared in 45 draws "
                              f"from equal logits (counts {counts})")


@sample_next_token.check("temperature 0 returns the first argmax")
def _(trial):
    for logits, top_k in ((torch.tensor([1.0, 3.0, 0.0, 3.0, 2.0]), None),
                          (torch.tensor([-2.0, 4.0, 4.0], dtype=torch.float64), 2),
                          (torch.tensor([0.5, 0.25, 1.5, -1.0]), None)):
        got = _draw(trial, logits, base_seed(trial), temperature=0.0, top_k=top_k)
        expect_equal(got, _first_argmax(logits), what=f"the token at temperature 0 for logits {_rounded(logits)}",
                     mistakes={"the LAST maximum was returned: use the first (torch.argmax)":
                               len(logits) - 1 - _first_argmax(logits.flip(0))})


@sample_next_token.check("the same generator seed gives the same draw, and draws come only from it")
def _(trial):
    """25 calls with generators seeded alike on 16 equal logits must all agree (a global
    RNG agrees 25 times with probability 16^-24); 25 different seeds must not all agree."""
    logits = torch.zeros(16)
    seed = base_seed(trial)
    same = {_draw(trial, logits, seed) for _ in range(25)}
    if len(same) > 1:
        raise CheckFailed(f"25 calls with generators seeded alike drew {sorted(same)}",
                          "sample with the `generator` argument (torch.multinomial(probs, 1, generator=generator)), "
                          "never with torch's global random state")
    if len({_draw(trial, logits, s) for s in seeds_for(trial, 25)}) == 1:
        raise CheckFailed("25 generators with different seeds all drew the same token from 16 equal logits",
                          "the draw must come from the `generator` argument")


# ---------------------------------------------------------------------------
generate = Exercise("pretraining", "generate", points=3,
                    arg_names=("next_logits_fn", "prompt", "max_new_tokens", "eos_id", "temperature", "top_k",
                               "generator"))
GENERATE_DRAWS = 500


def _token_list(tokens: Any) -> list[int]:
    """The token list a student passed to next_logits_fn (a list of ints, or a 1-D int tensor)."""
    if isinstance(tokens, torch.Tensor) and tokens.dim() == 1 and not tokens.is_floating_point():
        return [int(t) for t in tokens.tolist()]
    if isinstance(tokens, (list, tuple)) and all(isinstance(t, (int, np.integer)) and not isinstance(t, bool)
                                                 for t in tokens):
        return [int(t) for t in tokens]
    raise TypeError(f"next_logits_fn expects the list of tokens so far, got {show(tokens)}")


class NextLogits:
    """A next_logits_fn answered in the grader: ``logits(tokens)`` gives the [V] logits;
    every call's token list is recorded (the student cannot fake the count)."""

    def __init__(self, logits: Callable[[list[int]], np.ndarray], description: str) -> None:
        self.logits = logits
        self.description = description
        self.calls: list[list[int]] = []

    def __call__(self, tokens: Any) -> torch.Tensor:
        tokens = _token_list(tokens)
        self.calls.append(tokens)
        return torch.tensor(self.logits(tokens), dtype=torch.float32)


def table_logits(table: np.ndarray) -> NextLogits:
    """Logits looked up by the last token and the position (``table[len % 3, last]``)."""
    return NextLogits(lambda tokens: table[len(tokens) % table.shape[0], tokens[-1]],
                      f"next_logits_fn(tokens) = table[len(tokens) % 3, tokens[-1]] with V = {table.shape[-1]}")


def constant_logits(values: list[float]) -> NextLogits:
    return NextLogits(lambda tokens: np.array(values), f"next_logits_fn(tokens) = {values} whatever the tokens")


def _greedy(table: np.ndarray, prompt: list[int], max_new_tokens: int, eos_id: int | None) -> list[int]:
    return ref.generate(table_logits(table), prompt, max_new_tokens, eos_id=eos_id, temperature=0.0)


def _call_generate(trial, fn: NextLogits, prompt: list[int], max_new_tokens: int, **options: Any) -> list[int]:
    got = trial.call(fn, list(prompt), max_new_tokens, **options)
    tokens = expect_int_list(got, what="the generated tokens")
    if tokens[:len(prompt)] != list(prompt):
        raise CheckFailed(f"the result {show(tokens)} does not start with the prompt {prompt}",
                          "return prompt + the new tokens" if len(tokens) <= max_new_tokens else None)
    if len(tokens) > len(prompt) + max_new_tokens:
        raise CheckFailed(f"{len(tokens) - len(prompt)} new tokens were generated with max_new_tokens = "
                          f"{max_new_tokens}", "one token too many: generate at most max_new_tokens")
    return tokens


@generate.property("at temperature 0, equals the greedy continuation (eos included, then stop)",
                   inputs.greedy_generations())
def _(trial, ex):
    table, prompt, budget, eos_id = ex["table"], ex["prompt"], ex["max_new_tokens"], ex["eos_id"]
    got = trial.call(table_logits(table), list(prompt), budget, eos_id=eos_id, temperature=0.0)
    tokens = expect_int_list(got, what="the generated tokens")
    expected = _greedy(table, prompt, budget, eos_id)
    stopped = len(expected) < len(prompt) + budget
    expect_equal(tokens, expected, what="the generated tokens", mistakes={
        "the prompt is missing: return prompt + the new tokens": expected[len(prompt):],
        "eos_id is not included: append it, then stop": expected[:-1] if stopped else None,
        "generation continues after eos_id: stop right after appending it":
            _greedy(table, prompt, budget, None) if stopped else None,
        "one token too many: generate at most max_new_tokens": None if stopped else
            _greedy(table, prompt, budget + 1, eos_id),
        "one token too few: generate max_new_tokens new tokens": None if stopped or budget == 0 else
            _greedy(table, prompt, budget - 1, eos_id),
    })


@generate.check("calls next_logits_fn once per new token, with all tokens so far")
def _(trial):
    table = trial.rng.normal(0.0, 2.0, size=(3, 6, 6))
    fn, prompt = table_logits(table), [4, 1, 5]
    tokens = _call_generate(trial, fn, prompt, 6, temperature=0.0)
    expected = [tokens[:i] for i in range(len(prompt), len(prompt) + 6)]
    if len(tokens) != len(prompt) + 6:
        raise CheckFailed(f"with eos_id=None and max_new_tokens = 6, expected 6 new tokens, got "
                          f"{len(tokens) - len(prompt)}: {tokens}")
    if fn.calls != expected:
        shown = "\n".join(f"  call {i}: {show(c)}" for i, c in enumerate(fn.calls[:8]))
        hint = None
        if len(fn.calls) != 6:
            hint = "call next_logits_fn exactly once per new token"
        elif fn.calls == [[t[-1]] for t in expected]:
            hint = "pass the whole token list (prompt + new tokens), not just the last token"
        elif fn.calls == [t[len(prompt):] or [] for t in expected]:
            hint = "pass the whole token list, prompt included"
        raise CheckFailed(f"next_logits_fn was called {len(fn.calls)} times with:\n{shown}\n"
                          f"expected the 6 prefixes {show(expected)}", hint)


@generate.check("stops right after eos_id")
def _(trial):
    """Greedy on logits that favour (last token + 1) % 6: from prompt [0] with eos_id = 3,
    the result is [0, 1, 2, 3] after exactly 3 calls, although max_new_tokens = 10."""
    fn = NextLogits(lambda tokens: 3.0 * np.eye(6)[(tokens[-1] + 1) % 6],
                    "next_logits_fn(tokens) favours (tokens[-1] + 1) % 6")
    tokens = _call_generate(trial, fn, [0], 10, eos_id=3, temperature=0.0)
    expect_equal(tokens, [0, 1, 2, 3], what="the generated tokens", mistakes={
        "eos_id is not included: append it, then stop": [0, 1, 2],
        "generation continues after eos_id: stop right after appending it": [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4],
    })
    if len(fn.calls) != 3:
        raise CheckFailed(f"next_logits_fn was called {len(fn.calls)} times to produce 3 tokens",
                          "call next_logits_fn once per new token")


@generate.check("max_new_tokens = 0 returns the prompt without calling next_logits_fn")
def _(trial):
    fn = constant_logits([0.0, 1.0, 2.0])
    tokens = _call_generate(trial, fn, [2, 0, 1], 0, temperature=1.0, generator=RngSpec("torch", 0))
    expect_equal(tokens, [2, 0, 1], what="the result")
    if fn.calls:
        raise CheckFailed(f"next_logits_fn was called {len(fn.calls)} time(s) with max_new_tokens = 0")


@generate.check("samples every token from softmax(logits / temperature), top_k passed on")
def _(trial):
    """Constant logits make the new tokens independent draws: 500 tokens in one call at
    T = 0.5 from [2, 1, 0, −1] (the test and margins of sample_next_token's "draws follow
    softmax" check: a temperature not passed on survives with probability < 1e-7), then
    60 tokens with top_k = 2 from 5 logits where the others hold 43% of the mass: if
    top_k is not passed on, all 60 stay inside with probability 0.57^60 < 1e-14."""
    values = [2.0, 1.0, 0.0, -1.0]
    tokens = _call_generate(trial, constant_logits(values), [0], GENERATE_DRAWS, temperature=0.5,
                            generator=RngSpec("torch", base_seed(trial)))
    new = tokens[1:]
    counts = [new.count(i) for i in range(4)]
    logits = torch.tensor(values)
    expect_rates(counts, [len(new)] * 4, _softmax(logits, 0.5), [f"token {i}" for i in range(4)],
                 what=f"the frequencies of {GENERATE_DRAWS} tokens generated at temperature 0.5 from constant logits "
                      f"{values}",
                 mistakes={"the temperature is not passed on to the sampling": _softmax(logits),
                           "the new tokens are greedy: sample with the generator": [1.0, 0.0, 0.0, 0.0]})
    top_values = [1.0, 0.9, 0.0, 0.5, 0.2]
    tokens = _call_generate(trial, constant_logits(top_values), [1], 60, top_k=2,
                            generator=RngSpec("torch", base_seed(trial) + 1))
    outside = sorted(set(tokens[1:]) - {0, 1})
    if outside:
        raise CheckFailed(f"with top_k = 2 of constant logits {top_values}, generate produced token(s) {outside}",
                          "top_k is not passed on to the sampling")


@generate.check("the same generator seed gives the same text, and draws come only from it")
def _(trial):
    """20 tokens from 16 equal logits: two runs with generators seeded alike must agree,
    and runs with different seeds must differ (16^-20 by chance)."""
    fn_values = [0.0] * 16
    seed = base_seed(trial)
    runs = [_call_generate(trial, constant_logits(fn_values), [0], 20, generator=RngSpec("torch", s))
            for s in (seed, seed, seed + 1)]
    if runs[0] != runs[1]:
        raise CheckFailed("two runs with generators seeded alike generated different tokens:\n"
                          f"  {runs[0]}\n  {runs[1]}",
                          "pass `generator` on to every draw, and never use torch's global random state")
    if runs[0] == runs[2]:
        raise CheckFailed("runs with different generator seeds generated the same 20 tokens",
                          "the draws must come from the `generator` argument")


EXERCISES = [mlm_mask, next_sentence_pairs, sample_next_token, generate]
