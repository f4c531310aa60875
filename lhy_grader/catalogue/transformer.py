"""Checks for transformer.py (Lecture 5: Transformer).

Independent oracles: ``F.layer_norm``, ``nn.TransformerEncoderLayer`` and
``nn.TransformerDecoderLayer`` (post-norm, dropout 0) holding the student's
weights, with zero attention biases (ours have none) and inverted masks (theirs
mean True = blocked). Expected values are computed in float64 from the very
inputs the student gets, and gradients are compared with autograd through the
reference. Known mistakes (pre-norm, a missing residual, cross attention reading
the decoder, an off-by-one causal mask...) are rebuilt from the reference's own
pieces so that a matching output names its mistake.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_close, expect_equal, expect_tensor, matches, show
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import transformer as inputs
from lhy_grader.worker.client import StudentRaised

ref = reference("transformer")
mha = reference("attention").multi_head_attention

DETACHED = "part of the computation is cut from autograd (.detach(), .data, .item(), torch.tensor(...) or NumPy)"


# ---------------------------------------------------------------------------
# Shared helpers: float64 copies, tolerances, outputs, gradients.

def _cast(value, dtype: torch.dtype):
    """``value`` with every floating tensor (also inside dicts) as a detached ``dtype`` copy."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(dtype) if value.is_floating_point() else value
    if isinstance(value, dict):
        return {k: _cast(v, dtype) for k, v in value.items()}
    return value


def _float64(value):
    return _cast(value, torch.float64)


def _tolerance(dtype: torch.dtype, scale: float = 1.0) -> dict:
    """rtol/atol for results of order ``scale`` computed in ``dtype`` (expected values are float64)."""
    if dtype == torch.float64:
        return {"rtol": 1e-9, "atol": 1e-10 * scale}
    return {"rtol": 1e-4, "atol": 1e-5 * scale}


def _call_output(trial, ex: dict, shape: tuple[int, ...]) -> torch.Tensor:
    """Call the student's function on ``ex``: a tensor of ``shape`` on the input's dtype and device."""
    dtype = next(v.dtype for v in ex.values() if isinstance(v, torch.Tensor))
    return expect_tensor(trial.call(**ex), shape, dtype, device=trial.device)


def _requiring_grad(value):
    """A copy of ``value`` whose floating tensors (also inside dicts) require grad."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().clone().requires_grad_()
    if isinstance(value, dict):
        return {k: _requiring_grad(v) for k, v in value.items()}
    return value


def _differentiable(ex: dict) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of the floating tensors of ``ex`` in the worker's argument order."""
    found = []
    for name, value in ex.items():
        if isinstance(value, dict):
            found += [(f"{name}[{key!r}]", v) for key, v in value.items() if v.is_floating_point()]
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            found.append((name, value))
    return found


