"""Training check: a tiny Transformer learns to reverse token sequences (Lecture 5).

One encoder block and one decoder block built from the student's ``encoder_block``,
``decoder_block``, ``sinusoidal_positional_encoding`` and ``shift_right`` (teacher
forcing) learn to map ``a b c d e f`` to ``f e d c b a [EOS]``. The grader then runs
the reference blocks on the returned weights and decodes fresh held-out sequences
with the student's ``beam_search`` (its ``step_fn`` answered in the grader).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

from lhy_grader.compare import CheckFailed, expect_int_list
from lhy_grader.compare.show import show
from lhy_grader.training.common import (Evaluation, ProgressFn, Reporter, StudentCall, decoder_block_weights,
                                        encoder_block_weights, fresh_rows, seeded_normal, student_modules,
                                        train_with_adam, trainable, with_prefix, without_prefix)

BOS, EOS = 0, 1
VOCAB = 12                   # BOS, EOS and ten symbols
LENGTH = 6                   # source length; the target adds EOS
D_MODEL, HEADS, D_FF = 32, 2, 64
STEPS, BATCH, LR = 250, 64, 3e-3
REPORT_EVERY = 10
MODULES = ("attention", "transformer")
#: Held-out sequences decoded with beam search, and the sequence accuracy required.
EVAL_COUNT, BEAM_WIDTH, THRESHOLD = 100, 3, 0.9


def sources(rng: np.random.Generator, count: int) -> np.ndarray:
    """[count, LENGTH] random symbols (never BOS or EOS)."""
    return rng.integers(2, VOCAB, size=(count, LENGTH))


def targets_of(src: torch.Tensor) -> torch.Tensor:
    """The reversed source followed by EOS: [B, LENGTH + 1]."""
    return torch.cat([src.flip(1), torch.full_like(src[:, :1], EOS)], dim=1)


def initial_weights(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"embedding": seeded_normal(generator, (VOCAB, D_MODEL), 1.0),
            **with_prefix(encoder_block_weights(generator, D_MODEL, D_FF), "enc_"),
            **with_prefix(decoder_block_weights(generator, D_MODEL, D_FF), "dec_"),
            "w_out": seeded_normal(generator, (D_MODEL, VOCAB), D_MODEL ** -0.5), "b_out": torch.zeros(VOCAB)}


#: What ``train`` returns, checked by the grader before it evaluates anything.
WEIGHT_SHAPES = {key: tuple(value.shape) for key, value in initial_weights(0).items()}


def encode(modules: dict[str, ModuleType], weights: dict[str, torch.Tensor], src: torch.Tensor) -> torch.Tensor:
    """The encoder's output (``memory``) [B, LENGTH, D] for source tokens [B, LENGTH]."""
    pe = modules["attention"].sinusoidal_positional_encoding(LENGTH + 1, D_MODEL).to(src.device)
    x = weights["embedding"][src] + pe[:src.shape[1]]
    return modules["transformer"].encoder_block(x, without_prefix(weights, "enc_"), HEADS)


def decode_logits(modules: dict[str, ModuleType], weights: dict[str, torch.Tensor], memory: torch.Tensor,
                  tgt_in: torch.Tensor) -> torch.Tensor:
    """Next-token logits [B, T, VOCAB] for decoder inputs [B, T] (starting with BOS)."""
    pe = modules["attention"].sinusoidal_positional_encoding(LENGTH + 1, D_MODEL).to(tgt_in.device)
    y = weights["embedding"][tgt_in] + pe[:tgt_in.shape[1]]
    h = modules["transformer"].decoder_block(y, memory, without_prefix(weights, "dec_"), HEADS)
    return h @ weights["w_out"] + weights["b_out"]


