"""transformer.py: the reference passes; realistic mistakes are caught with the right message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lhy_grader.catalogue import transformer as checks
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import transformer as inputs
from tests.variants import assert_caught, assert_full_marks, grade_variant

EXERCISES = ["causal_mask", "layer_norm", "feed_forward", "encoder_block", "decoder_block", "shift_right"]

LAYER_NORM_BODY = """\
    mean = x.mean(dim=-1, keepdim=True)                  # [..., 1]
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # [..., 1], biased
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta
"""
ENCODER_ATTENTION = """\
    attended = multi_head_attention(x, x, x, p["w_q"], p["w_k"], p["w_v"], p["w_o"], num_heads, mask)
    h = layer_norm(x + attended, p["ln1_gamma"], p["ln1_beta"])  # [B, T, D]
    transformed = feed_forward(h, p["w1"], p["b1"], p["w2"], p["b2"])
    return layer_norm(h + transformed, p["ln2_gamma"], p["ln2_beta"])  # [B, T, D]
"""
ENCODER_PRE_NORM = """\
    normed = layer_norm(x, p["ln1_gamma"], p["ln1_beta"])
    h = x + multi_head_attention(normed, normed, normed, p["w_q"], p["w_k"], p["w_v"], p["w_o"], num_heads, mask)
    return h + feed_forward(layer_norm(h, p["ln2_gamma"], p["ln2_beta"]), p["w1"], p["b1"], p["w2"], p["b2"])
"""
DECODER_LAYER_NORMS = {  # post-norm → pre-norm, one sublayer at a time
    'h1 = layer_norm(y + attended, p["ln1_gamma"], p["ln1_beta"])':
        'h1 = y + attended',
    "attended = multi_head_attention(y, y, y,":
        'n1 = layer_norm(y, p["ln1_gamma"], p["ln1_beta"])\n    attended = multi_head_attention(n1, n1, n1,',
    "crossed = multi_head_attention(h1, memory, memory,":
        'n2 = layer_norm(h1, p["ln2_gamma"], p["ln2_beta"])\n    crossed = multi_head_attention(n2, memory, memory,',
    'h2 = layer_norm(h1 + crossed, p["ln2_gamma"], p["ln2_beta"])': "h2 = h1 + crossed",
    'transformed = feed_forward(h2,': 'transformed = feed_forward(layer_norm(h2, p["ln3_gamma"], p["ln3_beta"]),',
    'return layer_norm(h2 + transformed, p["ln3_gamma"], p["ln3_beta"])': "return h2 + transformed",
}
SHIFT_BODY = """\
    bos = torch.full_like(targets[:, :1], bos_id)  # [B, 1]
    return torch.cat([bos, targets[:, :-1]], dim=1)  # [B, T]
"""
CAUSAL = "mask = causal_mask(y.shape[1]).to(y.device)  # [T, T]"


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"transformer.{function}"))


ALTERNATIVES = [
    # other correct ways to write a function: full marks, in both dtypes
    ("causal_mask", {"return torch.ones(seq_len, seq_len, dtype=torch.bool).tril()":
                     "position = torch.arange(seq_len)\n    return position[None, :] <= position[:, None]"}),
    ("layer_norm", {LAYER_NORM_BODY: """\
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, unbiased=False)
    return gamma * (x - mean) / (var + eps).sqrt() + beta
