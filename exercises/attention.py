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
    # YOUR CODE HERE
    raise NotImplementedError


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
    # YOUR CODE HERE
    raise NotImplementedError


def split_heads(x, num_heads):
    """Cut the features into ``num_heads`` contiguous blocks, one per head.

    x: [B, T, D] → [B, h, T, D/h]; head i holds features ``i·D/h … (i+1)·D/h − 1``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def merge_heads(x):
    """Concatenate the heads again: the inverse of ``split_heads``.

    x: [B, h, T, dh] → [B, T, h·dh].
    """
    # YOUR CODE HERE
    raise NotImplementedError


def multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads, mask=None):
    """Multi-head attention without biases.

    query: [B, Tq, D], key and value: [B, Tk, D], w_q, w_k, w_v, w_o: [D, D],
    mask: [Tq, Tk], [B, Tq, Tk] (the same for every head) or [B, 1 or h, Tq, Tk],
    True = may attend → [B, Tq, D].

    Project (``query @ w_q``, ``key @ w_k``, ``value @ w_v``), split each into
    ``num_heads`` heads, run scaled dot-product attention in every head, merge the
    heads and project the result with ``w_o``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sinusoidal_positional_encoding(max_len, d_model):
    """The sinusoidal positional encoding of "Attention Is All You Need".

    → a float32 CPU tensor [max_len, d_model] (d_model even) with
    ``PE[p, 2i] = sin(p / 10000^(2i/d_model))`` and
    ``PE[p, 2i+1] = cos(p / 10000^(2i/d_model))``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def truncated_attention_mask(seq_len, window):
    """Truncated (local) self-attention: each position sees its neighbours only.

    → bool [T, T], True where ``|i − j| ≤ window``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def graph_attention_mask(adjacency):
    """Self-attention on a graph: a node attends to its neighbours and to itself.

    adjacency: [N, N] (any dtype; nonzero = edge) → bool [N, N], True where
    ``adjacency[i, j] ≠ 0`` or ``i = j``.
    """
    # YOUR CODE HERE
    raise NotImplementedError
