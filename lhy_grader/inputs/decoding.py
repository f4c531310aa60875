"""Inputs for the Lecture 5 decoding exercises: ``step_fn`` models answered in the grader.

A model is a Python callable passed to the student's function; the worker turns it
into a callback, so every call runs here, in the trusted process. The model checks
the prefixes it is given, counts the calls and records each call's batch, so a
submission cannot fake how it used ``step_fn``. Its log-probabilities are random
but reproducible from the hypothesis example (a seed), so no fixed example can be
memorised.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch
from hypothesis import strategies as st

from lhy_grader.inputs.strategies import seeds

#: Limits that turn a runaway search into a clear error instead of a timeout.
MAX_CALLS = 200
MAX_BATCH = 4096
MAX_PREFIX_LEN = 64
#: Spread of the random logits: peaked enough that eos_id is often decisive.
LOGIT_SCALE = 2.0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Normalised log-probabilities over the last axis (float64)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class StepModel:
    """A ``step_fn``: list of prefixes → ``[n, V]`` tensor of next-token log-probabilities.

    Subclasses define ``log_probs(prefix)`` (a ``[V]`` float64 array). ``calls`` holds
    one list of prefixes (tuples, ``bos_id`` first) per call, in call order.
    """

    description = "a step_fn"

    def __init__(self, vocab_size: int, bos_id: int, dtype: torch.dtype = torch.float64) -> None:
        self.vocab_size, self.bos_id, self.dtype = vocab_size, bos_id, dtype
        self.calls: list[list[tuple[int, ...]]] = []

    def log_probs(self, prefix: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, prefixes) -> torch.Tensor:
        if len(self.calls) >= MAX_CALLS:
            raise ValueError(f"step_fn was called more than {MAX_CALLS} times: does the search stop?")
        batch = self._validated(prefixes)
        self.calls.append(batch)
        rows = np.array([self.log_probs(p) for p in batch]).reshape(len(batch), self.vocab_size)
        return torch.tensor(rows, dtype=self.dtype)

    def _as_returned(self, log_probs: np.ndarray) -> np.ndarray:
        """``log_probs`` rounded to the dtype step_fn returns (the values the student sees)."""
        return torch.tensor(log_probs, dtype=self.dtype).double().numpy()

    def fresh(self) -> "StepModel":
        """The same model with no calls recorded."""
        twin = copy.copy(self)
        twin.calls = []
        return twin

    def sequence_log_prob(self, tokens: list[int]) -> float:
        """Summed log-probability of ``tokens`` (without ``bos_id``) after ``[bos_id]``."""
        prefix, total = (self.bos_id,), 0.0
        for token in tokens:
            total += float(self.log_probs(prefix)[token])
            prefix += (token,)
        return total

    def _validated(self, prefixes) -> list[tuple[int, ...]]:
        if isinstance(prefixes, (torch.Tensor, np.ndarray)) and prefixes.ndim == 2:
            prefixes = prefixes.tolist()  # a [n, t] batch of equally long prefixes
        if not isinstance(prefixes, (list, tuple)):
            raise ValueError(f"step_fn takes a list of prefixes (token lists), got {_kind(prefixes)}")
        if len(prefixes) > MAX_BATCH:
            raise ValueError(f"step_fn was given {len(prefixes)} prefixes at once (at most {MAX_BATCH})")
        if prefixes and all(isinstance(p, (int, np.integer)) for p in prefixes):
            raise ValueError("step_fn takes a LIST of prefixes, e.g. step_fn([[bos_id, 5]]); it was given "
                             "one flat list of ints: wrap the prefix in a list")
        return [self._prefix(p) for p in prefixes]

    def _prefix(self, row) -> tuple[int, ...]:
        if isinstance(row, (torch.Tensor, np.ndarray)) and row.ndim == 1:
            row = row.tolist()
        if not isinstance(row, (list, tuple)) or not all(_is_token(t) for t in row):
            raise ValueError("each prefix given to step_fn must be a list of int token ids")
        tokens = tuple(int(t) for t in row)
        if not tokens or tokens[0] != self.bos_id:
            raise ValueError(f"each prefix must start with bos_id = {self.bos_id}; got {list(tokens)[:10]}")
        if len(tokens) > MAX_PREFIX_LEN:
            raise ValueError(f"a prefix of {len(tokens)} tokens was given to step_fn: does the search stop?")
        if not all(0 <= t < self.vocab_size for t in tokens):
            raise ValueError(f"prefix {list(tokens)} holds a token outside range({self.vocab_size})")
        return tokens


def _kind(value) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"a {type(value).__name__} of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _is_token(value) -> bool:
    """An integer scalar: int, NumPy integer, or a one-element integer tensor/array (a 0-d
    one may arrive with shape (1,) from the worker)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_floating_point() and value.dtype != torch.bool
    return isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu"


