"""Training check: a tiny BERT learns a synthetic language by filling in blanks (Lecture 7).

The language has one rule: a sentence ``[CLS] w1 … w6 [SEP] w1 … w6 [SEP]`` says the
same six words twice. An encoder block built from the student's ``encoder_block``
and ``sinusoidal_positional_encoding`` are trained on batches masked by the student's
``mlm_mask``. The grader then runs the reference encoder on the returned weights over
fresh held-out sentences, each with one word replaced by [MASK], and counts how often
the masked word is recovered (chance: 1 in 12).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

from lhy_grader.training.common import (Evaluation, ProgressFn, Reporter, StudentCall, encoder_block_weights,
                                        fresh_rows, seeded_normal, student_modules, train_with_adam, trainable,
                                        with_prefix, without_prefix)

PAD, CLS, SEP, MASK = 0, 1, 2, 3
FIRST_WORD, VOCAB = 4, 16    # twelve words
HALF = 6                     # words per half sentence
LENGTH = 2 * HALF + 3
SPECIAL_POSITIONS = (0, HALF + 1, LENGTH - 1)
D_MODEL, HEADS, D_FF = 32, 2, 64
STEPS, BATCH, LR, MASK_PROB = 250, 64, 1e-2, 0.15
#: Small token embeddings leave room for the positional encoding, which is all the rule needs.
EMBED_STD = 0.3
REPORT_EVERY = 10
MODULES = ("attention", "transformer", "pretraining")
#: Held-out sentences (one masked word each), and the accuracy required.
EVAL_COUNT, THRESHOLD = 500, 0.8


def word_halves(rng: np.random.Generator, count: int) -> np.ndarray:
    """[count, HALF] random words: the content of ``count`` sentences."""
    return rng.integers(FIRST_WORD, VOCAB, size=(count, HALF))


def sentences(halves: np.ndarray) -> torch.Tensor:
    """[B, LENGTH] token ids ``[CLS] half [SEP] half [SEP]``."""
    column = lambda token: np.full((len(halves), 1), token)  # noqa: E731
    return torch.from_numpy(np.concatenate([column(CLS), halves, column(SEP), halves, column(SEP)], axis=1))


def special_mask(batch: int) -> torch.Tensor:
    """[B, LENGTH] True at [CLS] and [SEP]."""
    mask = torch.zeros(batch, LENGTH, dtype=torch.bool)
    mask[:, list(SPECIAL_POSITIONS)] = True
    return mask


def initial_weights(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"embedding": seeded_normal(generator, (VOCAB, D_MODEL), EMBED_STD),
            **with_prefix(encoder_block_weights(generator, D_MODEL, D_FF), "enc_"),
            "w_out": seeded_normal(generator, (D_MODEL, VOCAB), D_MODEL ** -0.5), "b_out": torch.zeros(VOCAB)}


#: What ``train`` returns, checked by the grader before it evaluates anything.
WEIGHT_SHAPES = {key: tuple(value.shape) for key, value in initial_weights(0).items()}


def logits(modules: dict[str, ModuleType], weights: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """Predicted token logits [B, LENGTH, VOCAB] at every position of ``tokens`` [B, LENGTH]."""
    pe = modules["attention"].sinusoidal_positional_encoding(LENGTH, D_MODEL).to(tokens.device)
    h = modules["transformer"].encoder_block(weights["embedding"][tokens] + pe, without_prefix(weights, "enc_"), HEADS)
    return h @ weights["w_out"] + weights["b_out"]


def run_training(modules: dict[str, ModuleType], seed: int, device: str,
                 progress: ProgressFn | None = None) -> dict:
    """Train on fresh sentences drawn from ``seed``, masked by ``mlm_mask``; returns the
    weights and the losses."""
    rng = np.random.default_rng(seed)
    masking = torch.Generator(device=device).manual_seed(seed)
    weights = trainable(initial_weights(seed), device)
    report = Reporter(progress, STEPS, REPORT_EVERY)
    specials = special_mask(BATCH).to(device)

    def loss(step: int) -> torch.Tensor:
        tokens = sentences(word_halves(rng, BATCH)).to(device)
        inputs, labels = modules["pretraining"].mlm_mask(tokens, specials, VOCAB, MASK, MASK_PROB, generator=masking)
        predicted = logits(modules, weights, inputs)
        return F.cross_entropy(predicted.reshape(-1, VOCAB), labels.reshape(-1).long(), ignore_index=-100)

    trained = train_with_adam(weights, loss, STEPS, LR, report)
    return {"weights": trained, "losses": report.losses}


def train(seed: int, device: str, progress: ProgressFn | None = None) -> dict:
    """The worker routine: train with the submission's own functions."""
    return run_training(student_modules(*MODULES), seed, device, progress)


def training_halves(seed: int) -> set[bytes]:
    """Every sentence content ``run_training(seed)`` sees (to keep held-out data unseen)."""
    rng = np.random.default_rng(seed)
    return {row.tobytes() for _ in range(STEPS) for row in word_halves(rng, BATCH)}


def held_out_halves(rng: np.random.Generator, train_seed: int) -> np.ndarray:
    """(Grader) [EVAL_COUNT, HALF] distinct sentence contents the training with ``train_seed`` never saw."""
    return fresh_rows(rng, word_halves, EVAL_COUNT, training_halves(train_seed))


def evaluate(modules: dict[str, ModuleType], weights: dict[str, torch.Tensor], eval_seed: int, train_seed: int,
             call_student: StudentCall) -> Evaluation:
    """(Grader) Mask one word of each fresh held-out sentence; the reference encoder with
    the trained weights must name it."""
    rng = np.random.default_rng(eval_seed)
    tokens = sentences(held_out_halves(rng, train_seed))
    word = torch.from_numpy(rng.integers(0, 2 * HALF, size=EVAL_COUNT))
    positions = torch.where(word < HALF, word + 1, word + 2)      # skip [CLS], and [SEP] in the middle
    rows = torch.arange(EVAL_COUNT)
    masked = tokens.clone()
    masked[rows, positions] = MASK
    with torch.no_grad():
        predicted = logits(modules, weights, masked)[rows, positions].argmax(-1)
    accuracy = float((predicted == tokens[rows, positions]).double().mean())
    return Evaluation("held-out masked-word accuracy", accuracy, THRESHOLD, True,
                      f"{EVAL_COUNT} fresh sentences with one word masked each (chance: 1/{VOCAB - FIRST_WORD})")