def _autograd(fn: Callable, ex: dict, grad_output: torch.Tensor,
              dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    """Gradients of ``sum(fn(**ex) · grad_output)`` w.r.t. every floating tensor of ``ex``,
    computed in ``dtype``."""
    ex_cast = _requiring_grad(_cast(ex, dtype))
    leaves = [t for _, t in _differentiable(ex_cast)]
    grads = torch.autograd.grad(fn(**ex_cast), leaves, grad_output.to(dtype), allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]


def gradient_property(exercise: Exercise, fn: Callable, strategy, shape_of: Callable[[dict], tuple],
                      mistakes: Callable[[dict, torch.Tensor], list[dict]] | None = None,
                      max_examples: int = 10) -> None:
    """Register "gradients match autograd through the reference" on ``exercise``.

    ``mistakes(ex, grad_output)`` gives, per differentiable input, {hint: gradient a
    known mistake would produce}.
    """
    @exercise.property("gradients match autograd through the reference", strategy, max_examples=max_examples)
    def _(trial, ex):
        shape = shape_of(ex)
        dtype = _differentiable(ex)[0][1].dtype
        grad_output = torch.from_numpy(np.random.default_rng(trial.seed).normal(size=shape)).to(dtype)
        out, grads = trial.call_with_grad(grad_outputs=[grad_output], **_requiring_grad(ex))
        expect_tensor(out, shape, dtype, device=trial.device)
        expected = _autograd(fn, ex, grad_output)
        # Layer norms of nearly constant vectors make gradients cancel: in float32 allow
        # a multiple of the reference's own rounding error on the same input.
        rounded = _autograd(fn, ex, grad_output, dtype) if dtype != torch.float64 else expected
        hints = mistakes(ex, grad_output) if mistakes else [None] * len(expected)
        for (name, _), got, want, own, hint in zip(_differentiable(ex), grads, expected, rounded, hints):
            if got is None:
                raise CheckFailed(f"no gradient reached {name}: the output does not depend on it", DETACHED)
            tolerance = _tolerance(dtype, 1.0 + float(want.abs().max()))
            tolerance["atol"] += 20 * float((own.to(torch.float64) - want).abs().max())
            expect_close(got, want, **tolerance, what=f"the gradient w.r.t. {name}", mistakes=hint)


# ---------------------------------------------------------------------------
causal_mask = Exercise("transformer", "causal_mask", points=2, arg_names=("seq_len",))


def expect_bool_mask(got, size: int) -> torch.Tensor:
    """A bool CPU tensor [size, size] (a mask built from numbers gets its own hint)."""
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
        raise CheckFailed(f"the mask has dtype {got.dtype}, expected torch.bool",
                          "build the mask as a boolean tensor (a comparison, or dtype=torch.bool)")
    return expect_tensor(got, (size, size), torch.bool, device="cpu", what="the mask")


@causal_mask.property("bool [T, T], True where j ≤ i", st.integers(2, 12).map(lambda t: {"seq_len": t}),
                      max_examples=11)
def _(trial, ex):
    t = ex["seq_len"]
    got = expect_bool_mask(trial.call(**ex), t)
    lower = torch.ones(t, t, dtype=torch.bool).tril()
    expect_equal(got, lower, what="the mask", mistakes={
        "off by one: position i may also attend to itself (j ≤ i, not j < i)": lower.tril(-1),
        "inverted: True means *may attend* here (the opposite of nn.MultiheadAttention's attn_mask)": ~lower,
        "transposed: row i is the query, column j the key; True in the lower triangle (j ≤ i)": lower.T,
    })


@causal_mask.check("seq_len = 1 gives [[True]]")
def _(trial):
    expect_equal(expect_bool_mask(trial.call(1), 1), torch.ones(1, 1, dtype=torch.bool), what="the mask",
                 mistakes={"position i may attend to itself (j ≤ i)": torch.zeros(1, 1, dtype=torch.bool)})


# ---------------------------------------------------------------------------
layer_norm = Exercise("transformer", "layer_norm", points=3, arg_names=("x", "gamma", "beta", "eps"),
                      forbidden=("torch.nn.functional.layer_norm", "torch.nn.LayerNorm", "torch.layer_norm"))


def normalize(x, gamma, beta, eps=1e-5, *, dims=(-1,), correction=0, eps_inside=True, detach=()):
    """Layer normalization with the knobs of its classic mistakes."""
    mean = x.mean(dim=dims, keepdim=True)
    var = torch.var(x, dim=dims, keepdim=True, correction=correction)
    mean, var = (mean.detach() if "mean" in detach else mean), (var.detach() if "var" in detach else var)
    std = torch.sqrt(var + eps) if eps_inside else torch.sqrt(var) + eps
    return (x - mean) / std * gamma + beta


def _layer_norm_mistakes(ex: dict) -> dict:
    x, gamma, beta, eps = ex["x"], ex["gamma"], ex["beta"], ex.get("eps", 1e-5)
    return {
        "the variance is unbiased (divided by D − 1): layer norm divides by D":
            lambda: normalize(x, gamma, beta, eps, correction=1),
        "eps is outside the square root: divide by √(var + eps), not √var + eps":
            lambda: normalize(x, gamma, beta, eps, eps_inside=False),
        "eps is missing: divide by √(var + eps)": lambda: normalize(x, gamma, beta, 0.0),
        "the eps argument is ignored": lambda: normalize(x, gamma, beta) if eps != 1e-5 else None,
        "gamma and beta are swapped: y = x̂·gamma + beta": lambda: normalize(x, beta, gamma, eps),
        "gamma and beta are not applied": lambda: normalize(x, 1.0, 0.0, eps),
        "normalized over the wrong dimension: use each vector's D features (the last dimension)":
            lambda: normalize(x, gamma, beta, eps, dims=(0,)) if x.dim() > 1 else None,
        "normalized over all elements at once: normalize each vector of D features on its own":
            lambda: normalize(x, gamma, beta, eps, dims=tuple(range(x.dim()))) if x.dim() > 1 else None,
    }


PRECISION_HINT = ("right in float64 but not in float32: mean(x²) − mean(x)² cancels when |mean| ≫ std; "
                  "compute the variance as mean((x − mean)²)")


def _check_layer_norm(trial, ex: dict) -> None:
    """The student's layer_norm equals F.layer_norm, within float32 rounding when x is float32
    (the reference's own float32 error on this input, times 20, is allowed on top)."""
    dtype = ex["x"].dtype
    got = _call_output(trial, ex, tuple(ex["x"].shape))
    ex64 = _float64(ex)
    expected = F.layer_norm(ex64["x"], ex64["x"].shape[-1:], ex64["gamma"], ex64["beta"], ex.get("eps", 1e-5))
    tolerance = _tolerance(dtype, 1.0 + float(expected.abs().max()))
    tolerance["atol"] += 20 * float((ref.layer_norm(**ex).to(torch.float64) - expected).abs().max())
    try:
        expect_close(got, expected, **tolerance, mistakes=_layer_norm_mistakes(ex64))
    except CheckFailed as failure:
        if dtype != torch.float64 and failure.hint is None and _right_in_float64(trial, ex64, expected):
            raise CheckFailed(failure.message, PRECISION_HINT) from None
        raise


def _right_in_float64(trial, ex64: dict, expected: torch.Tensor) -> bool:
    """Whether the student's function, given the same input in float64, gets it right."""
    try:
        return matches(trial.call(**ex64), expected, 1e-6, 1e-6)
    except StudentRaised:
        return False


@layer_norm.property("matches F.layer_norm", inputs.layer_norm_inputs())
def _(trial, ex):
    _check_layer_norm(trial, ex)


def _layer_norm_grad_mistakes(ex: dict, grad_output: torch.Tensor) -> list[dict]:
    def detached(part: str) -> Callable[[], torch.Tensor]:
        return lambda: _autograd(lambda **e: normalize(**e, detach=(part,)), ex, grad_output)[0]
    return [{f"the mean is detached: {DETACHED}": detached("mean"),
             f"the variance is detached: {DETACHED}": detached("var")}, {}, {}]


gradient_property(layer_norm, ref.layer_norm, inputs.layer_norm_inputs(), lambda ex: tuple(ex["x"].shape),
                  _layer_norm_grad_mistakes)


@layer_norm.property("stays accurate in float32 when |mean| ≫ std (30 : 1)",
                     inputs.layer_norm_inputs(min_d=2, mean_to_std=30.0, dtype_choices=(torch.float32,)),
                     max_examples=10)
def _(trial, ex):
    _check_layer_norm(trial, ex)


@layer_norm.check("a constant vector, or a single feature, gives beta (zero variance, no NaN)")
def _(trial):
    for dtype in inputs.DTYPES:
        constant_rows = torch.tensor([[3.0] * 5, [-1.5] * 5], dtype=dtype)
        single_feature = torch.tensor([[0.7], [-2.0], [5.0]], dtype=dtype)
        for x in (constant_rows, single_feature):
            d = x.shape[-1]
            gamma, beta = torch.linspace(0.5, 1.5, d, dtype=dtype), torch.linspace(-1.0, 1.0, d, dtype=dtype)
            got = _call_output(trial, {"x": x, "gamma": gamma, "beta": beta}, tuple(x.shape))
            expect_close(got, beta.expand(x.shape), **_tolerance(dtype), what=f"the result for x = {show(x)}",
                         mistakes={"0/0: divide by √(var + eps), with the biased variance "
                                   "(the unbiased one is 0/0 for a single feature)":
                                   torch.full(x.shape, float("nan"))})


# ---------------------------------------------------------------------------
feed_forward = Exercise("transformer", "feed_forward", points=2, arg_names=("x", "w1", "b1", "w2", "b2"))


def _ffn_shape(ex: dict) -> tuple[int, ...]:
    return (*ex["x"].shape[:-1], ex["w2"].shape[1])


def _feed_forward_mistakes(ex: dict) -> dict:
    x, w1, b1, w2, b2 = ex["x"], ex["w1"], ex["b1"], ex["w2"], ex["b2"]
    return {
        "the ReLU is missing: relu(x @ w1 + b1) @ w2 + b2": lambda: (x @ w1 + b1) @ w2 + b2,
        "a ReLU is applied to the output too: only the hidden layer has one": lambda: torch.relu(ref.feed_forward(**ex)),
        "the first bias b1 is missing": lambda: torch.relu(x @ w1) @ w2 + b2,
        "the second bias b2 is missing": lambda: torch.relu(x @ w1 + b1) @ w2,
        "b1 is added after the ReLU: it goes inside, relu(x @ w1 + b1)": lambda: (torch.relu(x @ w1) + b1) @ w2 + b2,
    }


@feed_forward.property("matches relu(x @ w1 + b1) @ w2 + b2", inputs.feed_forward_inputs())
def _(trial, ex):
    got = _call_output(trial, ex, _ffn_shape(ex))
    ex64 = _float64(ex)
    expected = F.linear(F.relu(F.linear(ex64["x"], ex64["w1"].T, ex64["b1"])), ex64["w2"].T, ex64["b2"])
    scale = 1.0 + float(expected.abs().max())
    expect_close(got, expected, **_tolerance(ex["x"].dtype, scale), mistakes=_feed_forward_mistakes(ex64))


gradient_property(feed_forward, ref.feed_forward, inputs.feed_forward_inputs(), _ffn_shape)


# ---------------------------------------------------------------------------
# The blocks: nn oracles, and the reference rebuilt with the classic mistakes.

def _blocked(mask: torch.Tensor | None, num_heads: int) -> torch.Tensor | None:
    """Our mask (True = may attend) as nn's attn_mask: True = blocked, [Tq, Tk] or [B·h, Tq, Tk]."""
    if mask is None or mask.dim() == 2:
        return None if mask is None else ~mask
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    batch, _, tq, tk = mask.shape
    return ~mask.expand(batch, num_heads, tq, tk).reshape(batch * num_heads, tq, tk)


def _load_attention(attention: nn.MultiheadAttention, p: dict, prefix: str) -> None:
    attention.in_proj_weight.copy_(torch.cat([p[f"{prefix}w_q"].T, p[f"{prefix}w_k"].T, p[f"{prefix}w_v"].T]))
    attention.in_proj_bias.zero_()
    attention.out_proj.weight.copy_(p[f"{prefix}w_o"].T)
    attention.out_proj.bias.zero_()


def _load_common(layer: nn.Module, p: dict, norms: int) -> None:
    """The feed-forward weights and the layer norms (``ln1 … ln<norms>``) of an nn layer."""
    layer.linear1.weight.copy_(p["w1"].T)
    layer.linear1.bias.copy_(p["b1"])
    layer.linear2.weight.copy_(p["w2"].T)
    layer.linear2.bias.copy_(p["b2"])
    for i in range(1, norms + 1):
        getattr(layer, f"norm{i}").weight.copy_(p[f"ln{i}_gamma"])
        getattr(layer, f"norm{i}").bias.copy_(p[f"ln{i}_beta"])


def _nn_layer(cls: type, p: dict, num_heads: int) -> nn.Module:
    """A float64 ``cls`` (post-norm, dropout 0, batch first) sized like ``p``; its random
    initial weights are overwritten, and torch's global generator is left as it was."""
    d, hidden = p["w1"].shape
    with torch.random.fork_rng(devices=[]):
        return cls(d, num_heads, hidden, dropout=0.0, batch_first=True, norm_first=False, dtype=torch.float64)


@torch.no_grad()
def torch_encoder_layer(ex64: dict) -> torch.Tensor:
    """``nn.TransformerEncoderLayer`` holding the example's weights, applied to it."""
    p, heads = ex64["params"], ex64["num_heads"]
    layer = _nn_layer(nn.TransformerEncoderLayer, p, heads)
    _load_attention(layer.self_attn, p, "")
    _load_common(layer, p, norms=2)
    return layer(ex64["x"], src_mask=_blocked(ex64.get("mask"), heads))


@torch.no_grad()
def torch_decoder_layer(ex64: dict) -> torch.Tensor:
    """``nn.TransformerDecoderLayer`` holding the example's weights, with a causal tgt_mask."""
    p, heads, y = ex64["params"], ex64["num_heads"], ex64["y"]
    layer = _nn_layer(nn.TransformerDecoderLayer, p, heads)
    _load_attention(layer.self_attn, p, "self_")
    _load_attention(layer.multihead_attn, p, "cross_")
    _load_common(layer, p, norms=3)
    causal = torch.ones(y.shape[1], y.shape[1], dtype=torch.bool).tril()
    return layer(y, ex64["memory"], tgt_mask=~causal, memory_mask=_blocked(ex64.get("memory_mask"), heads))


def add_and_norm(x, sublayer: Callable, gamma, beta, layout: str = "post"):
    """One sublayer with its residual and layer norm, laid out right ("post") or wrong."""
    if layout == "pre":
        return x + sublayer(ref.layer_norm(x, gamma, beta))
    if layout == "no residual":
        return ref.layer_norm(sublayer(x), gamma, beta)
    if layout == "no norm":
        return x + sublayer(x)
    return ref.layer_norm(x + sublayer(x), gamma, beta)


def _ffn_of(p: dict) -> Callable:
    return lambda z: ref.feed_forward(z, p["w1"], p["b1"], p["w2"], p["b2"])


def _norm(p: dict, name: str) -> tuple:
    return p[f"{name}_gamma"], p[f"{name}_beta"]


def encoder_variant(ex: dict, layouts=("post", "post"), mask="given", norms=("ln1", "ln2")) -> torch.Tensor:
    """The encoder block with the given sublayer layouts, mask and layer-norm parameters."""
    p, heads = ex["params"], ex["num_heads"]
    mask = ex.get("mask") if mask == "given" else mask
    attend = lambda z: mha(z, z, z, p["w_q"], p["w_k"], p["w_v"], p["w_o"], heads, mask)  # noqa: E731
    h = add_and_norm(ex["x"], attend, *_norm(p, norms[0]), layouts[0])
    return add_and_norm(h, _ffn_of(p), *_norm(p, norms[1]), layouts[1])


def _encoder_mistakes(ex: dict) -> dict:
    mistakes = {
        "pre-norm: this block is post-norm, LN(x + sublayer(x)), not x + sublayer(LN(x))":
            lambda: encoder_variant(ex, ("pre", "pre")),
        "the residual around the self-attention is missing: h = LN1(x + MHA(x))":
            lambda: encoder_variant(ex, ("no residual", "post")),
        "the residual around the feed-forward is missing: out = LN2(h + FFN(h))":
            lambda: encoder_variant(ex, ("post", "no residual")),
        "the final layer norm LN2 is missing": lambda: encoder_variant(ex, ("post", "no norm")),
        "LN1 and LN2 are swapped (ln1_* belongs to the attention sublayer)":
            lambda: encoder_variant(ex, norms=("ln2", "ln1")),
    }
    if "mask" in ex:
        mistakes["the mask is ignored"] = lambda: encoder_variant(ex, mask=None)
    return mistakes


# ---------------------------------------------------------------------------
encoder_block = Exercise("transformer", "encoder_block", points=4, arg_names=("x", "params", "num_heads", "mask"))


def _check_encoder(trial, ex: dict, expected: torch.Tensor) -> None:
    got = _call_output(trial, ex, tuple(ex["x"].shape))
    expect_close(got, expected, **_tolerance(ex["x"].dtype), mistakes=_encoder_mistakes(_float64(ex)))


@encoder_block.property("matches nn.TransformerEncoderLayer (post-norm)", inputs.encoder_inputs(), max_examples=15)
def _(trial, ex):
    _check_encoder(trial, ex, torch_encoder_layer(_float64(ex)))


@encoder_block.property("masks of shape [B, T, T] and [B, 1 or h, T, T] (against the reference)",
                        inputs.encoder_inputs(masks=inputs.BATCH_MASKS), max_examples=10)
def _(trial, ex):
    _check_encoder(trial, ex, ref.encoder_block(**_float64(ex)))


gradient_property(encoder_block, ref.encoder_block, inputs.encoder_inputs(inputs.BATCH_MASKS + (inputs.NO_MASK,)),
                  lambda ex: tuple(ex["x"].shape), max_examples=8)


# ---------------------------------------------------------------------------
decoder_block = Exercise("transformer", "decoder_block", points=4,
                         arg_names=("y", "memory", "params", "num_heads", "memory_mask"))

SELF_MASKS = {
    "causal": lambda t: torch.ones(t, t, dtype=torch.bool).tril(),
    "strict": lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1),
    "inverted": lambda t: ~torch.ones(t, t, dtype=torch.bool).tril(),
    "transposed": lambda t: torch.ones(t, t, dtype=torch.bool).triu(),
    "none": lambda t: None,
}


