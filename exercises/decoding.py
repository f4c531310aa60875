"""Lecture 5: Transformer — decoding.

An autoregressive decoder writes one token at a time: it starts from ``bos_id``,
looks at everything written so far, and picks the next token until it writes
``eos_id`` or runs out of length. Here the whole model hides behind ``step_fn``:

    step_fn(prefixes) → [len(prefixes), V] tensor of next-token log-probabilities,

where ``prefixes`` is a list of token lists, each starting with ``bos_id``.

- Greedy decoding takes the most likely token at every step.
- Beam search keeps the ``beam_width`` most likely partial sequences instead of one,
  so a token that looks bad now can still win later.

Returned token lists hold Python ints, exclude ``bos_id`` and include ``eos_id``
when it was produced; scores are Python floats.
"""

import torch


def greedy_decode(step_fn, bos_id, eos_id, max_len):
    """Greedy decoding: append the argmax token until ``eos_id`` or ``max_len`` new tokens.

    step_fn: list of prefixes → [n, V] log-probs; call it with a one-prefix list
    ``[prefix]`` once per new token. Ties go to the lowest token id (``torch.argmax``).
    → list of at most ``max_len`` Python ints: the new tokens (no ``bos_id``), ending
    with ``eos_id`` if it was produced.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def beam_search(step_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
    """Beam search over the log-probabilities of ``step_fn``.

    Start with one alive hypothesis ``[bos_id]`` of score 0. At each of at most
    ``max_len`` steps:

    1. call ``step_fn`` ONCE with the prefixes of all alive hypotheses → [n, V];
    2. extend every alive hypothesis by every token: candidate score = hypothesis
       score + log-prob of the token (the summed log-probability);
    3. keep the ``beam_width`` best candidates by summed log-probability; ties go to
       the candidate of the earlier hypothesis (in the alive list), then to the
       lower token id;
    4. a kept candidate ending in ``eos_id`` is finished (it is never extended again),
       and at step ``max_len`` every kept candidate is finished; the others stay alive
       (best first); stop when none is alive.

    There can be more than ``beam_width`` finished hypotheses. Rank all of them by
    ``summed log-prob / len(tokens) ** length_penalty`` (``tokens`` without
    ``bos_id``) and return the ``beam_width`` best, best first, as a list of
    ``(tokens, score)`` pairs: tokens a list of Python ints, score that length-penalised
    Python float.
    """
    # YOUR CODE HERE
    raise NotImplementedError
