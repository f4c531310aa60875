"""Lecture 5: Transformer.

The encoder is a stack of blocks: self-attention, then a position-wise
feed-forward network, each followed by "Add & Norm" (a residual connection, then
layer normalization) — the post-norm layout of the lecture and of "Attention Is
All You Need". The decoder block adds two things: its self-attention is *masked*
(position i may only look at positions j ≤ i, so it cannot peek at the tokens it
has to predict), and a cross-attention layer takes its queries from the decoder
and its keys and values from the encoder's output (``memory``). During training
the decoder reads the target sentence shifted right by one (teacher forcing).

PyTorch on float32/float64 tensors; outputs keep the input's dtype and device,
everything stays differentiable, and boolean masks mean True = may attend.
Attention projections have no bias; the feed-forward layers do.
"""

import torch

from attention import multi_head_attention


def causal_mask(seq_len):
    """The decoder's self-attention mask: position i sees positions 0 … i only.

    → a bool CPU tensor [T, T], True where ``j ≤ i`` (row i = query, column j = key).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def layer_norm(x, gamma, beta, eps=1e-5):
    """Layer normalization over the last dimension (as ``F.layer_norm``).

    x: [..., D], gamma: [D], beta: [D] → [..., D] with, for every vector x of D features,
    ``y = (x − mean) / √(var + eps) · gamma + beta``, where ``mean`` and ``var`` are the
    mean and the *biased* variance (divide by D) of the D features.
    Do not call ``F.layer_norm`` or ``nn.LayerNorm``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def feed_forward(x, w1, b1, w2, b2):
    """The position-wise feed-forward network ``relu(x @ w1 + b1) @ w2 + b2``.

    x: [..., D], w1: [D, H], b1: [H], w2: [H, D_out], b2: [D_out] → [..., D_out].
    """
    # YOUR CODE HERE
    raise NotImplementedError


def encoder_block(x, params, num_heads, mask=None):
    """One post-norm Transformer encoder block.

    x: [B, T, D]; mask: [T, T], [B, T, T] or [B, 1 or h, T, T], True = may attend
    (None: no mask) → [B, T, D]:

        h   = LN1(x + MHA(x, x, x, mask))
        out = LN2(h + FFN(h))

    with ``MHA`` = ``multi_head_attention`` (weights ``w_q w_k w_v w_o``, ``num_heads``
    heads), ``FFN`` = ``feed_forward`` (``w1 b1 w2 b2``), ``LN1`` = ``layer_norm`` with
    ``ln1_gamma ln1_beta`` and ``LN2`` with ``ln2_gamma ln2_beta``, all from ``params``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def decoder_block(y, memory, params, num_heads, memory_mask=None):
    """One post-norm Transformer decoder block.

    y: [B, T, D] (the decoder's input), memory: [B, S, D] (the encoder's output),
    memory_mask: [T, S], [B, T, S] or [B, 1 or h, T, S], True = may attend
    (None: every memory position) → [B, T, D]:

        h1  = LN1(y + MHA_self(y, y, y, causal_mask(T)))
        h2  = LN2(h1 + MHA_cross(h1, memory, memory, memory_mask))
        out = LN3(h2 + FFN(h2))

    The self-attention always uses the causal mask (built on y's device); the cross
    attention takes its queries from the decoder and its keys and values from
    ``memory``. Weights: ``self_w_q … self_w_o``, ``cross_w_q … cross_w_o``,
    ``w1 b1 w2 b2`` and ``ln{1,2,3}_gamma``/``ln{1,2,3}_beta`` from ``params``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def shift_right(targets, bos_id):
    """Teacher forcing: the decoder's input is the target shifted right by one.

    targets: [B, T] token ids → [B, T] of the same dtype and device: ``bos_id`` at
    position 0, then ``targets[:, :-1]`` (the last target is dropped).
    """
    # YOUR CODE HERE
    raise NotImplementedError