def decoder_variant(ex: dict, layouts=("post", "post", "post"), self_mask="causal", keys_from="memory",
                    memory_mask="given") -> torch.Tensor:
    """The decoder block with the given sublayer layouts, self-attention mask, source of the
    cross attention's keys/values ("memory" or "decoder") and memory mask."""
    p, heads, y = ex["params"], ex["num_heads"], ex["y"]
    mask = SELF_MASKS[self_mask](y.shape[1])
    memory_mask = ex.get("memory_mask") if memory_mask == "given" else memory_mask

    def attend(z):
        return mha(z, z, z, p["self_w_q"], p["self_w_k"], p["self_w_v"], p["self_w_o"], heads, mask)

    def cross(z):
        source = ex["memory"] if keys_from == "memory" else z
        return mha(z, source, source, p["cross_w_q"], p["cross_w_k"], p["cross_w_v"], p["cross_w_o"],
                   heads, memory_mask)

    h1 = add_and_norm(y, attend, *_norm(p, "ln1"), layouts[0])
    h2 = add_and_norm(h1, cross, *_norm(p, "ln2"), layouts[1])
    return add_and_norm(h2, _ffn_of(p), *_norm(p, "ln3"), layouts[2])


def _decoder_mistakes(ex: dict) -> dict:
    mistakes = {
        "the self-attention has no causal mask: position i must not see later positions (apply causal_mask)":
            lambda: decoder_variant(ex, self_mask="none"),
        "the causal mask is off by one: position i may attend to itself (j ≤ i)":
            lambda: decoder_variant(ex, self_mask="strict"),
        "the causal mask is inverted: True means may attend": lambda: decoder_variant(ex, self_mask="inverted"),
        "the causal mask is transposed: True where j ≤ i (lower triangle)":
            lambda: decoder_variant(ex, self_mask="transposed"),
        "the cross attention takes its keys/values from the decoder: they come from memory "
        "(queries from the decoder)": lambda: decoder_variant(ex, keys_from="decoder"),
        "pre-norm: this block is post-norm, LN(x + sublayer(x)), not x + sublayer(LN(x))":
            lambda: decoder_variant(ex, ("pre", "pre", "pre")),
        "the residual around the masked self-attention is missing":
            lambda: decoder_variant(ex, ("no residual", "post", "post")),
        "the residual around the cross attention is missing":
            lambda: decoder_variant(ex, ("post", "no residual", "post")),
        "the residual around the feed-forward is missing":
            lambda: decoder_variant(ex, ("post", "post", "no residual")),
    }
    if "memory_mask" in ex:
        mistakes["the memory_mask is ignored"] = lambda: decoder_variant(ex, memory_mask=None)
    return mistakes


