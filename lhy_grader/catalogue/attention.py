"""Checks for attention.py (Lecture 4: self-attention).

Oracles besides the reference: ``F.scaled_dot_product_attention`` (where it is
defined: no fully masked query row) and ``nn.MultiheadAttention`` holding the same
weights; gradients are compared with autograd through the reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_close, expect_equal, expect_tensor
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import attention as inputs

ref = reference("attention")

NAN_HINT = ("a query with no allowed key makes softmax(all −inf) = NaN, and NaN spreads to the gradients even when "
            "it is replaced after the softmax: give such rows finite scores before the softmax and zero weights "
            "after it (e.g. torch.where on mask.any(-1, keepdim=True))")
LARGE_NEGATIVE_HINT = ("masked scores set to a large negative number (-1e9) instead of −inf: a query with no "
                       "allowed key then gets uniform weights over all keys; it must get zero weights and a zero output")
INVERTED_MASK_HINT = "the mask is inverted: True = may attend (nn.MultiheadAttention's attn_mask is the opposite)"


def tolerance(dtype: torch.dtype, magnitude: float | torch.Tensor = 1.0) -> dict:
    """rtol/atol for float32 or float64 results whose entries are at most about ``magnitude``."""
    scale = max(1.0, float(torch.as_tensor(magnitude, dtype=torch.float64).abs().max()))
    return {"rtol": 1e-4, "atol": 1e-5 * scale} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-10 * scale}


def _floating_tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _floating_tensors(item)]
    return []


def expect_gradients(trial, reference_fn, args: dict, wrt: tuple[str, ...]) -> None:
    """Backpropagate the same random output gradients through the student's function (in
    the worker) and the reference (here); the gradients w.r.t. ``wrt`` must agree."""
    def leaves() -> dict:
        return {name: value.detach().clone().requires_grad_(True) if name in wrt else value
                for name, value in args.items()}

    ref_args = leaves()
    ref_outputs = _floating_tensors(reference_fn(**ref_args))
    got_outputs = _floating_tensors(trial.call(**args))
    if [tuple(t.shape) for t in got_outputs] != [tuple(t.shape) for t in ref_outputs]:
        raise CheckFailed(f"the floating outputs have shapes {[tuple(t.shape) for t in got_outputs]}, "
                          f"expected {[tuple(t.shape) for t in ref_outputs]}")
    grad_outputs = [inputs.normal_tensor(1000 + i, tuple(out.shape), out.dtype) for i, out in enumerate(ref_outputs)]
    expected = torch.autograd.grad(sum((out * g).sum() for out, g in zip(ref_outputs, grad_outputs)),
                                   [ref_args[name] for name in wrt], allow_unused=True)
    _, grads = trial.call_with_grad(grad_outputs=grad_outputs, **leaves())
    if len(grads) != len(wrt):
        raise CheckFailed(f"expected {len(wrt)} gradients, the worker returned {len(grads)}")
    for name, got, want in zip(wrt, grads, expected):
        want = torch.zeros_like(args[name]) if want is None else want
        if got is None:
            raise CheckFailed(f"no gradient reached {name}: the result does not depend on it through autograd",
                              "the computation is cut from the graph (.detach(), .numpy(), torch.tensor(...) of a result?)")
        got = expect_tensor(got, tuple(want.shape), want.dtype, device=trial.device, what=f"the gradient w.r.t. {name}")
        if not torch.isfinite(got).all():
            raise CheckFailed(f"the gradient w.r.t. {name} holds NaN or inf: "
                              f"{int((~torch.isfinite(got)).sum())} of {got.numel()} entries", NAN_HINT)
        expect_close(got, want, **tolerance(want.dtype, want), what=f"the gradient w.r.t. {name}")


def _call_attention(trial, ex: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Call scaled_dot_product_attention and validate the (out, weights) pair."""
    got = trial.call(**ex)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise CheckFailed(f"expected a tuple (out, weights), got {type(got).__name__}")
    q, k, v = ex["q"], ex["k"], ex["v"]
    scores_shape = torch.broadcast_shapes(q.shape[:-1] + (k.shape[-2],),
                                          ex["mask"].shape if ex["mask"] is not None else (1,))
    out = expect_tensor(got[0], (*scores_shape[:-1], v.shape[-1]), q.dtype, device=trial.device, what="out")
    weights = expect_tensor(got[1], scores_shape, q.dtype, device=trial.device, what="weights")
    return out, weights


