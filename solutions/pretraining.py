"""Lecture 7: self-supervised learning, BERT and GPT.

BERT learns by filling in the blanks: some tokens are hidden (masked language
model), and it guesses whether two sentences follow each other (next sentence
prediction). GPT learns by predicting the next token, and writes text by
sampling one token at a time from its own predictions.

Everything here is PyTorch (or plain Python for the sentence pairs). Randomness
comes only from the ``generator``/``rng`` argument, so a run can be reproduced.
"""

import torch


def mlm_mask(tokens, special_mask, vocab_size, mask_id, mask_prob=0.15, generator=None):
    """BERT's masking of a batch of token ids for the masked language model.

    tokens: integer tensor of any shape (e.g. [B, T]); special_mask: bool tensor of the
    same shape, True at [CLS]/[SEP]/padding positions, which are never selected.

    1. Select every non-special position independently with probability ``mask_prob``.
    2. ``labels`` = the original token at selected positions, ``-100`` elsewhere
       (the value ``F.cross_entropy`` ignores).
    3. Of the selected positions, 80% become ``mask_id``, 10% a token drawn uniformly
       from ``range(vocab_size)`` (it may equal the original or ``mask_id``), and 10%
       keep their token.

    Returns ``(inputs, labels)``: new tensors with the dtype and device of ``tokens``
    (``tokens`` itself is left unchanged). Draw every random number with ``generator``
    (a ``torch.Generator``; ``None`` means torch's default generator).
    """
    ### BEGIN SOLUTION
    draw_on = generator.device if generator is not None else torch.device("cpu")
    select_draw = torch.rand(tokens.shape, generator=generator, device=draw_on).to(tokens.device)
    action_draw = torch.rand(tokens.shape, generator=generator, device=draw_on).to(tokens.device)
    random_tokens = torch.randint(vocab_size, tokens.shape, generator=generator, device=draw_on)
    random_tokens = random_tokens.to(device=tokens.device, dtype=tokens.dtype)

    selected = (select_draw < mask_prob) & ~special_mask
    labels = torch.where(selected, tokens, torch.full_like(tokens, -100))

    to_mask = selected & (action_draw < 0.8)                              # 80%
    to_random = selected & (action_draw >= 0.8) & (action_draw < 0.9)     # 10%
    inputs = torch.where(to_mask, torch.full_like(tokens, mask_id), tokens)
    inputs = torch.where(to_random, random_tokens, inputs)                # the last 10% keep their token
    return inputs, labels
    ### END SOLUTION


def next_sentence_pairs(documents, rng):
    """Training pairs for BERT's next sentence prediction.

    documents: a list of at least two documents, each a non-empty list of sentences;
    rng: a ``random.Random``.

    For every pair of consecutive sentences ``(s_i, s_{i+1})`` of every document, in
    document-then-sentence order: with probability 1/2 emit ``(s_i, s_{i+1}, 1)``,
    otherwise ``(s_i, s, 0)`` where ``s`` is a sentence of another document, drawn with
    ``rng`` so that every sentence of every other document can be picked (e.g. a uniform
    other document, then a uniform sentence of it). Returns the list of triples.
    """
    ### BEGIN SOLUTION
    pairs = []
    for d, document in enumerate(documents):
        for first, second in zip(document, document[1:]):
            if rng.random() < 0.5:
                pairs.append((first, second, 1))
            else:
                other = rng.randrange(len(documents) - 1)
                other += other >= d                          # skip the current document
                pairs.append((first, rng.choice(documents[other]), 0))
    return pairs
    ### END SOLUTION


def sample_next_token(logits, temperature=1.0, top_k=None, generator=None):
    """Draw the next token id from ``softmax(logits / temperature)``.

    logits: [V] floating tensor. With ``top_k`` given, only the entries that
    ``torch.topk(logits, top_k)`` selects may be drawn (the others get probability 0;
    ``top_k >= V`` restricts nothing). ``temperature == 0`` means greedy: the index of
    the first maximum. Draw with ``generator`` (a ``torch.Generator`` or ``None``).
    Returns a Python ``int``.
    """
    ### BEGIN SOLUTION
    if temperature == 0:
        return int(torch.argmax(logits))
    scaled = logits / temperature  # [V]
    if top_k is not None and top_k < logits.shape[-1]:
        keep = torch.zeros_like(logits, dtype=torch.bool)
        keep[torch.topk(logits, top_k).indices] = True
        scaled = scaled.masked_fill(~keep, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)  # [V]
    draw_on = generator.device if generator is not None else probs.device
    return int(torch.multinomial(probs.to(draw_on), 1, generator=generator))
    ### END SOLUTION


def generate(next_logits_fn, prompt, max_new_tokens, eos_id=None, temperature=1.0, top_k=None,
             generator=None):
    """GPT-style autoregressive generation.

    next_logits_fn(tokens) takes the list of tokens so far and returns [V] logits for
    the next one; prompt: a list of ints. Repeatedly draw a token with
    ``sample_next_token(logits, temperature, top_k, generator)`` and append it, until
    ``eos_id`` has been appended or ``max_new_tokens`` new tokens were made.
    Returns ``prompt`` + the new tokens as a new list of Python ints.
    """
    ### BEGIN SOLUTION
    tokens = [int(t) for t in prompt]
    for _ in range(max_new_tokens):
        token = sample_next_token(next_logits_fn(list(tokens)), temperature, top_k, generator)
        tokens.append(token)
        if token == eos_id:
            break
    return tokens
    ### END SOLUTION
