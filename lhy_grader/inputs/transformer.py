"""Inputs for the Lecture 5 Transformer exercises: activations, block parameters, masks.

Tensors are drawn in bulk from a drawn seed (so examples shrink by size, dtype and
seed) in float32 or float64. Weights are scaled by 1/√fan_in so activations stay of
order 1, and every layer norm gets its own gamma/beta, so that swapping two of them
changes the output. Masks never block a whole query row: a row with no allowed key
is NaN in ``nn.MultiheadAttention``, the independent oracle.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lhy_grader.inputs.strategies import seeds, sizes

DTYPES = (torch.float32, torch.float64)

#: The ways a mask can be given to a block (EXERCISES.md: "[Tq, Tk], [B, Tq, Tk] or [B, 1 or h, Tq, Tk]").
NO_MASK, SHARED_MASK = "none", "[Tq, Tk]"
BATCH_MASKS = ("[B, Tq, Tk]", "[B, 1, Tq, Tk]", "[B, h, Tq, Tk]")


def dtypes() -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(DTYPES)


def _tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: torch.dtype,
            scale: float = 1.0, mean: float = 0.0) -> torch.Tensor:
    return _tensor(mean + scale * rng.normal(size=shape), dtype)


def _linear(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: torch.dtype) -> torch.Tensor:
    """A weight matrix [fan_in, fan_out] for ``x @ W``."""
    return _normal(rng, (fan_in, fan_out), dtype, 1.0 / np.sqrt(fan_in))


def _norm_params(rng: np.random.Generator, prefix: str, d: int, dtype: torch.dtype) -> dict:
    return {f"{prefix}_gamma": _normal(rng, (d,), dtype, 0.3, 1.0), f"{prefix}_beta": _normal(rng, (d,), dtype, 0.3)}


def _attention_params(rng: np.random.Generator, prefix: str, d: int, dtype: torch.dtype) -> dict:
    return {f"{prefix}w_{name}": _linear(rng, d, d, dtype) for name in "qkvo"}


def _ffn_params(rng: np.random.Generator, d: int, hidden: int, dtype: torch.dtype) -> dict:
    return {"w1": _linear(rng, d, hidden, dtype), "b1": _normal(rng, (hidden,), dtype, 0.5),
            "w2": _linear(rng, hidden, d, dtype), "b2": _normal(rng, (d,), dtype, 0.5)}


def encoder_params(rng: np.random.Generator, d: int, hidden: int, dtype: torch.dtype) -> dict:
    """``w_q w_k w_v w_o ln1_gamma ln1_beta w1 b1 w2 b2 ln2_gamma ln2_beta``, in catalogue order."""
    return {**_attention_params(rng, "", d, dtype), **_norm_params(rng, "ln1", d, dtype),
            **_ffn_params(rng, d, hidden, dtype), **_norm_params(rng, "ln2", d, dtype)}


def decoder_params(rng: np.random.Generator, d: int, hidden: int, dtype: torch.dtype) -> dict:
    """``self_w_* ln1_* cross_w_* ln2_* w1 b1 w2 b2 ln3_*``, in catalogue order."""
    return {**_attention_params(rng, "self_", d, dtype), **_norm_params(rng, "ln1", d, dtype),
            **_attention_params(rng, "cross_", d, dtype), **_norm_params(rng, "ln2", d, dtype),
            **_ffn_params(rng, d, hidden, dtype), **_norm_params(rng, "ln3", d, dtype)}


def attention_mask(rng: np.random.Generator, kind: str, batch: int, heads: int, tq: int, tk: int) -> torch.Tensor:
    """A random bool mask of the given kind, True = may attend, with an allowed key in every row."""
    lead = {SHARED_MASK: (), "[B, Tq, Tk]": (batch,), "[B, 1, Tq, Tk]": (batch, 1),
            "[B, h, Tq, Tk]": (batch, heads)}[kind]
    mask = rng.random((*lead, tq, tk)) < 0.6
    mask[..., np.arange(tq), rng.integers(tk, size=tq)] = True
    return torch.from_numpy(mask)


@st.composite
def layer_norm_inputs(draw, min_d: int = 3, mean_to_std: float = 0.0, dtype_choices=DTYPES) -> dict:
    """x [..., D] = scale·(mean_to_std + N(0, 1)), gamma [D], beta [D], and sometimes a
    non-default eps. D = 1 (and D = 2, whose two values can be nearly equal) are
    degenerate: ordinary checks draw D ≥ 3."""
    lead = tuple(draw(st.lists(sizes(1, 3), max_size=2)))
    d, dtype = draw(sizes(min_d, 8)), draw(st.sampled_from(dtype_choices))
    scale = draw(st.sampled_from([1.0, 0.1, 10.0]))
    rng = np.random.default_rng(draw(seeds()))
    example = {"x": _normal(rng, (*lead, d), dtype, scale, scale * mean_to_std),
               "gamma": _normal(rng, (d,), dtype, 0.5, 1.0), "beta": _normal(rng, (d,), dtype, 0.5)}
    eps = draw(st.sampled_from([0.1, None, 1e-3, 1.0]))  # shrinks to 0.1: eps mistakes stand apart
    return example if eps is None else {**example, "eps": eps}


@st.composite
def feed_forward_inputs(draw) -> dict:
    """x [..., D], w1 [D, H], b1 [H], w2 [H, D_out], b2 [D_out]."""
    lead = tuple(draw(st.lists(sizes(1, 3), min_size=1, max_size=2)))
    d, hidden, d_out, dtype = draw(sizes(1, 6)), draw(sizes(1, 8)), draw(sizes(1, 6)), draw(dtypes())
    rng = np.random.default_rng(draw(seeds()))
    return {"x": _normal(rng, (*lead, d), dtype), "w1": _linear(rng, d, hidden, dtype),
            "b1": _normal(rng, (hidden,), dtype, 0.5), "w2": _linear(rng, hidden, d_out, dtype),
            "b2": _normal(rng, (d_out,), dtype, 0.5)}


def _block_sizes(draw) -> tuple[int, int, int, int]:
    """(batch, num_heads, d_model, ffn hidden size), d_model = num_heads · head_dim ≥ 3
    (a layer norm of 2 features keeps little more than a sign: mistakes would coincide)."""
    heads = draw(sizes(1, 3))
    return draw(sizes(1, 2)), heads, heads * draw(sizes(3, 4)), draw(sizes(1, 8))


@st.composite
def encoder_inputs(draw, masks: tuple[str, ...] = (NO_MASK, SHARED_MASK), dtype_choices=DTYPES) -> dict:
    """x [B, T, D], params, num_heads, and a self-attention mask of one of ``masks``."""
    batch, heads, d, hidden = _block_sizes(draw)
    t, dtype, kind = draw(sizes(1, 5)), draw(st.sampled_from(dtype_choices)), draw(st.sampled_from(masks))
    rng = np.random.default_rng(draw(seeds()))
    example = {"x": _normal(rng, (batch, t, d), dtype), "params": encoder_params(rng, d, hidden, dtype),
               "num_heads": heads}
    if kind != NO_MASK:
        example["mask"] = attention_mask(rng, kind, batch, heads, t, t)
    return example


@st.composite
def decoder_inputs(draw, masks: tuple[str, ...] = (NO_MASK,), dtype_choices=DTYPES, min_len: int = 1) -> dict:
    """y [B, T, D], memory [B, S, D], params, num_heads, and a memory_mask of one of ``masks``."""
    batch, heads, d, hidden = _block_sizes(draw)
    t, s = draw(sizes(min_len, 5)), draw(sizes(1, 5))
    dtype, kind = draw(st.sampled_from(dtype_choices)), draw(st.sampled_from(masks))
    rng = np.random.default_rng(draw(seeds()))
    example = {"y": _normal(rng, (batch, t, d), dtype), "memory": _normal(rng, (batch, s, d), dtype),
               "params": decoder_params(rng, d, hidden, dtype), "num_heads": heads}
    if kind != NO_MASK:
        example["memory_mask"] = attention_mask(rng, kind, batch, heads, t, s)
    return example


@st.composite
def future_changes(draw) -> dict:
    """A float64 decoder example plus ``y_changed``: ``y`` with every position from
    ``first_changed`` (≥ 1) on replaced by new vectors."""
    example = draw(decoder_inputs(masks=(NO_MASK, SHARED_MASK), dtype_choices=(torch.float64,), min_len=2))
    y = example["y"]
    first = draw(st.integers(1, y.shape[1] - 1))
    changed = y.clone()
    rng = np.random.default_rng((draw(seeds()), 1))  # a stream of its own: new vectors, not copies of y's
    changed[:, first:] = _normal(rng, tuple(changed[:, first:].shape), y.dtype)
    return {**example, "first_changed": first, "y_changed": changed}


@st.composite
def shift_inputs(draw, dtype=np.int64) -> dict:
    """targets [B, T] token ids of ``dtype`` and a bos_id."""
    shape = (draw(sizes(1, 3)), draw(sizes(1, 6)))
    targets = draw(hnp.arrays(dtype, shape, elements=st.integers(0, 20)))
    return {"targets": torch.from_numpy(targets), "bos_id": draw(st.integers(0, 30))}