def _attend(q, k, v, mask, *, scale=None, dim=-1, fill=float("-inf")):
    """Plain masked attention, parametrised by the classic mistakes."""
    scores = q @ k.transpose(-2, -1) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if mask is not None:
        scores = torch.where(mask, scores, fill)
    weights = torch.softmax(scores, dim=dim)
    return weights @ v, weights


def _attention_mistakes(ex: dict, part: int) -> dict:
    q, k, v, mask = ex["q"], ex["k"], ex["v"], ex["mask"]
    d = q.shape[-1]
    variants = {
        "the scores are not divided by √d": lambda: _attend(q, k, v, mask, scale=1.0),
        "the scores are divided by d instead of √d": lambda: _attend(q, k, v, mask, scale=1.0 / d),
        "softmax over the wrong axis: normalise over the keys (dim=-1)": lambda: _attend(q, k, v, mask, dim=-2),
        INVERTED_MASK_HINT: lambda: _attend(q, k, v, None if mask is None else ~mask),
        "the mask is ignored": lambda: _attend(q, k, v, None),
    }
    return {hint: (lambda f=f: f()[part]) for hint, f in variants.items()}


# ---------------------------------------------------------------------------
attention_scores = Exercise("attention", "attention_scores", points=2, arg_names=("q", "k"))


@attention_scores.property("matches q·kᵀ/√d", inputs.query_key_pairs())
def _(trial, ex):
    q, k = ex["q"], ex["k"]
    got = expect_tensor(trial.call(**ex), (*q.shape[:-1], k.shape[-2]), q.dtype, device=trial.device)
    dots = q @ k.transpose(-2, -1)
    expected = ref.attention_scores(**ex)
    expect_close(got, expected, **tolerance(q.dtype, expected), mistakes={
        "the scores are not divided by √d": dots,
        "the scores are divided by d instead of √d": dots / q.shape[-1],
        "divided by √Tk (the number of keys) instead of √d (the feature size)": dots / math.sqrt(k.shape[-2]),
    })


@attention_scores.property("gradients w.r.t. q and k match autograd", inputs.query_key_pairs(), max_examples=10)
def _(trial, ex):
    expect_gradients(trial, ref.attention_scores, ex, ("q", "k"))


# ---------------------------------------------------------------------------
scaled_dot_product_attention = Exercise(
    "attention", "scaled_dot_product_attention", points=4, arg_names=("q", "k", "v", "mask"),
    forbidden=("torch.nn.functional.scaled_dot_product_attention",))


@scaled_dot_product_attention.property("matches softmax(q·kᵀ/√d)·v and F.scaled_dot_product_attention",
                                       inputs.qkv())
def _(trial, ex):
    out, weights = _call_attention(trial, ex)
    expected_out, expected_weights = ref.scaled_dot_product_attention(**ex)
    tol = tolerance(ex["q"].dtype, ex["v"])
    expect_close(weights, expected_weights, **tol, what="weights", mistakes=_attention_mistakes(ex, 1))
    expect_close(out, expected_out, **tol, what="out", mistakes={
        **_attention_mistakes(ex, 0), "the weights multiply k instead of v": lambda: weights.cpu() @ ex["k"]})
    oracle = F.scaled_dot_product_attention(ex["q"], ex["k"], ex["v"], attn_mask=ex["mask"])
    expect_close(out, oracle, **tol, what="out (against F.scaled_dot_product_attention)")


