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
    ### BEGIN SOLUTION
    prefix = [bos_id]
    for _ in range(max_len):
        log_probs = step_fn([prefix])  # [1, V]
        token = int(torch.argmax(log_probs[0]))
        prefix.append(token)
        if token == eos_id:
            break
    return prefix[1:]
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    alive = [([bos_id], 0.0)]  # (prefix starting with bos_id, summed log-prob), best first
    finished = []              # (tokens without bos_id, summed log-prob)
    for step in range(1, max_len + 1):
        log_probs = step_fn([prefix for prefix, _ in alive]).double()  # [n, V]
        vocab_size = log_probs.shape[1]
        scores = torch.tensor([score for _, score in alive], dtype=torch.float64,
                              device=log_probs.device)
        candidates = (scores[:, None] + log_probs).flatten()  # [n·V], index = hypothesis·V + token
        # A stable sort keeps equal scores in (hypothesis, token) order: the tie rule.
        best = torch.sort(candidates, descending=True, stable=True).indices[:beam_width]
        alive_before, alive = alive, []
        for index in best.tolist():
            prefix = alive_before[index // vocab_size][0] + [index % vocab_size]
            score = float(candidates[index])
            if prefix[-1] == eos_id or step == max_len:
                finished.append((prefix[1:], score))
            else:
                alive.append((prefix, score))
        if not alive:
            break
    ranked = [(tokens, score / len(tokens) ** length_penalty) for tokens, score in finished]
    ranked.sort(key=lambda hypothesis: hypothesis[1], reverse=True)
    return ranked[:beam_width]
    ### END SOLUTION