def _check_decoder(trial, ex: dict) -> None:
    got = _call_output(trial, ex, tuple(ex["y"].shape))
    ex64 = _float64(ex)
    expect_close(got, torch_decoder_layer(ex64), **_tolerance(ex["y"].dtype), mistakes=_decoder_mistakes(ex64))


@decoder_block.property("matches nn.TransformerDecoderLayer (post-norm, causal)",
                        inputs.decoder_inputs(min_len=2), max_examples=15)
def _(trial, ex):
    _check_decoder(trial, ex)


@decoder_block.property("memory_mask of every shape (against nn.TransformerDecoderLayer)",
                        inputs.decoder_inputs(masks=(inputs.SHARED_MASK, *inputs.BATCH_MASKS)), max_examples=10)
def _(trial, ex):
    _check_decoder(trial, ex)


@decoder_block.property("changing later tokens never changes earlier outputs", inputs.future_changes(),
                        max_examples=10)
def _(trial, ex):
    first = ex["first_changed"]
    args = {k: v for k, v in ex.items() if k not in ("first_changed", "y_changed")}
    before = _call_output(trial, args, tuple(ex["y"].shape))
    after = _call_output(trial, {**args, "y": ex["y_changed"]}, tuple(ex["y"].shape))
    if not torch.allclose(after[:, :first], before[:, :first], rtol=1e-9, atol=1e-10):
        earlier = "position 0" if first == 1 else f"positions 0…{first - 1}"
        raise CheckFailed(f"the output at {earlier} changed when only y[:, {first}:] changed "
                          f"(information leaks from later tokens)",
                          "position i sees later positions: the self-attention needs causal_mask(T) "
                          "(True where j ≤ i), and the cross attention reads memory, not the decoder")