@scaled_dot_product_attention.property("weights are a distribution over the allowed keys", inputs.qkv())
def _(trial, ex):
    _, weights = _call_attention(trial, ex)
    if not torch.isfinite(weights).all():
        raise CheckFailed("the weights hold NaN or inf although every query has an allowed key")
    weights = weights.to(torch.float64)
    if (weights < 0).any():
        raise CheckFailed(f"some weights are negative (min {float(weights.min()):.3g})")
    if ex["mask"] is not None:
        leaked = weights.abs().where(~ex["mask"], 0.0)
        if (leaked > 1e-12).any():
            hint = INVERTED_MASK_HINT if (weights.abs().where(ex["mask"], 0.0) <= 1e-12).all() else "the mask is ignored"
            raise CheckFailed(f"a masked key gets weight {float(leaked.max()):.3g}; masked keys must get weight 0", hint)
    sums = weights.sum(-1)
    expect_close(sums, torch.ones_like(sums), **tolerance(ex["q"].dtype), what="the sum of each query's weights",
                 mistakes={"softmax over the wrong axis: normalise over the keys (dim=-1)":
                           lambda: _attend(ex["q"], ex["k"], ex["v"], ex["mask"], dim=-2)[1].sum(-1)})


def _permuted(trial, ex: dict, axis: str) -> None:
    """Permute the keys (with their values) or the queries, and compare with the permuted output."""
    out, weights = _call_attention(trial, ex)
    q, k, v, mask = ex["q"], ex["k"], ex["v"], ex["mask"]
    seq = q.shape[-2] if axis == "queries" else k.shape[-2]
    perm = torch.from_numpy(np.random.default_rng(seq).permutation(seq))
    if axis == "queries":
        shuffled = {**ex, "q": q[..., perm, :],
                    "mask": mask[..., perm, :] if mask is not None and mask.shape[-2] == seq else mask}
        expected_out, expected_weights = out[..., perm, :], weights[..., perm, :]
    else:
        shuffled = {**ex, "k": k[..., perm, :], "v": v[..., perm, :],
                    "mask": mask[..., perm] if mask is not None else None}
        expected_out, expected_weights = out, weights[..., perm]
    got_out, got_weights = _call_attention(trial, shuffled)
    tol = tolerance(q.dtype, v)
    expect_close(got_weights, expected_weights, **tol, what=f"the weights with the {axis} permuted by {perm.tolist()}")
    expect_close(got_out, expected_out, **tol, what=f"out with the {axis} permuted by {perm.tolist()}")


@scaled_dot_product_attention.property("permuting keys and values together leaves the output unchanged",
                                       inputs.qkv(), max_examples=10)
def _(trial, ex):
    _permuted(trial, ex, "keys")


@scaled_dot_product_attention.property("permuting the queries permutes the output", inputs.qkv(), max_examples=10)
def _(trial, ex):
    _permuted(trial, ex, "queries")


@scaled_dot_product_attention.property("a query with no allowed key gets zero weights and a zero output",
                                       inputs.qkv(empty_rows=True), max_examples=15)
def _(trial, ex):
    out, weights = _call_attention(trial, ex)
    if not (torch.isfinite(out).all() and torch.isfinite(weights).all()):
        raise CheckFailed("out or weights hold NaN or inf for a query with no allowed key", NAN_HINT)
    expected_out, expected_weights = ref.scaled_dot_product_attention(**ex)
    tol = tolerance(ex["q"].dtype, ex["v"])
    uniform = _attend(ex["q"], ex["k"], ex["v"], ex["mask"], fill=-1e9)
    expect_close(weights, expected_weights, **tol, what="weights", mistakes={LARGE_NEGATIVE_HINT: uniform[1]})
    expect_close(out, expected_out, **tol, what="out", mistakes={LARGE_NEGATIVE_HINT: uniform[0]})


@scaled_dot_product_attention.property(
    "gradients w.r.t. q, k, v match autograd (zero and finite for fully masked queries)",
    inputs.qkv() | inputs.qkv(empty_rows=True), max_examples=15)
