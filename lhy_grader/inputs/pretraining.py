"""Inputs for the Lecture 7 exercises (BERT masking, NSP pairs, sampling, generation).

Token batches follow a BERT vocabulary layout: ids 0, 1, 2 are the special tokens
[PAD], [CLS], [SEP] (the positions ``special_mask`` marks), one id is [MASK], and the
others are ordinary words. An input never holds [MASK] or -100 itself, so a position's
fate (masked, replaced, kept) can be read from the output.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from lhy_grader.inputs.strategies import arrays, seeds, sizes
from lhy_grader.worker.codec import RngSpec

SPECIAL_IDS = (0, 1, 2)


def token_batch(rng: np.random.Generator, shape: tuple[int, ...], vocab_size: int, mask_id: int,
                special_fraction: float, dtype=None) -> tuple:
    """``(tokens, special_mask)``: special ids where the mask is True, ordinary words elsewhere."""
    import torch
    special = rng.random(shape) < special_fraction
    ordinary = [t for t in range(vocab_size) if t not in SPECIAL_IDS and t != mask_id]
    tokens = np.where(special, rng.choice(SPECIAL_IDS, shape), rng.choice(ordinary, shape))
    return torch.from_numpy(tokens).to(dtype or torch.int64), torch.from_numpy(special)


@st.composite
def mlm_batches(draw) -> dict:
    """Keyword arguments of ``mlm_mask``: a small [B, T] batch, int64 or int32."""
    import torch
    vocab_size = draw(st.integers(6, 30))
    mask_id = draw(st.sampled_from([3, vocab_size - 1]))
    shape = (draw(sizes(1, 4)), draw(sizes(1, 12)))
    dtype = draw(st.sampled_from([torch.int64, torch.int32]))
    rng = np.random.default_rng(draw(seeds()))
    tokens, special_mask = token_batch(rng, shape, vocab_size, mask_id, draw(st.sampled_from([0.0, 0.2, 0.5])), dtype)
    return {"tokens": tokens, "special_mask": special_mask, "vocab_size": vocab_size, "mask_id": mask_id,
            "mask_prob": draw(st.sampled_from([0.15, 0.5, 0.9])),
            "generator": RngSpec("torch", draw(seeds()))}


def sentence(document: int, index: int) -> str:
    """A recognisable sentence: which document it comes from and where."""
    return f"doc{document}-s{index}"


def documents_of(lengths: list[int]) -> list[list[str]]:
    return [[sentence(d, i) for i in range(n)] for d, n in enumerate(lengths)]


@st.composite
def nsp_corpora(draw) -> dict:
    """Keyword arguments of ``next_sentence_pairs``: 2–5 documents of 1–6 sentences."""
    lengths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=5))
    return {"documents": documents_of(lengths), "rng": RngSpec("python", draw(seeds()))}


@st.composite
def next_token_logits(draw) -> dict:
    """Keyword arguments of ``sample_next_token``: [V] logits, a temperature (0 = greedy),
    an optional top_k in 1..V."""
    import torch
    size = draw(sizes(1, 8))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    logits = torch.from_numpy(draw(arrays(size, -5.0, 5.0))).to(dtype)
    return {"logits": logits, "temperature": draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
            "top_k": draw(st.none() | st.integers(1, size)),
            "generator": RngSpec("torch", draw(seeds()))}


@st.composite
def greedy_generations(draw) -> dict:
    """A table of next-token logits (by last token and position), a prompt, a budget and
    an optional eos id: everything ``generate`` needs at temperature 0."""
    vocab_size = draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(seeds()))
    return {"table": rng.normal(0.0, 2.0, size=(3, vocab_size, vocab_size)),
            "prompt": draw(st.lists(st.integers(0, vocab_size - 1), min_size=1, max_size=4)),
            "max_new_tokens": draw(st.integers(0, 8)),
            "eos_id": draw(st.none() | st.integers(0, vocab_size - 1))}
