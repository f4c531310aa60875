"""Lecture 4: self-attention.

Every query vector looks at every key vector: the relevance of key j to query i is
the scaled dot product ``q_i·k_j / √d``; a softmax over the keys turns the scores
into weights, and the output is the weighted sum of the value vectors.
Multi-head attention does this h times on h slices of learned projections and
concatenates the results. Self-attention has no notion of order by itself, so a
positional encoding is added to the inputs; masks restrict which keys a query may
see (a local window, the edges of a graph).

PyTorch on float32/float64 tensors; outputs keep the input's dtype and device,
everything stays differentiable, and boolean masks mean True = may attend.
"""

import math

import torch


def attention_scores(q, k):
    """Scaled dot-product scores, before the softmax.

    q: [..., Tq, d], k: [..., Tk, d] → [..., Tq, Tk] with
    ``scores[..., i, j] = q_i · k_j / √d``.
    """
    ### BEGIN SOLUTION
    d = q.shape[-1]
    return q @ k.transpose(-2, -1) / math.sqrt(d)  # [..., Tq, Tk]
    ### END SOLUTION


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention ``softmax(q·kᵀ/√d) · v``, restricted to the keys the mask allows.

    q: [..., Tq, d], k: [..., Tk, d], v: [..., Tk, dv], mask: bool, broadcastable to
    [..., Tq, Tk], True = may attend (None: every key is allowed)
    → (out [..., Tq, dv], weights [..., Tq, Tk]).

    The weights of a query are the softmax of its scores over the allowed keys
    (exactly 0 on masked keys). A query with no allowed key at all gets all-zero
    weights and a zero output; it must never produce NaN, neither in the outputs
    nor in the gradients (such a query passes zero gradient to q, k and v).
    """
    ### BEGIN SOLUTION
    scores = attention_scores(q, k)  # [..., Tq, Tk]
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
        # A row with no allowed key would be softmax(all −inf) = NaN: give it finite
        # scores here and zero weights below (torch.where passes no gradient through).
        has_key = mask.any(dim=-1, keepdim=True)  # [..., Tq, 1]
        scores = torch.where(has_key, scores, 0.0)
    weights = torch.softmax(scores, dim=-1)  # [..., Tq, Tk]
    if mask is not None:
        weights = torch.where(has_key, weights, 0.0)
    return weights @ v, weights  # [..., Tq, dv], [..., Tq, Tk]
    ### END SOLUTION


def split_heads(x, num_heads):
    """Cut the features into ``num_heads`` contiguous blocks, one per head.

    x: [B, T, D] → [B, h, T, D/h]; head i holds features ``i·D/h … (i+1)·D/h − 1``.
    """
    ### BEGIN SOLUTION
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(1, 2)  # [B, h, T, dh]
    ### END SOLUTION


def merge_heads(x):
    """Concatenate the heads again: the inverse of ``split_heads``.

    x: [B, h, T, dh] → [B, T, h·dh].
    """
    ### BEGIN SOLUTION
    B, h, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, h * dh)  # [B, T, D]
    ### END SOLUTION


def multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=None):
    """Multi-head attention without biases.

    query: [B, Tq, D], key and value: [B, Tk, D], w_q, w_k, w_v, w_o: [D, D],
    mask: [Tq, Tk], [B, Tq, Tk] (the same for every head) or [B, 1 or h, Tq, Tk],
    True = may attend → [B, Tq, D].

    Project (``query @ w_q``, ``key @ w_k``, ``value @ w_v``), split each into
    ``num_heads`` heads, run scaled dot-product attention in every head, merge the
    heads and project the result with ``w_o``.
    """
    ### BEGIN SOLUTION
    q = split_heads(query @ w_q, num_heads)  # [B, h, Tq, dh]
    k = split_heads(key @ w_k, num_heads)    # [B, h, Tk, dh]
    v = split_heads(value @ w_v, num_heads)  # [B, h, Tk, dh]
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(1)  # [B, 1, Tq, Tk]: the same for every head
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # [B, h, Tq, dh]
    return merge_heads(out) @ w_o  # [B, Tq, D]
    ### END SOLUTION


def sinusoidal_positional_encoding(max_len, d_model):
    """The sinusoidal positional encoding of "Attention Is All You Need".

    → a float32 CPU tensor [max_len, d_model] (d_model even) with
    ``PE[p, 2i] = sin(p / 10000^(2i/d_model))`` and
    ``PE[p, 2i+1] = cos(p / 10000^(2i/d_model))``.
    """
    ### BEGIN SOLUTION
    # float64 angles: p · frequency loses ~p·1e-7 in float32.
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # [L, 1]
    even = torch.arange(0, d_model, 2, dtype=torch.float64)              # [d/2]: the 2i
    angles = position / 10000.0 ** (even / d_model)                      # [L, d/2]
    pe = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)     # [L, d/2, 2]
    return pe.reshape(max_len, d_model).to(torch.float32)                # [L, d]
    ### END SOLUTION


def truncated_attention_mask(seq_len, window):
    """Truncated (local) self-attention: each position sees its neighbours only.

    → bool [T, T], True where ``|i − j| ≤ window``.
    """
    ### BEGIN SOLUTION
    position = torch.arange(seq_len)
    distance = (position.unsqueeze(1) - position.unsqueeze(0)).abs()  # [T, T]
    return distance <= window
    ### END SOLUTION


def graph_attention_mask(adjacency):
    """Self-attention on a graph: a node attends to its neighbours and to itself.

    adjacency: [N, N] (any dtype; nonzero = edge) → bool [N, N], True where
    ``adjacency[i, j] ≠ 0`` or ``i = j``.
    """
    ### BEGIN SOLUTION
    n = adjacency.shape[0]
    self_loops = torch.eye(n, dtype=torch.bool, device=adjacency.device)
    return (adjacency != 0) | self_loops  # [N, N]
    ### END SOLUTION