gradient_property(decoder_block, ref.decoder_block,
                  inputs.decoder_inputs(masks=(inputs.NO_MASK, inputs.SHARED_MASK, *inputs.BATCH_MASKS)),
                  lambda ex: tuple(ex["y"].shape), max_examples=8)


# ---------------------------------------------------------------------------
shift_right = Exercise("transformer", "shift_right", points=2, arg_names=("targets", "bos_id"))


def _check_shift(trial, ex: dict) -> None:
    targets, bos_id = ex["targets"], ex["bos_id"]
    got = trial.call(**ex)
    b, t = targets.shape
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (b, t + 1):
        raise CheckFailed(f"the result has shape {tuple(got.shape)}, expected {(b, t)}",
                          "the last target must be dropped: bos_id then targets[:, :-1]")
    if isinstance(got, torch.Tensor) and got.shape == targets.shape and got.dtype != targets.dtype:
        raise CheckFailed(f"the result has dtype {got.dtype}, expected {targets.dtype} (the dtype of targets)",
                          "build the bos column with the dtype and device of targets (e.g. torch.full_like)")
    expect_tensor(got, (b, t), targets.dtype, device=trial.device)
    bos = torch.full((b, 1), bos_id, dtype=targets.dtype)
    expect_equal(got.cpu(), torch.cat([bos, targets[:, :-1]], dim=1), mistakes={
        "shifted the wrong way: bos_id goes first, then targets[:, :-1]": torch.cat([targets[:, 1:], bos], dim=1),
        "dropped the first target instead of the last: bos_id, then targets[:, :-1]":
            torch.cat([bos, targets[:, 1:]], dim=1),
        "torch.roll wraps the last target round to position 0: put bos_id there": targets.roll(1, dims=1),
    })


@shift_right.property("bos_id then targets[:, :-1]", inputs.shift_inputs())
def _(trial, ex):
    _check_shift(trial, ex)


@shift_right.property("keeps the dtype of int32 targets", inputs.shift_inputs(np.int32), max_examples=5)
def _(trial, ex):
    _check_shift(trial, ex)


EXERCISES = [causal_mask, layer_norm, feed_forward, encoder_block, decoder_block, shift_right]
