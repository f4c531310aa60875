"""Inputs for the Lecture 2 optimization exercises: Hessians with chosen eigenvalues,
epochs to split into mini-batches, optimizer states, and small least-squares problems."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from lhy_grader.inputs.strategies import arrays, floats, gaussian, seeds, sizes

#: Non-zero eigenvalues of graded Hessians have magnitudes in [1e-6, 10].
SMALLEST_EIGENVALUE, LARGEST_EIGENVALUE = 1e-6, 10.0


def random_orthogonal(seed: int, size: int) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(gaussian(seed, (size, size)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def hessian_with_eigenvalues(eigenvalues: np.ndarray, seed: int) -> np.ndarray:
    """``Q·diag(λ)·Qᵀ`` for a random orthogonal Q, exactly symmetric."""
    q = random_orthogonal(seed, len(eigenvalues))
    h = (q * eigenvalues) @ q.T
    return (h + h.T) / 2


def magnitudes(lo: float = SMALLEST_EIGENVALUE, hi: float = LARGEST_EIGENVALUE) -> st.SearchStrategy[float]:
    """Log-uniform magnitudes in [lo, hi] (shrinks towards 1)."""
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: float(10.0 ** e))


def eigenvalue(sign: int) -> st.SearchStrategy[float]:
    return st.just(0.0) if sign == 0 else magnitudes().map(lambda m: sign * m)


@st.composite
def eigenvalue_patterns(draw) -> tuple[str, np.ndarray]:
    """(kind, eigenvalues) for a random kind of critical point, each eigenvalue 0 or ≥ 1e-6 away."""
    kind = draw(st.sampled_from(["local minima", "local maxima", "saddle point", "unknown"]))
    p = draw(sizes(1, 5) if kind != "saddle point" else sizes(2, 5))
    if kind == "local minima":
        signs = [1] * p
    elif kind == "local maxima":
        signs = [-1] * p
    elif kind == "saddle point":
        signs = [1, -1] + draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=p - 2, max_size=p - 2))
    else:  # a zero eigenvalue and no two opposite signs
        side = draw(st.sampled_from([-1, 1]))
        signs = [0] + draw(st.lists(st.sampled_from([0, side]), min_size=p - 1, max_size=p - 1))
    values = [draw(eigenvalue(s)) for s in signs]
    return kind, np.array(draw(st.permutations(values)))


@st.composite
def hessians(draw) -> dict:
    """A symmetric Hessian with chosen eigenvalues and the kind of point they make
    (``eigenvalues`` and ``kind`` are shown with a failing input, not passed)."""
    kind, values = draw(eigenvalue_patterns())
    return {"hessian": hessian_with_eigenvalues(values, draw(seeds())), "eigenvalues": np.sort(values), "kind": kind}


@st.composite
def hessians_with_tol(draw) -> dict:
    """A Hessian whose eigenvalues are either well inside (−tol, tol) or well outside it."""
    tol = draw(magnitudes(1e-3, 1.0))
    p = draw(sizes(2, 5))
    values = []
    for _ in range(p):
        sign = draw(st.sampled_from([-1, 1]))
        inside = draw(st.booleans())
        scale = draw(st.floats(0.05, 0.5)) if inside else draw(st.floats(2.0, 20.0))
        values.append(sign * scale * tol)
    return {"hessian": hessian_with_eigenvalues(np.array(values), draw(seeds())),
            "tol": tol, "eigenvalues": np.sort(values)}


@st.composite
def saddle_hessians(draw) -> dict:
    """A Hessian whose most negative eigenvalue is unique (a gap of at least half its size)."""
    p = draw(sizes(1, 5))
    lowest = -draw(magnitudes())
    others = []
    for _ in range(p - 1):
        choice = draw(st.sampled_from(["zero", "positive", "negative"]))
        if choice == "negative" and lowest <= -2 * SMALLEST_EIGENVALUE:
            others.append(-draw(st.floats(SMALLEST_EIGENVALUE, -lowest / 2)))
        else:
            others.append(0.0 if choice == "zero" else draw(magnitudes()))
    values = np.array([lowest, *others])
    return {"hessian": hessian_with_eigenvalues(values, draw(seeds())), "eigenvalues": np.sort(values)}


@st.composite
def psd_hessians(draw) -> dict:
    """A positive semi-definite Hessian, often with zero eigenvalues: it has no negative one."""
    p = draw(sizes(1, 5))
    values = [draw(eigenvalue(sign)) for sign in draw(st.lists(st.sampled_from([0, 1]), min_size=p, max_size=p))]
    return {"hessian": hessian_with_eigenvalues(np.array(values), draw(seeds())), "eigenvalues": np.sort(values)}


@st.composite
def epochs(draw, max_samples: int = 30) -> dict:
    """num_samples, batch_size (possibly larger than num_samples) and a generator seed."""
    n = draw(sizes(1, max_samples))
    return {"num_samples": n, "batch_size": draw(sizes(1, n + 3)), "seed": draw(seeds())}


# -- optimizer steps ----------------------------------------------------------
def parameters(p: int, scale: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    return arrays(p, -scale, scale)


def squares(p: int, lo: float = 0.0, hi: float = 5.0) -> st.SearchStrategy[np.ndarray]:
    """Non-negative optimizer state (running sums or averages of g²)."""
    return arrays(p, lo, hi)


@st.composite
def sgd_momentum_inputs(draw) -> dict:
    p = draw(sizes(1, 5))
    return {"theta": draw(parameters(p)), "grad": draw(parameters(p)), "movement": draw(parameters(p, 1.0)),
            "lr": draw(floats(1e-3, 0.5)), "momentum": draw(floats(0.05, 0.99))}


@st.composite
def adagrad_inputs(draw) -> dict:
    p = draw(sizes(1, 5))
    return {"theta": draw(parameters(p)), "grad": draw(parameters(p)), "sum_sq": draw(squares(p)),
            "lr": draw(floats(1e-3, 1.0))}


@st.composite
def rmsprop_inputs(draw) -> dict:
    p = draw(sizes(1, 5))
    return {"theta": draw(parameters(p)), "grad": draw(parameters(p)), "sq_avg": draw(squares(p)),
            "lr": draw(floats(1e-3, 0.5)), "alpha": draw(floats(0.5, 0.999))}


@st.composite
def adam_inputs(draw) -> dict:
    p = draw(sizes(1, 5))
    return {"theta": draw(parameters(p)), "grad": draw(parameters(p)), "m": draw(parameters(p, 1.0)),
            "v": draw(squares(p, lo=0.1)), "t": draw(st.integers(1, 60)), "lr": draw(floats(1e-3, 0.5)),
            "betas": (draw(floats(0.5, 0.95)), draw(floats(0.9, 0.9999)))}


#: Ranges of the hyperparameters in the many-step checks (a pair of ranges draws a pair).
SGD_MOMENTUM = {"lr": (0.01, 0.5), "momentum": (0.05, 0.95)}
ADAGRAD = {"lr": (0.01, 1.0)}
RMSPROP = {"lr": (1e-3, 0.1), "alpha": (0.5, 0.999)}
ADAM = {"lr": (1e-3, 0.1), "betas": ((0.5, 0.95), (0.9, 0.9999))}


def draw_hyperparameters(rng: np.random.Generator, ranges: dict) -> dict:
    """Uniform draws from ``ranges`` (name → (lo, hi), or a tuple of such pairs)."""
    def draw(r):
        return tuple(draw(pair) for pair in r) if isinstance(r[0], tuple) else float(rng.uniform(*r))
    return {name: draw(r) for name, r in ranges.items()}


def draw_least_squares_problem(rng: np.random.Generator) -> dict:
    """A random ``least_squares_problem`` with 1 to 4 parameters and up to 8 samples."""
    p = int(rng.integers(1, 5))
    return least_squares_problem(int(rng.integers(2**31)), int(rng.integers(p + 1, 9)), p)


def least_squares_problem(seed: int, n: int, p: int) -> dict:
    """A least-squares problem L(θ) = mean((xθ − y)²), x [N, P], scaled so that its largest
    curvature is 1 (every lr used in the checks is stable), and a start θ0 [P]."""
    x, y = gaussian(seed, (n, p)), gaussian(seed + 1, (n,))
    x /= np.sqrt(np.linalg.eigvalsh(2.0 / n * x.T @ x)[-1])
    return {"x": x, "y": y, "theta0": gaussian(seed + 2, (p,), 2.0)}
