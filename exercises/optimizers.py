"""Lecture 2: critical points, batch, momentum and adaptive learning rate.

When the gradient is zero, the Hessian ``H`` tells what kind of critical point we
are at: its eigenvalues ``λ`` are the curvatures along its eigenvectors ``u``. At a
saddle point, moving along ``u`` of a negative ``λ`` lowers the loss.

Then the tricks that make gradient descent work in practice: shuffled mini-batches,
momentum, and per-parameter learning rates (Adagrad, RMSProp, Adam), plus the
Transformer's warm-up learning-rate schedule.

Everything here is NumPy on float64 arrays. The update rules are *functional*: they
return new arrays (the parameters and the optimizer's state) and never modify their
inputs, so the caller keeps the state between steps.
"""

import numpy as np

#: Eigenvalues within this distance of 0 count as zero in ``escape_direction``.
ZERO_EIGENVALUE_TOL = 1e-8


def classify_critical_point(hessian, tol=1e-8):
    """Name the critical point whose Hessian is ``hessian`` (symmetric, [P, P]).

    Returns "local minima" when every eigenvalue is > tol, "local maxima" when every
    eigenvalue is < −tol, "saddle point" when some are > tol and some < −tol, and
    "unknown" otherwise (an eigenvalue within tol of 0 leaves the question open).
    Hint: ``np.linalg.eigvalsh`` gives the eigenvalues of a symmetric matrix.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def escape_direction(hessian):
    """The direction that leaves a saddle point fastest: a unit eigenvector of ``hessian``
    (symmetric, [P, P]) for its most negative eigenvalue, as a [P] array (either sign).

    Returns None when no eigenvalue is negative. A zero eigenvalue is computed as a tiny
    number of either sign (about 1e-16): count eigenvalues above −1e-8 as not negative.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def minibatches(num_samples, batch_size, rng, shuffle=True):
    """Split one epoch of ``num_samples`` samples into mini-batches of indices.

    Returns a list of integer arrays ``order[i:i + batch_size]`` for
    ``i = 0, batch_size, 2·batch_size, …`` where ``order = rng.permutation(num_samples)``
    when ``shuffle`` is true and ``np.arange(num_samples)`` otherwise. The last batch is
    shorter when ``batch_size`` does not divide ``num_samples`` (it is kept, not dropped).
    rng: an ``np.random.Generator``; draw from it, never from ``np.random.*``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sgd_momentum_step(theta, grad, movement, lr, momentum):
    """One step of gradient descent with momentum, in the lecture's form.

    m ← λ·m − η·g,  θ ← θ + m   (η = lr, λ = momentum, g = grad, m = movement).
    theta, grad, movement: [P] → (new theta [P], new movement [P]).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def adagrad_step(theta, grad, sum_sq, lr, eps=1e-10):
    """One Adagrad step: the learning rate of each parameter is divided by the root of
    the sum of its squared gradients so far (the current one included).

    s ← s + g²,  θ ← θ − lr·g / (√s + eps)   (as ``torch.optim.Adagrad``).
    theta, grad, sum_sq: [P] → (new theta [P], new sum_sq [P]).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def rmsprop_step(theta, grad, sq_avg, lr, alpha=0.99, eps=1e-8):
    """One RMSProp step: like Adagrad, but with an exponential moving average of g².

    v ← α·v + (1 − α)·g²,  θ ← θ − lr·g / (√v + eps)   (as ``torch.optim.RMSprop``).
    theta, grad, sq_avg: [P] → (new theta [P], new sq_avg [P]).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def adam_step(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step (momentum + RMSProp, with bias correction); t is the step number, 1-based.

    m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²,
    m̂ = m / (1 − β1^t),      v̂ = v / (1 − β2^t),
    θ ← θ − lr·m̂ / (√v̂ + eps).
    theta, grad, m, v: [P] → (new theta [P], new m [P], new v [P]); the returned m and v
    are the uncorrected averages (the state for the next step).
    """
    # YOUR CODE HERE
    raise NotImplementedError


def warmup_schedule(step, d_model, warmup_steps):
    """The Transformer's learning rate at ``step`` (1-based), a Python float:

    d_model^(−0.5) · min(step^(−0.5), step · warmup_steps^(−1.5)).

    It grows linearly for ``warmup_steps`` steps, then decays like 1/√step.
    """
    # YOUR CODE HERE
    raise NotImplementedError