"""}),
    ("feed_forward", {"hidden = torch.relu(x @ w1 + b1)":
                      "hidden = torch.nn.functional.linear(x, w1.T, b1).clamp(min=0)"}),
    ("decoder_block", {CAUSAL: "mask = ~torch.triu(torch.ones(y.shape[1], y.shape[1], dtype=torch.bool, device=y.device), 1)"}),
    ("shift_right", {SHIFT_BODY: "    return torch.nn.functional.pad(targets[:, :-1], (1, 0), value=bos_id)\n"}),
    ("shift_right", {SHIFT_BODY: "    shifted = targets.roll(1, dims=1)\n    shifted[:, 0] = bos_id\n    return shifted\n"}),
]


@pytest.mark.parametrize("function,replacements", ALTERNATIVES, ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_other_correct_implementations_get_full_marks(worker, tmp_path, function, replacements):
    assert_full_marks(grade_variant(worker, tmp_path, f"transformer.{function}", replacements))


BUGS = [
    # (exercise, replacements, failing check, hint)
    ("causal_mask", {".tril()  # [T, T]": ".tril(-1)  # [T, T]"}, "j ≤ i", "off by one"),
    ("causal_mask", {"return torch.ones(seq_len": "return ~torch.ones(seq_len"}, "j ≤ i", "inverted"),
    ("causal_mask", {".tril()  # [T, T]": ".triu()  # [T, T]"}, "j ≤ i", "transposed"),
    ("causal_mask", {", dtype=torch.bool).tril()": ").tril()"}, "j ≤ i", "boolean tensor"),

    ("layer_norm", {"var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)": "var = x.var(dim=-1, keepdim=True)"},
     "matches F.layer_norm", "unbiased"),
    ("layer_norm", {"torch.sqrt(var + eps)": "(torch.sqrt(var) + eps)"}, "matches F.layer_norm", "outside the square root"),
    ("layer_norm", {"torch.sqrt(var + eps)": "torch.sqrt(var + 1e-5)"}, "matches F.layer_norm", "eps argument is ignored"),
    ("layer_norm", {"* gamma + beta": "* beta + gamma"}, "matches F.layer_norm", "swapped"),
    ("layer_norm", {"dim=-1": "dim=0"}, "matches F.layer_norm", "wrong dimension"),
    ("layer_norm", {"torch.sqrt(var + eps)": "torch.sqrt(var)"}, "a constant vector", "0/0"),
    ("layer_norm", {"var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)": "var = (x * x).mean(-1, keepdim=True) - mean ** 2"},
     "stays accurate in float32", "cancels"),
    ("layer_norm", {"mean = x.mean(dim=-1, keepdim=True) ": "mean = x.mean(dim=-1, keepdim=True).detach()"},
     "gradients", "the mean is detached"),

    ("feed_forward", {"torch.relu(x @ w1 + b1)": "(x @ w1 + b1)"}, "matches relu", "ReLU is missing"),
    ("feed_forward", {"torch.relu(x @ w1 + b1)": "torch.relu(x @ w1)"}, "matches relu", "b1 is missing"),
    ("feed_forward", {"return hidden @ w2 + b2": "return hidden @ w2"}, "matches relu", "b2 is missing"),
    ("feed_forward", {"return hidden @ w2 + b2": "return torch.relu(hidden @ w2 + b2)"}, "matches relu", "output too"),
    ("feed_forward", {"torch.relu(x @ w1 + b1)": "torch.relu(x @ w1 + b1).detach()"}, "gradients", "autograd"),

    ("encoder_block", {ENCODER_ATTENTION: ENCODER_PRE_NORM}, "nn.TransformerEncoderLayer", "pre-norm"),
    ("encoder_block", {"layer_norm(x + attended,": "layer_norm(attended,"}, "nn.TransformerEncoderLayer",
     "residual around the self-attention"),
    ("encoder_block", {"layer_norm(h + transformed,": "layer_norm(transformed,"}, "nn.TransformerEncoderLayer",
     "residual around the feed-forward"),
    ("encoder_block", {'p["w_o"], num_heads, mask)': 'p["w_o"], num_heads)'}, "nn.TransformerEncoderLayer",
     "mask is ignored"),
    ("encoder_block", {'x + attended, p["ln1_gamma"], p["ln1_beta"]': 'x + attended, p["ln2_gamma"], p["ln2_beta"]',
                       'h + transformed, p["ln2_gamma"], p["ln2_beta"]': 'h + transformed, p["ln1_gamma"], p["ln1_beta"]'},
     "nn.TransformerEncoderLayer", "swapped"),
    ("encoder_block", {'x + attended, p["ln1_gamma"], p["ln1_beta"])': 'x + attended, p["ln1_gamma"], p["ln1_beta"]).detach()'},
     "gradients", "autograd"),

    ("decoder_block", {CAUSAL: "mask = torch.ones(y.shape[1], y.shape[1], dtype=torch.bool).tril(-1)"},
     "nn.TransformerDecoderLayer (post-norm, causal)", "off by one"),
    ("decoder_block", {CAUSAL: "mask = ~causal_mask(y.shape[1])"}, "nn.TransformerDecoderLayer (post-norm, causal)",
     "inverted"),
    ("decoder_block", {CAUSAL: "mask = None"}, "nn.TransformerDecoderLayer (post-norm, causal)", "no causal mask"),
    ("decoder_block", {CAUSAL: "mask = None"}, "changing later tokens", "sees later positions"),
    ("decoder_block", {CAUSAL: "mask = ~causal_mask(y.shape[1])"}, "changing later tokens", "sees later positions"),
    ("decoder_block", {"multi_head_attention(h1, memory, memory,": "multi_head_attention(h1, h1, h1,"},
     "nn.TransformerDecoderLayer (post-norm, causal)", "keys/values from the decoder"),
    ("decoder_block", DECODER_LAYER_NORMS, "nn.TransformerDecoderLayer (post-norm, causal)", "pre-norm"),
    ("decoder_block", {"layer_norm(h1 + crossed,": "layer_norm(crossed,"},
     "nn.TransformerDecoderLayer (post-norm, causal)", "residual around the cross attention"),
    ("decoder_block", {'p["cross_w_o"], num_heads, memory_mask)': 'p["cross_w_o"], num_heads)'},
     "memory_mask of every shape", "memory_mask is ignored"),

    ("shift_right", {"return torch.cat([bos, targets[:, :-1]], dim=1)": "return torch.cat([targets[:, 1:], bos], dim=1)"},
     "bos_id then", "wrong way"),
    ("shift_right", {"torch.cat([bos, targets[:, :-1]], dim=1)": "torch.cat([bos, targets[:, 1:]], dim=1)"},
     "bos_id then", "dropped the first target"),
    ("shift_right", {"return torch.cat([bos, targets[:, :-1]], dim=1)": "return targets.roll(1, dims=1)"},
     "bos_id then", "torch.roll"),
    ("shift_right", {"torch.cat([bos, targets[:, :-1]], dim=1)": "torch.cat([bos, targets], dim=1)"},
     "bos_id then", "last target must be dropped"),
    ("shift_right", {"torch.full_like(targets[:, :1], bos_id)": "torch.full((targets.shape[0], 1), bos_id)"},
     "int32", "dtype and device of targets"),
    ("shift_right", {SHIFT_BODY: "    targets[:, 1:] = targets[:, :-1].clone()\n    targets[:, 0] = bos_id\n"
                                 "    return targets\n"},
     "leaves its inputs unchanged", "in-place"),
]


@pytest.mark.parametrize("function,replacements,check,hint", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint):
    result = grade_variant(worker, tmp_path, f"transformer.{function}", replacements)
    assert_caught(result, check, hint)


@pytest.mark.parametrize("call,name", [
    ("torch.nn.functional.layer_norm(x, x.shape[-1:], gamma, beta, eps)", "torch.nn.functional.layer_norm"),
    ("torch.nn.LayerNorm(x.shape[-1], eps=eps, elementwise_affine=False, dtype=x.dtype)(x) * gamma + beta",
     "torch.nn.LayerNorm"),
])
def test_forbidden_layer_norm_is_named(worker, tmp_path, call, name):
    result = grade_variant(worker, tmp_path, "transformer.layer_norm", {LAYER_NORM_BODY: f"    return {call}\n"})
    assert_caught(result, "does not call", message=name)


def test_forbidden_name_in_a_comment_or_string_is_not_flagged(worker, tmp_path):
    mention = ('    # same result as torch.nn.functional.layer_norm / torch.nn.LayerNorm\n'
               '    note = "not torch.nn.functional.layer_norm"\n')
    assert_full_marks(grade_variant(worker, tmp_path, "transformer.layer_norm",
                                    {LAYER_NORM_BODY: mention + LAYER_NORM_BODY}))


def test_the_decoder_uses_the_students_own_causal_mask(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "transformer.decoder_block",
                           {".tril()  # [T, T]": ".tril(-1)  # [T, T]"})
    assert_caught(result, "nn.TransformerDecoderLayer (post-norm, causal)", "off by one")


def test_outputs_keep_the_input_dtype(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "transformer.feed_forward",
                           {"return hidden @ w2 + b2": "return (hidden @ w2 + b2).double()"})
    assert_caught(result, "matches relu", message="expected torch.float32")


def test_reference_blocks_equal_the_nn_layers():
    """The oracles agree with the reference: copied weights, zero biases, inverted masks."""
    ref = reference("transformer")
    rng = np.random.default_rng(0)
    mask = inputs.attention_mask(rng, "[B, h, Tq, Tk]", 2, 2, 4, 4)
    x = torch.from_numpy(rng.normal(size=(2, 4, 6)))
    encoder = {"x": x, "params": inputs.encoder_params(rng, 6, 5, torch.float64), "num_heads": 2, "mask": mask}
    assert torch.allclose(checks.torch_encoder_layer(encoder), ref.encoder_block(**encoder), atol=1e-12)
    decoder = {"y": x, "memory": torch.from_numpy(rng.normal(size=(2, 3, 6))),
               "params": inputs.decoder_params(rng, 6, 5, torch.float64), "num_heads": 2,
               "memory_mask": inputs.attention_mask(rng, "[B, Tq, Tk]", 2, 2, 4, 3)}
    assert torch.allclose(checks.torch_decoder_layer(decoder), ref.decoder_block(**decoder), atol=1e-12)