class MarkovModel(StepModel):
    """The next token depends only on the last one: ``log_probs = table[prefix[-1]]``."""

    def __init__(self, table: np.ndarray, bos_id: int) -> None:
        super().__init__(table.shape[1], bos_id)
        self.table = np.asarray(table, dtype=np.float64)
        self.description = (f"a Markov step_fn over V={self.vocab_size} tokens (the next token depends only "
                            f"on the last one); row i = log-probs after token i: "
                            + np.array2string(self.table, precision=3, separator=", ").replace("\n", ""))

    @classmethod
    def random(cls, vocab_size: int, bos_id: int, eos_id: int, seed: int, eos_bias: float = 0.0) -> "MarkovModel":
        logits = LOGIT_SCALE * np.random.default_rng(seed).standard_normal((vocab_size, vocab_size))
        logits[:, eos_id] += eos_bias
        return cls(log_softmax(logits), bos_id)

    @classmethod
    def uniform(cls, vocab_size: int, bos_id: int) -> "MarkovModel":
        """Every token always has log-prob −log V: every candidate ties."""
        model = cls(np.full((vocab_size, vocab_size), -np.log(vocab_size)), bos_id)
        model.description = f"a uniform step_fn over V={vocab_size} tokens (every log-prob is −log {vocab_size})"
        return model

    def log_probs(self, prefix: tuple[int, ...]) -> np.ndarray:
        return self.table[prefix[-1]]


class PrefixTableModel(StepModel):
    """The next token depends on the whole prefix: a random table row per prefix, seeded by a hash."""

    def __init__(self, vocab_size: int, bos_id: int, eos_id: int, seed: int, eos_bias: float = 0.0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__(vocab_size, bos_id, dtype)
        self.eos_id, self.seed, self.eos_bias = eos_id, seed, eos_bias
        self._rows: dict[tuple[int, ...], np.ndarray] = {}
        self.description = (f"a random step_fn over V={vocab_size} tokens whose log-probs depend on the "
                            f"whole prefix (seed {seed}, eos bias {eos_bias:+g})"
                            + ("" if dtype == torch.float64 else f", returned as {dtype}"))

    def log_probs(self, prefix: tuple[int, ...]) -> np.ndarray:
        if prefix not in self._rows:
            digest = hashlib.blake2b(repr((self.seed, prefix)).encode(), digest_size=8).digest()
            logits = LOGIT_SCALE * np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(
                self.vocab_size)
            logits[self.eos_id] += self.eos_bias
            self._rows[prefix] = self._as_returned(log_softmax(logits))
        return self._rows[prefix]


# ---------------------------------------------------------------------------
# Strategies: dicts of the student function's arguments, ``step_fn`` included.

@st.composite
def step_models(draw, max_vocab: int = 5, eos_biases: tuple[float, ...] = (0.0, 1.0, -1.0, 2.0)) -> dict:
    """A random model (Markov or whole-prefix table) with distinct ``bos_id`` and ``eos_id``."""
    vocab_size = draw(st.integers(2, max_vocab))
    bos_id, eos_id = draw(st.permutations(range(vocab_size)))[:2]
    seed, eos_bias = draw(seeds()), draw(st.sampled_from(eos_biases))
    if draw(st.sampled_from(["markov", "table"])) == "markov":
        model = MarkovModel.random(vocab_size, bos_id, eos_id, seed, eos_bias)
    else:
        model = PrefixTableModel(vocab_size, bos_id, eos_id, seed, eos_bias)
    return {"step_fn": model, "bos_id": bos_id, "eos_id": eos_id}


def greedy_problems(max_vocab: int = 5, max_len: int = 6) -> st.SearchStrategy[dict]:
    """Arguments of ``greedy_decode``."""
    return st.tuples(step_models(max_vocab), st.integers(1, max_len)).map(
        lambda t: {**t[0], "max_len": t[1]})


length_penalties = st.sampled_from([0.0, 1.0, 0.5, 2.0])


@st.composite
def beam_problems(draw, max_vocab: int = 5, max_len: int = 5, max_width: int = 4, min_len: int = 1,
                  eos_biases: tuple[float, ...] = (0.0, 1.0, -1.0, 2.0)) -> dict:
    """Arguments of ``beam_search``."""
    return {**draw(step_models(max_vocab, eos_biases)), "beam_width": draw(st.integers(1, max_width)),
            "max_len": draw(st.integers(min_len, max_len)), "length_penalty": draw(length_penalties)}


@st.composite
def exhaustive_beam_problems(draw, max_vocab: int = 4, max_len: int = 3) -> dict:
    """A beam at least V^(max_len − 1) wide: it holds every prefix, so the search is exact."""
    problem = draw(step_models(max_vocab))
    length = draw(st.integers(1, max_len))
    width = problem["step_fn"].vocab_size ** (length - 1) + draw(st.integers(0, 1))
    return {**problem, "beam_width": width, "max_len": length, "length_penalty": draw(length_penalties)}
