"""Inputs for the Lecture 4 self-attention exercises.

Tensors come from a drawn seed (``gaussian``) so that hypothesis shrinks the shapes
and the seed rather than hundreds of elements; both float32 and float64 are drawn.
Masks are boolean, True = may attend.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from lhy_grader.inputs.strategies import gaussian, seeds, sizes

DTYPES = (torch.float32, torch.float64)

#: How a mask is shaped relative to scores [*batch, Tq, Tk].
SDPA_MASK_FORMS = ("none", "[Tq, Tk]", "[*batch, Tq, Tk]", "[*batch, 1, Tk]")
MHA_MASK_FORMS = ("none", "[Tq, Tk]", "[B, Tq, Tk]", "[B, 1, Tq, Tk]", "[B, h, Tq, Tk]")


def dtypes() -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(DTYPES)


def normal_tensor(seed: int, shape: tuple[int, ...], dtype: torch.dtype, scale: float = 1.0) -> torch.Tensor:
    """A deterministic Gaussian tensor (CPU) of ``shape`` and ``dtype``."""
    return torch.from_numpy(gaussian(seed, shape, scale)).to(dtype)


def random_mask(rng: np.random.Generator, shape: tuple[int, ...], *, empty_rows: bool = False) -> torch.Tensor:
    """A bool mask of ``shape`` (last dim = keys): every row allows at least one key,
    or, with ``empty_rows``, at least one row (and at most half of them) allows none."""
    allowed = rng.random(shape) < 0.6
    rows = allowed.reshape(-1, shape[-1])
    rows[np.arange(rows.shape[0]), rng.integers(0, shape[-1], rows.shape[0])] = True
    if empty_rows:
        blocked = rng.random(rows.shape[0]) < 0.3
        blocked[rng.integers(0, rows.shape[0])] = True
        rows[blocked] = False
    return torch.from_numpy(rows.reshape(shape).copy())


def _sdpa_mask(rng: np.random.Generator, form: str, batch: tuple[int, ...], tq: int, tk: int,
               empty_rows: bool) -> torch.Tensor | None:
    shape = {"none": None, "[Tq, Tk]": (tq, tk), "[*batch, Tq, Tk]": (*batch, tq, tk),
             "[*batch, 1, Tk]": (*batch, 1, tk)}[form]
    return None if shape is None else random_mask(rng, shape, empty_rows=empty_rows)


@st.composite
def qkv(draw, *, masks: tuple[str, ...] = SDPA_MASK_FORMS, empty_rows: bool = False,
        max_batch_dims: int = 2) -> dict:
    """q [*batch, Tq, d], k [*batch, Tk, d], v [*batch, Tk, dv] and a mask (or None).

    With ``empty_rows`` the mask always exists and leaves some query rows with no
    allowed key (a ``[*batch, 1, Tk]`` mask then blocks every query of some batch entry).
    """
    dtype = draw(dtypes())
    batch = tuple(draw(st.lists(sizes(1, 3), max_size=max_batch_dims)))
    tq, tk, d, dv = draw(sizes(1, 5)), draw(sizes(1, 6)), draw(sizes(1, 6)), draw(sizes(1, 4))
    scale = draw(st.sampled_from([1.0, 0.5, 2.0]))
    seed = draw(seeds())
    form = draw(st.sampled_from([f for f in masks if f != "none"] if empty_rows else masks))
    rng = np.random.default_rng(seed)
    return {"q": normal_tensor(seed, (*batch, tq, d), dtype, scale),
            "k": normal_tensor(seed + 1, (*batch, tk, d), dtype, scale),
            "v": normal_tensor(seed + 2, (*batch, tk, dv), dtype),
            "mask": _sdpa_mask(rng, form, batch, tq, tk, empty_rows)}


@st.composite
def query_key_pairs(draw) -> dict:
    """q [*batch, Tq, d], k [*batch, Tk, d]."""
    ex = draw(qkv(masks=("none",)))
    return {"q": ex["q"], "k": ex["k"]}


@st.composite
def features(draw) -> dict:
    """x [B, T, D] with D a multiple of num_heads."""
    dtype = draw(dtypes())
    b, t, h, dh = draw(sizes(1, 3)), draw(sizes(1, 4)), draw(sizes(1, 4)), draw(sizes(1, 4))
    return {"x": normal_tensor(draw(seeds()), (b, t, h * dh), dtype), "num_heads": h}


@st.composite
def heads(draw) -> dict:
    """x [B, h, T, dh]."""
    ex = draw(features())
    b, t, d = ex["x"].shape
    h = ex["num_heads"]
    return {"x": ex["x"].reshape(b, t, h, d // h).transpose(1, 2).contiguous()}


def _mha_mask(rng: np.random.Generator, form: str, b: int, h: int, tq: int, tk: int,
              empty_rows: bool) -> torch.Tensor | None:
    shape = {"none": None, "[Tq, Tk]": (tq, tk), "[B, Tq, Tk]": (b, tq, tk),
             "[B, 1, Tq, Tk]": (b, 1, tq, tk), "[B, h, Tq, Tk]": (b, h, tq, tk)}[form]
    return None if shape is None else random_mask(rng, shape, empty_rows=empty_rows)


def mha_case(seed: int, dtype: torch.dtype, batch: int, tq: int, tk: int | None, num_heads: int, head_dim: int,
             mask_form: str = "none", empty_rows: bool = False) -> dict:
    """query [B, Tq, D], key/value [B, Tk, D], w_q, w_k, w_v, w_o [D, D], num_heads, mask;
    ``tk=None`` means self-attention (key = value = query)."""
    d = num_heads * head_dim
    query = normal_tensor(seed, (batch, tq, d), dtype)
    key = query if tk is None else normal_tensor(seed + 1, (batch, tk, d), dtype)
    value = query if tk is None else normal_tensor(seed + 2, (batch, tk, d), dtype)
    weights = {name: normal_tensor(seed + 3 + i, (d, d), dtype, d ** -0.5 * 1.5)
               for i, name in enumerate(("w_q", "w_k", "w_v", "w_o"))}
    mask = _mha_mask(np.random.default_rng(seed), mask_form, batch, num_heads, tq, key.shape[1], empty_rows)
    return {"query": query, "key": key, "value": value, **weights, "num_heads": num_heads, "mask": mask}


@st.composite
def mha_inputs(draw, *, self_attention: bool | None = None, empty_rows: bool = False) -> dict:
    """A ``mha_case``: self-attention or cross attention (Tk may differ from Tq), any mask form."""
    dtype = draw(dtypes())
    b, tq, h, dh = draw(sizes(1, 3)), draw(sizes(1, 5)), draw(sizes(1, 3)), draw(sizes(1, 4))
    is_self = draw(st.booleans()) if self_attention is None else self_attention
    tk = None if is_self else draw(sizes(1, 5))
    forms = [f for f in MHA_MASK_FORMS if f != "none"] if empty_rows else MHA_MASK_FORMS
    form = draw(st.sampled_from(forms))
    return mha_case(draw(seeds()), dtype, b, tq, tk, h, dh, form, empty_rows)


@st.composite
def encoding_sizes(draw, max_len: int = 64, max_half_d: int = 16) -> dict:
    """max_len ≥ 1 and an even d_model ≥ 2."""
    return {"max_len": draw(sizes(1, max_len)), "d_model": 2 * draw(sizes(1, max_half_d))}


@st.composite
def window_sizes(draw, max_len: int = 9) -> dict:
    """seq_len ≥ 1 and 0 ≤ window (sometimes ≥ seq_len)."""
    seq_len = draw(sizes(1, max_len))
    return {"seq_len": seq_len, "window": draw(st.integers(0, seq_len + 1))}


@st.composite
def adjacencies(draw, max_n: int = 7) -> dict:
    """A directed (not necessarily symmetric) [N, N] adjacency: bool, 0/1 integers or
    real edge weights (negative weights are edges too), with or without self loops."""
    n = draw(sizes(1, max_n))
    rng = np.random.default_rng(draw(seeds()))
    edges = rng.random((n, n)) < 0.4
    kind = draw(st.sampled_from(["bool", "int64", "float32", "float64"]))
    if kind == "bool":
        adjacency = torch.from_numpy(edges)
    elif kind == "int64":
        adjacency = torch.from_numpy(edges.astype(np.int64))
    else:
        weight = rng.choice([-2.0, -0.5, 0.25, 1.0, 3.0], size=(n, n))
        adjacency = torch.from_numpy(np.where(edges, weight, 0.0)).to(getattr(torch, kind))
    return {"adjacency": adjacency}
