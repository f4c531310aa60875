"""attention.py: the reference passes; other correct implementations pass; realistic
mistakes are caught by the intended check with the intended hint; forbidden shortcuts
are named."""

from __future__ import annotations

import pytest

from lhy_grader.catalogue.attention import INTERLEAVED_HINT, LARGE_NEGATIVE_HINT, NAN_HINT
from tests.variants import assert_caught, assert_full_marks, grade_variant

EXERCISES = ["attention_scores", "scaled_dot_product_attention", "split_heads", "merge_heads",
             "multi_head_attention", "sinusoidal_positional_encoding", "truncated_attention_mask",
             "graph_attention_mask"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"attention.{function}"))


SCORES = "    return q @ k.transpose(-2, -1) / math.sqrt(d)  # [..., Tq, Tk]\n"
MASKING = """\
        scores = torch.where(mask, scores, float("-inf"))
        # A row with no allowed key would be softmax(all −inf) = NaN: give it finite
        # scores here and zero weights below (torch.where passes no gradient through).
        has_key = mask.any(dim=-1, keepdim=True)  # [..., Tq, 1]
        scores = torch.where(has_key, scores, 0.0)
    weights = torch.softmax(scores, dim=-1)  # [..., Tq, Tk]
    if mask is not None:
        weights = torch.where(has_key, weights, 0.0)
"""
SPLIT = "    return x.reshape(B, T, num_heads, D // num_heads).transpose(1, 2)  # [B, h, T, dh]\n"
MERGE = "    return x.transpose(1, 2).reshape(B, T, h * dh)  # [B, T, D]\n"
ENCODING = "    pe = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)     # [L, d/2, 2]\n"

# Other correct ways to write the functions: they must get full marks too.
ALTERNATIVES = [
    ("scaled_dot_product_attention", {MASKING: """\
        scores = scores.masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=-1)  # [..., Tq, Tk]
    if mask is not None:
        weights = weights * mask.any(dim=-1, keepdim=True)
"""}),
    # masked_fill's backward zeroes the gradient of a fully masked row, NaN included.
    ("scaled_dot_product_attention", {MASKING: """\
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
"""}),
    ("scaled_dot_product_attention", {
        "    scores = attention_scores(q, k)  # [..., Tq, Tk]\n":
            "    scores = torch.einsum('...qd,...kd->...qk', q, k) * q.shape[-1] ** -0.5\n"}),
    ("split_heads", {SPLIT: "    return torch.stack(x.chunk(num_heads, dim=-1), dim=1)\n"}),
    ("merge_heads", {MERGE: "    return torch.cat(x.unbind(1), dim=-1)\n"}),
    ("multi_head_attention", {
        "    out, _ = scaled_dot_product_attention(q, k, v, mask)  # [B, h, Tq, dh]\n": """\
    mask = mask if mask is not None else torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool)
    outs = [scaled_dot_product_attention(q[:, i], k[:, i], v[:, i],
                                         mask[:, min(i, mask.shape[1] - 1)] if mask.dim() == 4 else mask)[0]
            for i in range(num_heads)]
    out = torch.stack(outs, dim=1)
"""}),
    # The classic float32 recipe: exp/log frequencies and in-place column writes.
    ("sinusoidal_positional_encoding", {
        "    # float64 angles: p · frequency loses ~p·1e-7 in float32.\n": "",
        "    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # [L, 1]\n": """\
    pe = torch.zeros(max_len, d_model)
    position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe
"""}),
    ("truncated_attention_mask", {
        "    return distance <= window\n":
            "    return torch.ones(seq_len, seq_len, dtype=torch.bool).triu(-window).tril(window)\n"}),
    ("graph_attention_mask", {
        "    return (adjacency != 0) | self_loops  # [N, N]\n":
            "    return adjacency.bool().logical_or(self_loops)\n"}),
]