def _(trial, ex):
    expect_gradients(trial, ref.scaled_dot_product_attention, ex, ("q", "k", "v"))


# ---------------------------------------------------------------------------
split_heads = Exercise("attention", "split_heads", points=2, arg_names=("x", "num_heads"))

INTERLEAVED_HINT = ("the heads are interleaved: head i must take the contiguous features i·D/h … (i+1)·D/h − 1 "
                    "(view as [B, T, h, D/h], not [B, T, D/h, h])")


def _split_mistakes(x: torch.Tensor, h: int) -> dict:
    b, t, d = x.shape
    return {
        INTERLEAVED_HINT: lambda: x.reshape(b, t, d // h, h).permute(0, 3, 1, 2),
        "reshaped straight to [B, h, T, D/h]: split the features into [B, T, h, D/h] first, then swap T and h":
            lambda: x.reshape(b, h, t, d // h),
    }


@split_heads.property("matches [B, T, D] → [B, h, T, D/h] in contiguous blocks", inputs.features())
def _(trial, ex):
    x, h = ex["x"], ex["num_heads"]
    b, t, d = x.shape
    got = expect_tensor(trial.call(**ex), (b, h, t, d // h), x.dtype, device=trial.device)
    expect_close(got, ref.split_heads(**ex), **tolerance(x.dtype), mistakes=_split_mistakes(x, h))


@split_heads.check("head i holds features i·D/h … (i+1)·D/h − 1")
def _(trial):
    x = torch.arange(2 * 3 * 12, dtype=torch.float64).reshape(2, 3, 12)
    got = expect_tensor(trial.call(x, 4), (2, 4, 3, 3), x.dtype, device=trial.device)
    for head in range(4):
        expect_equal(got[:, head].cpu(), x[..., 3 * head:3 * head + 3], what=f"head {head} of x = arange(72).reshape(2, 3, 12)",
                     mistakes={hint: variant()[:, head] for hint, variant in _split_mistakes(x, 4).items()})


@split_heads.property("gradient matches autograd", inputs.features(), max_examples=5)
def _(trial, ex):
    expect_gradients(trial, ref.split_heads, ex, ("x",))


# ---------------------------------------------------------------------------
merge_heads = Exercise("attention", "merge_heads", points=2, arg_names=("x",))


def _merge_mistakes(x: torch.Tensor) -> dict:
    b, h, t, dh = x.shape
    return {
        INTERLEAVED_HINT: lambda: x.permute(0, 2, 3, 1).reshape(b, t, h * dh),
        "reshaped straight to [B, T, h·dh]: swap h and T first (transpose(1, 2)), then reshape":
            lambda: x.reshape(b, t, h * dh),
    }


@merge_heads.property("matches the concatenation of the heads [B, h, T, dh] → [B, T, h·dh]", inputs.heads())
def _(trial, ex):
    x = ex["x"]
    b, h, t, dh = x.shape
    got = expect_tensor(trial.call(**ex), (b, t, h * dh), x.dtype, device=trial.device)
    expect_close(got, ref.merge_heads(**ex), **tolerance(x.dtype), mistakes=_merge_mistakes(x))


@merge_heads.property("undoes split_heads: merge_heads(split_heads(x, h)) == x", inputs.features(), max_examples=10)
def _(trial, ex):
    x, h = ex["x"], ex["num_heads"]
    split = ref.split_heads(x, h).contiguous()
    got = expect_tensor(trial.call(split), tuple(x.shape), x.dtype, device=trial.device)
    expect_close(got, x, **tolerance(x.dtype), what=f"merge_heads(split_heads(x, {h}))",
                 mistakes=_merge_mistakes(split))


@merge_heads.property("gradient matches autograd", inputs.heads(), max_examples=5)
def _(trial, ex):
    expect_gradients(trial, ref.merge_heads, ex, ("x",))


# ---------------------------------------------------------------------------
multi_head_attention = Exercise(
    "attention", "multi_head_attention", points=4,
    arg_names=("query", "key", "value", "w_q", "w_k", "w_v", "w_o", "num_heads", "mask"),
    forbidden=("torch.nn.MultiheadAttention", "torch.nn.functional.multi_head_attention_forward",
               "torch.nn.functional.scaled_dot_product_attention"))


def _head_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Any catalogue mask as [Tq, Tk] or [B, 1 or h, Tq, Tk]."""
    return mask.unsqueeze(1) if mask is not None and mask.dim() == 3 else mask


def nn_multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=None) -> torch.Tensor:
    """The oracle: nn.MultiheadAttention holding the same weights (nn stores them transposed
    and blocks where its attn_mask is True)."""
    batch, tq, d = query.shape
    module = torch.nn.MultiheadAttention(d, num_heads, bias=False, batch_first=True, dtype=query.dtype)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
        module.out_proj.weight.copy_(w_o.T)
        blocked = None
        if mask is not None:
            mask = _head_mask(mask)
            blocked = ~(mask if mask.dim() == 2 else
                        mask.expand(batch, num_heads, tq, key.shape[1]).reshape(batch * num_heads, tq, -1))
        return module(query, key, value, attn_mask=blocked, need_weights=False)[0]


def _mha_variant(ex: dict, *, scale=None, interleaved=False, invert=False, transpose_w=False,
                 project_out=True, fill=float("-inf")) -> torch.Tensor:
    """multi_head_attention with one classic mistake."""
    h = ex["num_heads"]
    w = {n: ex[n].T if transpose_w else ex[n] for n in ("w_q", "w_k", "w_v", "w_o")}

    def split(x):
        b, t, d = x.shape
        return x.reshape(b, t, d // h, h).permute(0, 3, 1, 2) if interleaved else ref.split_heads(x, h)

    def merge(x):
        b, _, t, dh = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, t, h * dh) if interleaved else ref.merge_heads(x)

    mask = _head_mask(ex["mask"])
    q, k, v = split(ex["query"] @ w["w_q"]), split(ex["key"] @ w["w_k"]), split(ex["value"] @ w["w_v"])
    out = merge(_attend(q, k, v, None if mask is None else (~mask if invert else mask), scale=scale, fill=fill)[0])
    return out @ w["w_o"] if project_out else out


def _mha_mistakes(ex: dict) -> dict:
    d, h = ex["query"].shape[-1], ex["num_heads"]
    return {
        "the output projection w_o is missing (merge the heads, then @ w_o)": lambda: _mha_variant(ex, project_out=False),
        INTERLEAVED_HINT: lambda: _mha_variant(ex, interleaved=True),
        "the scores are not divided by √(D/h)": lambda: _mha_variant(ex, scale=1.0),
        "the scores are divided by √D (the model width) instead of √(D/h) (the head width)":
            lambda: _mha_variant(ex, scale=d ** -0.5) if h > 1 else None,
        INVERTED_MASK_HINT: lambda: _mha_variant(ex, invert=True),
        "the weights are transposed: a layer is x @ W with W of shape [in, out]":
            lambda: _mha_variant(ex, transpose_w=True),
    }


def _call_mha(trial, ex: dict) -> torch.Tensor:
    query = ex["query"]
    return expect_tensor(trial.call(**ex), tuple(query.shape), query.dtype, device=trial.device)


@multi_head_attention.property("matches nn.MultiheadAttention holding the same weights", inputs.mha_inputs(),
                               max_examples=25)
def _(trial, ex):
    got = _call_mha(trial, ex)
    expected = ref.multi_head_attention(**ex)
    tol = tolerance(ex["query"].dtype, expected)
    expect_close(got, expected, **tol, mistakes=_mha_mistakes(ex))
    expect_close(got, nn_multi_head_attention(**ex), **tol, what="the result (against nn.MultiheadAttention)")


@multi_head_attention.check("a [B, Tq, Tk] mask applies to every head")
def _(trial):
    ex = inputs.mha_case(trial.seed % 2**32, torch.float64, batch=2, tq=3, tk=4, num_heads=2, head_dim=2,
                         mask_form="[B, Tq, Tk]")
    got = _call_mha(trial, ex)
    expected = ref.multi_head_attention(**ex)
    expect_close(got, expected, **tolerance(torch.float64, expected), mistakes={
        **_mha_mistakes(ex),
        "a [B, Tq, Tk] mask is the same for every head: insert the head axis (mask[:, None]) before it meets "
        "the [B, h, Tq, Tk] scores": lambda: _mha_variant({**ex, "mask": ex["mask"][None]})})


@multi_head_attention.property("a query with no allowed key gives a zero output row, never NaN",
                               inputs.mha_inputs(empty_rows=True), max_examples=10)
def _(trial, ex):
    got = _call_mha(trial, ex)
    if not torch.isfinite(got).all():
        raise CheckFailed("the result holds NaN or inf for a query with no allowed key", NAN_HINT)
    expected = ref.multi_head_attention(**ex)
    expect_close(got, expected, **tolerance(ex["query"].dtype, expected),
                 mistakes={LARGE_NEGATIVE_HINT: lambda: _mha_variant(ex, fill=-1e9), **_mha_mistakes(ex)})


@multi_head_attention.property("gradients w.r.t. the inputs and all four weights match autograd",
                               inputs.mha_inputs(self_attention=False) | inputs.mha_inputs(empty_rows=True),
                               max_examples=10)
def _(trial, ex):
    expect_gradients(trial, ref.multi_head_attention, ex, ("query", "key", "value", "w_q", "w_k", "w_v", "w_o"))


# ---------------------------------------------------------------------------
sinusoidal_positional_encoding = Exercise("attention", "sinusoidal_positional_encoding", points=3,
                                          arg_names=("max_len", "d_model"))


def encoding_tolerance(max_len: int) -> float:
    return 1e-6 + 1e-7 * max_len


def _encoding(max_len: int, d_model: int, *, first=torch.sin, second=torch.cos, exponent="2i",
              start=0, multiply=False, interleave=True) -> torch.Tensor:
    """The sinusoidal encoding in float64, parametrised by the classic mistakes."""
    position = torch.arange(start, start + max_len, dtype=torch.float64).unsqueeze(1)
    pair = torch.arange(d_model // 2, dtype=torch.float64)
    frequency = 10000.0 ** -((2 * pair if exponent == "2i" else pair) / d_model)
    angles = position * (1 / frequency if multiply else frequency)
    odd_angles = angles if exponent != "column" else position * 10000.0 ** -((2 * pair + 1) / d_model)
    columns = (first(angles), second(odd_angles))
    return torch.stack(columns, -1).reshape(max_len, d_model) if interleave else torch.cat(columns, -1)


def _encoding_mistakes(max_len: int, d_model: int) -> dict:
    return {
        "sin and cos are swapped: even columns 2i hold sin, odd columns 2i+1 cos":
            lambda: _encoding(max_len, d_model, first=torch.cos, second=torch.sin),
        "the exponent uses the pair index i: the frequency is 1/10000^(2i/d_model)":
            lambda: _encoding(max_len, d_model, exponent="i"),
        "column 2i+1 uses the exponent (2i+1)/d_model: sin and cos of a pair share 1/10000^(2i/d_model)":
            lambda: _encoding(max_len, d_model, exponent="column"),
        "sin fills the first half and cos the second: they interleave (PE[p, 2i] = sin, PE[p, 2i+1] = cos)":
            lambda: _encoding(max_len, d_model, interleave=False),
        "positions start at 1: row p is position p, starting at 0":
            lambda: _encoding(max_len, d_model, start=1),
        "p is multiplied by 10000^(2i/d) instead of divided":
            lambda: _encoding(max_len, d_model, multiply=True),
    }


def _call_encoding(trial, max_len: int, d_model: int) -> torch.Tensor:
    got = trial.call(max_len, d_model)
    return expect_tensor(got, (max_len, d_model), torch.float32, device="cpu")


@sinusoidal_positional_encoding.property("matches sin(p/10000^(2i/d)), cos(p/10000^(2i/d))",
                                         inputs.encoding_sizes())
def _(trial, ex):
    got = _call_encoding(trial, **ex)
    expect_close(got, _encoding(**ex), rtol=0.0, atol=encoding_tolerance(ex["max_len"]),
                 mistakes=_encoding_mistakes(**ex))


def rotation(k: int, d_model: int) -> torch.Tensor:
    """M_k [d, d] (float64): PE(p + k) = M_k·PE(p), one 2×2 rotation per (sin, cos) pair."""
    omega = 10000.0 ** -(torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    cos, sin = torch.cos(k * omega), torch.sin(k * omega)
    blocks = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # [d/2, 2, 2]
    return torch.block_diag(*blocks)


@sinusoidal_positional_encoding.property("PE(p + k) is a fixed rotation of PE(p), and |PE| ≤ 1",
                                         inputs.encoding_sizes(), max_examples=10)
def _(trial, ex):
    max_len, d_model = ex["max_len"], ex["d_model"]
    got = _call_encoding(trial, max_len, d_model).to(torch.float64)
    atol = encoding_tolerance(max_len)
    if got.abs().max() > 1 + atol:
        raise CheckFailed(f"|PE| reaches {float(got.abs().max()):.6g}: sines and cosines lie in [−1, 1]")
    for k in range(1, min(max_len, 4)):
        m = rotation(k, d_model)
        expect_close(got[k:], got[:-k] @ m.T, rtol=0.0, atol=3 * atol,
                     what=f"PE(p + {k}) compared with M_{k}·PE(p) (M_{k} rotates pair i by the angle {k}/10000^(2i/d))",
                     mistakes={"sin and cos are swapped: the pairs then rotate the other way": got[:-k] @ m})


@sinusoidal_positional_encoding.property("distinct positions get distinct codes, each of norm √(d/2)",
                                         inputs.encoding_sizes(), max_examples=10)
def _(trial, ex):
    max_len, d_model = ex["max_len"], ex["d_model"]
    got = _call_encoding(trial, max_len, d_model).to(torch.float64)
    norms = (got ** 2).sum(-1)
    error = (norms - d_model / 2).abs().max()
    if error > 4 * d_model * encoding_tolerance(max_len):
        p = int((norms - d_model / 2).abs().argmax())
        raise CheckFailed(f"‖PE({p})‖² = {float(norms[p]):.6g}, expected d_model/2 = {d_model / 2:g}",
                          "every (sin, cos) pair has norm 1: is a column sin where it should be cos, or the reverse?")
    distance = torch.cdist(got, got) + torch.eye(max_len) * 1e9
    p, q = divmod(int(distance.argmin()), max_len)
    if distance[p, q] < 1e-4:
        raise CheckFailed(f"positions {min(p, q)} and {max(p, q)} get the same code {got[p, :6].tolist()}…")


@sinusoidal_positional_encoding.check("long sequences: max_len = 2048, d_model = 64, within 1e-6 + 1e-7·max_len")
def _(trial):
    got = _call_encoding(trial, 2048, 64)
    expect_close(got, _encoding(2048, 64), rtol=0.0, atol=encoding_tolerance(2048), mistakes=_encoding_mistakes(2048, 64))


# ---------------------------------------------------------------------------
def _call_mask(trial, shape: tuple[int, int], device: str, *args) -> torch.Tensor:
    got = trial.call(*args)
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
        raise CheckFailed(f"the mask has dtype {got.dtype}, expected torch.bool",
                          "return the comparison itself (comparisons, | and & give bool tensors), "
                          "without .int() or .float()")
    return expect_tensor(got, shape, torch.bool, device=device, what="the mask")


truncated_attention_mask = Exercise("attention", "truncated_attention_mask", points=2,
                                    arg_names=("seq_len", "window"))


def _window_mask(seq_len: int, keep) -> torch.Tensor:
    i = torch.arange(seq_len)
    return keep(i.unsqueeze(1) - i.unsqueeze(0))


def _window_mistakes(seq_len: int, window: int) -> dict:
    return {
        "off by one: |i − j| ≤ window, not < window": _window_mask(seq_len, lambda d: d.abs() < window),
        "the absolute value is missing: with i − j ≤ window every later position j > i is allowed too":
            _window_mask(seq_len, lambda d: d <= window),
        "the window is one-sided (only j ≤ i): truncated attention looks both ways":
            _window_mask(seq_len, lambda d: (d >= 0) & (d <= window)),
        "the mask is inverted: True = may attend": _window_mask(seq_len, lambda d: d.abs() > window),
    }


@truncated_attention_mask.property("True exactly where |i − j| ≤ window", inputs.window_sizes())
def _(trial, ex):
    got = _call_mask(trial, (ex["seq_len"],) * 2, "cpu", ex["seq_len"], ex["window"])
    expect_equal(got, ref.truncated_attention_mask(**ex), what="the mask", mistakes=_window_mistakes(**ex))


@truncated_attention_mask.check("window 0 keeps the diagonal only; a window ≥ T − 1 allows everything")
def _(trial):
    for seq_len, window, expected in ((5, 0, torch.eye(5, dtype=torch.bool)),
                                      (4, 3, torch.ones(4, 4, dtype=torch.bool)),
                                      (1, 0, torch.ones(1, 1, dtype=torch.bool))):
        got = _call_mask(trial, (seq_len, seq_len), "cpu", seq_len, window)
        expect_equal(got, expected, what=f"truncated_attention_mask({seq_len}, {window})",
                     mistakes=_window_mistakes(seq_len, window))


# ---------------------------------------------------------------------------
graph_attention_mask = Exercise("attention", "graph_attention_mask", points=2, arg_names=("adjacency",))


def _graph_mistakes(adjacency: torch.Tensor) -> dict:
    edges = adjacency != 0
    loops = torch.eye(adjacency.shape[0], dtype=torch.bool)
    return {
        "the self loops are missing: every node also attends to itself (i = j)": edges,
        "the adjacency is transposed: row i lists the nodes i attends to, adjacency[i, j] ≠ 0": edges.T | loops,
        "negative edge weights are edges too: test adjacency ≠ 0, not > 0":
            (adjacency > 0) | loops if adjacency.dtype != torch.bool else None,
        "the mask is inverted: True = may attend": ~(edges | loops),
    }


@graph_attention_mask.property("True exactly where adjacency[i, j] ≠ 0 or i = j", inputs.adjacencies())
def _(trial, ex):
    n = ex["adjacency"].shape[0]
    got = _call_mask(trial, (n, n), trial.device, ex["adjacency"]).cpu()
    expect_equal(got, ref.graph_attention_mask(**ex), what="the mask", mistakes=_graph_mistakes(ex["adjacency"]))


@graph_attention_mask.check("a graph without edges gives the identity; existing self loops stay")
def _(trial):
    for adjacency in (torch.zeros(4, 4), torch.eye(3, dtype=torch.int64), torch.zeros(1, 1, dtype=torch.bool)):
        n = adjacency.shape[0]
        got = _call_mask(trial, (n, n), trial.device, adjacency).cpu()
        expect_equal(got, torch.eye(n, dtype=torch.bool), what=f"the mask of adjacency {adjacency.tolist()}",
                     mistakes=_graph_mistakes(adjacency))


EXERCISES = [attention_scores, scaled_dot_product_attention, split_heads, merge_heads, multi_head_attention,
             sinusoidal_positional_encoding, truncated_attention_mask, graph_attention_mask]