def run_training(modules: dict[str, ModuleType], seed: int, device: str,
                 progress: ProgressFn | None = None) -> dict:
    """Train on fresh random batches drawn from ``seed``; returns the weights and the losses."""
    rng = np.random.default_rng(seed)
    weights = trainable(initial_weights(seed), device)
    report = Reporter(progress, STEPS, REPORT_EVERY)

    def loss(step: int) -> torch.Tensor:
        src = torch.from_numpy(sources(rng, BATCH)).to(device)
        tgt = targets_of(src)
        tgt_in = modules["transformer"].shift_right(tgt, BOS)
        logits = decode_logits(modules, weights, encode(modules, weights, src), tgt_in)
        return F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))

    trained = train_with_adam(weights, loss, STEPS, LR, report)
    return {"weights": trained, "losses": report.losses}


def train(seed: int, device: str, progress: ProgressFn | None = None) -> dict:
    """The worker routine: train with the submission's own functions."""
    return run_training(student_modules(*MODULES), seed, device, progress)


def training_sequences(seed: int) -> set[bytes]:
    """Every source sequence ``run_training(seed)`` sees (to keep held-out data unseen)."""
    rng = np.random.default_rng(seed)
    return {row.tobytes() for _ in range(STEPS) for row in sources(rng, BATCH)}


def held_out_sources(eval_seed: int, train_seed: int) -> np.ndarray:
    """(Grader) [EVAL_COUNT, LENGTH] distinct sources the training with ``train_seed`` never saw."""
    return fresh_rows(np.random.default_rng(eval_seed), sources, EVAL_COUNT, training_sequences(train_seed))


class ReferenceStep:
    """(Grader) ``step_fn`` for beam search: next-token log-probabilities of the trained
    weights under the reference architecture, for one source sequence."""

    def __init__(self, modules: dict[str, ModuleType], weights: dict[str, torch.Tensor], src: np.ndarray) -> None:
        self.modules, self.weights = modules, weights
        with torch.no_grad():
            self.memory = encode(modules, weights, torch.from_numpy(src)[None])  # [1, LENGTH, D]
        self.description = f"the trained model's next-token log-probabilities for the source {src.tolist()}"

    def __call__(self, prefixes: list) -> torch.Tensor:
        if not (isinstance(prefixes, list) and prefixes and all(isinstance(p, list) for p in prefixes)
                and len({len(p) for p in prefixes}) == 1):
            raise ValueError(f"step_fn expects a non-empty list of equally long token lists, got {show(prefixes)}")
        tokens = torch.tensor(prefixes)
        if tokens.dtype != torch.int64 or tokens.min() < 0 or tokens.max() >= VOCAB or tokens.shape[1] > LENGTH + 1:
            raise ValueError(f"step_fn got prefixes outside the vocabulary or too long: {show(prefixes)}")
        with torch.no_grad():
            memory = self.memory.expand(len(prefixes), -1, -1)
            return torch.log_softmax(decode_logits(self.modules, self.weights, memory, tokens)[:, -1], dim=-1)


def evaluate(modules: dict[str, ModuleType], weights: dict[str, torch.Tensor], eval_seed: int, train_seed: int,
             call_student: StudentCall) -> Evaluation:
    """(Grader) Decode fresh held-out sources with the student's beam_search over the
    reference model; the accuracy counts exact reversals (EOS included)."""
    correct = 0
    for src in held_out_sources(eval_seed, train_seed):
        hypotheses = call_student("decoding.beam_search", ReferenceStep(modules, weights, src), BOS, EOS,
                                  BEAM_WIDTH, LENGTH + 1)
        if not (isinstance(hypotheses, list) and hypotheses and isinstance(hypotheses[0], (tuple, list))):
            raise CheckFailed(f"beam_search returned {show(hypotheses)}, expected a list of (tokens, score) pairs")
        best = expect_int_list(hypotheses[0][0], what="the best hypothesis of beam_search")
        correct += best == [*src[::-1].tolist(), EOS]
    return Evaluation("held-out sequence accuracy", correct / EVAL_COUNT, THRESHOLD, True,
                      f"{EVAL_COUNT} fresh sequences decoded by your beam_search (width {BEAM_WIDTH})")