@pytest.mark.parametrize("function,replacements", ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_other_correct_implementations_get_full_marks(worker, tmp_path, function, replacements):
    assert_full_marks(grade_variant(worker, tmp_path, f"attention.{function}", replacements))


SDPA_CORE = "matches softmax"
MHA_CORE = "matches nn.MultiheadAttention"
PE_CORE = "matches sin"

BUGS = [
    # (exercise, replacements, failing check(s), hint, status)
    ("attention_scores", {SCORES: "    return q @ k.transpose(-2, -1)\n"}, "matches q·kᵀ/√d", "not divided by √d", "failed"),
    ("attention_scores", {SCORES: "    return q @ k.transpose(-2, -1) / d\n"}, "matches q·kᵀ/√d", "by d instead", "failed"),
    ("attention_scores", {SCORES: "    return q @ k.transpose(-2, -1) / math.sqrt(k.shape[-2])\n"},
     "matches q·kᵀ/√d", "√Tk", "failed"),
    ("attention_scores", {SCORES: "    return q @ k.T / math.sqrt(d)\n"}, "matches q·kᵀ/√d", None, "error"),
    ("attention_scores", {SCORES: "    return (q @ k.transpose(-2, -1) / math.sqrt(d)).detach()\n"},
     "gradients", None, "error"),

    ("scaled_dot_product_attention", {"    scores = attention_scores(q, k)  # [..., Tq, Tk]\n":
                                      "    scores = q @ k.transpose(-2, -1)\n"},
     SDPA_CORE, "not divided by √d", "failed"),
    ("scaled_dot_product_attention", {"torch.softmax(scores, dim=-1)": "torch.softmax(scores, dim=-2)"},
     (SDPA_CORE, "distribution over the allowed keys"), "wrong axis", "failed"),
    ("scaled_dot_product_attention", {'torch.where(mask, scores, float("-inf"))': 'torch.where(mask, float("-inf"), scores)'},
     SDPA_CORE, "inverted", "failed"),
    ("scaled_dot_product_attention", {"    return weights @ v, weights  # [..., Tq, dv], [..., Tq, Tk]\n":
                                      "    return (weights @ v).float(), weights.float()\n"}, SDPA_CORE, None, "failed"),
    ("scaled_dot_product_attention", {MASKING: "        scores = scores.masked_fill(~mask, -1e9)\n"
                                               "    weights = torch.softmax(scores, dim=-1)\n"},
     "no allowed key", LARGE_NEGATIVE_HINT, "failed"),
    ("scaled_dot_product_attention", {MASKING: "        scores = scores.masked_fill(~mask, float('-inf'))\n"
                                               "    weights = torch.softmax(scores, dim=-1)\n"},
     "no allowed key", NAN_HINT, "failed"),
    # An additive −inf mask, NaN repaired in the forward pass only: the backward still carries NaN.
    ("scaled_dot_product_attention", {MASKING: "        scores = scores + torch.zeros_like(scores).masked_fill(~mask, float('-inf'))\n"
                                               "    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)\n"},
     "gradients", NAN_HINT, "failed"),

    ("split_heads", {SPLIT: "    return x.reshape(B, T, D // num_heads, num_heads).permute(0, 3, 1, 2)\n"},
     ("contiguous blocks", "head i holds features"), INTERLEAVED_HINT, "failed"),
    ("split_heads", {SPLIT: "    return x.reshape(B, num_heads, T, D // num_heads)\n"}, "contiguous blocks",
     "reshaped straight", "failed"),
    ("split_heads", {SPLIT: "    return x.view(B, T, num_heads, -1).permute(0, 2, 3, 1)\n"}, "contiguous blocks",
     None, "failed"),
    ("split_heads", {SPLIT: "    return x.detach().reshape(B, T, num_heads, D // num_heads).transpose(1, 2)\n"},
     "gradient", None, "error"),

    ("merge_heads", {MERGE: "    return x.reshape(B, T, h * dh)\n"}, ("concatenation of the heads", "undoes split_heads"),
     "reshaped straight", "failed"),
    ("merge_heads", {MERGE: "    return x.permute(0, 2, 3, 1).reshape(B, T, h * dh)\n"}, "concatenation of the heads",
     INTERLEAVED_HINT, "failed"),
    ("merge_heads", {MERGE: "    return x.transpose(1, 2).view(B, T, h * dh)\n"}, "concatenation of the heads", None, "error"),

    ("multi_head_attention", {"    return merge_heads(out) @ w_o  # [B, Tq, D]\n": "    return merge_heads(out)\n"},
     MHA_CORE, "output projection w_o is missing", "failed"),
    ("multi_head_attention", {"(query @ w_q, num_heads)": "(query @ w_q.T, num_heads)",
                              "(key @ w_k, num_heads)": "(key @ w_k.T, num_heads)",
                              "(value @ w_v, num_heads)": "(value @ w_v.T, num_heads)",
                              "merge_heads(out) @ w_o": "merge_heads(out) @ w_o.T"},
     MHA_CORE, "weights are transposed", "failed"),
    ("multi_head_attention", {SPLIT: "    return x.reshape(B, T, D // num_heads, num_heads).permute(0, 3, 1, 2)\n",
                              MERGE: "    return x.permute(0, 2, 3, 1).reshape(B, T, h * dh)\n"},
     MHA_CORE, INTERLEAVED_HINT, "failed"),
    ("multi_head_attention", {"    if mask is not None and mask.dim() == 3:\n": "    if False:\n"},
     "applies to every head", "insert the head axis", "error"),
    ("multi_head_attention", {MASKING: "        scores = scores.masked_fill(~mask, -1e9)\n"
                                       "    weights = torch.softmax(scores, dim=-1)\n"},
     "no allowed key", LARGE_NEGATIVE_HINT, "failed"),

    ("sinusoidal_positional_encoding", {ENCODING: ENCODING.replace("[torch.sin(angles), torch.cos(angles)]",
                                                                   "[torch.cos(angles), torch.sin(angles)]")},
     (PE_CORE, "rotation"), "swapped", "failed"),
    ("sinusoidal_positional_encoding", {"even = torch.arange(0, d_model, 2, dtype=torch.float64)":
                                        "even = torch.arange(d_model // 2, dtype=torch.float64)"},
     PE_CORE, "pair index", "failed"),
    ("sinusoidal_positional_encoding", {ENCODING: "    pe = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)\n"},
     PE_CORE, "first half", "failed"),
    ("sinusoidal_positional_encoding", {"torch.arange(max_len, dtype=torch.float64)":
                                        "torch.arange(1, max_len + 1, dtype=torch.float64)"},
     PE_CORE, "positions start at 1", "failed"),
    ("sinusoidal_positional_encoding", {".to(torch.float32)                # [L, d]": ""}, PE_CORE, None, "failed"),
    ("sinusoidal_positional_encoding", {"angles = position / 10000.0": "angles = position * 10000.0"},
     PE_CORE, "multiplied", "failed"),
    ("sinusoidal_positional_encoding", {ENCODING: ENCODING.replace("torch.cos(angles)", "torch.sin(angles)")},
     "distinct codes", "norm 1", "failed"),

    ("truncated_attention_mask", {"    return distance <= window\n": "    return distance < window\n"},
     ("|i − j| ≤ window", "window 0 keeps the diagonal"), "off by one", "failed"),
    ("truncated_attention_mask", {".abs()  # [T, T]": "  # [T, T]"}, "|i − j| ≤ window", "absolute value", "failed"),
    ("truncated_attention_mask", {"    return distance <= window\n": "    return (distance <= window) & (position.unsqueeze(1) >= position)\n"},
     "|i − j| ≤ window", "one-sided", "failed"),
    ("truncated_attention_mask", {"    return distance <= window\n": "    return distance > window\n"},
     "|i − j| ≤ window", "inverted", "failed"),
    ("truncated_attention_mask", {"    return distance <= window\n": "    return (distance <= window).int()\n"},
     "|i − j| ≤ window", None, "failed"),

    ("graph_attention_mask", {"    return (adjacency != 0) | self_loops  # [N, N]\n": "    return adjacency != 0\n"},
     ("adjacency[i, j] ≠ 0 or i = j", "without edges gives the identity"), "self loops", "failed"),
    ("graph_attention_mask", {"(adjacency != 0) | self_loops": "(adjacency > 0) | self_loops"},
     "adjacency[i, j] ≠ 0 or i = j", "negative edge weights", "failed"),
    ("graph_attention_mask", {"(adjacency != 0) | self_loops": "(adjacency.T != 0) | self_loops"},
     "adjacency[i, j] ≠ 0 or i = j", "transposed", "failed"),
    ("graph_attention_mask", {"(adjacency != 0) | self_loops": "((adjacency != 0) | self_loops).float()"},
     "adjacency[i, j] ≠ 0 or i = j", None, "failed"),
]


@pytest.mark.parametrize("function,replacements,check,hint,status", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint, status):
    result = grade_variant(worker, tmp_path, f"attention.{function}", replacements)
    for name in (check,) if isinstance(check, str) else check:
        assert_caught(result, name, hint, status=status)


def test_f_scaled_dot_product_attention_is_forbidden(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "attention.scaled_dot_product_attention", {
        "    return weights @ v, weights  # [..., Tq, dv], [..., Tq, Tk]\n":
            "    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"
            "    return out.nan_to_num(0.0), weights\n"})
    assert_caught(result, "does not call", message="torch.nn.functional.scaled_dot_product_attention")


@pytest.mark.parametrize("replacements,name", [
    ({"    out, _ = scaled_dot_product_attention(q, k, v, mask)  # [B, h, Tq, dh]\n":
      "    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n",
      "import torch\n": "import torch\nimport torch.nn.functional as F\n"},
     "torch.nn.functional.scaled_dot_product_attention"),
    ({"    q = split_heads(query @ w_q, num_heads)  # [B, h, Tq, dh]\n": """\
    layer = nn.MultiheadAttention(query.shape[-1], num_heads, bias=False, batch_first=True, dtype=query.dtype)
    with torch.no_grad():
        layer.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
        layer.out_proj.weight.copy_(w_o.T)
    if mask is not None and mask.dim() > 2:
        mask = (mask.unsqueeze(1) if mask.dim() == 3 else mask).expand(-1, num_heads, -1, -1).flatten(0, 1)
    blocked = None if mask is None else ~mask
    return layer(query, key, value, attn_mask=blocked, need_weights=False)[0]
    q = split_heads(query @ w_q, num_heads)  # [B, h, Tq, dh]
""", "import torch\n": "import torch\nfrom torch import nn\n"},
     "torch.nn.MultiheadAttention"),
])
def test_multi_head_attention_shortcuts_are_named(worker, tmp_path, replacements, name):
    result = grade_variant(worker, tmp_path, "attention.multi_head_attention", replacements)
    assert_caught(result, "does not call", message=name)


def test_a_mention_in_a_comment_or_string_is_not_flagged(worker, tmp_path):
    mention = ("    # unlike nn.MultiheadAttention or F.scaled_dot_product_attention, written by hand\n"
               "    note = 'torch.nn.functional.scaled_dot_product_attention is not used here'\n")
    for function, line in (("scaled_dot_product_attention", "    scores = attention_scores(q, k)  # [..., Tq, Tk]\n"),
                           ("multi_head_attention", "    q = split_heads(query @ w_q, num_heads)  # [B, h, Tq, dh]\n")):
        result = grade_variant(worker, tmp_path / function, f"attention.{function}", {line: mention + line})
        assert_full_marks(result)
