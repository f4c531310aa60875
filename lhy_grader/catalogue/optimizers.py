"""Checks for optimizers.py (Lecture 2: critical points, batch, momentum, adaptive learning rate).

The update rules are graded twice: one step against the reference on random states
(with hints naming the classic mistakes), and 50 steps against ``torch.optim`` in
float64, both driven by the same gradients of a small least-squares problem (the
gradients are recorded along torch's own trajectory, so rounding is never amplified).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import (CheckFailed, expect_array, expect_close, expect_equal, expect_float, show,
                                show_inputs)
from lhy_grader.compare.reference import reference
from lhy_grader.inputs import optimizers as inputs
from lhy_grader.worker.codec import RngSpec

ref = reference("optimizers")

# ---------------------------------------------------------------------------
# Critical points
KINDS = ("local minima", "local maxima", "saddle point", "unknown")
classify_critical_point = Exercise("optimizers", "classify_critical_point", points=2, arg_names=("hessian", "tol"))


def _classify(eigenvalues: np.ndarray, tol: float, *, semidefinite: bool = False, swapped: bool = False) -> str:
    """The classification from given eigenvalues, or a classic mistake of it."""
    positive, negative = eigenvalues > tol, eigenvalues < -tol
    if semidefinite:  # the mistake: "no eigenvalue of the other sign" taken as enough
        is_minimum, is_maximum = not negative.any(), not positive.any()
    else:
        is_minimum, is_maximum = positive.all(), negative.all()
    minimum, maximum = ("local maxima", "local minima") if swapped else ("local minima", "local maxima")
    if is_minimum:
        return minimum
    if is_maximum:
        return maximum
    return "saddle point" if positive.any() and negative.any() else "unknown"


def _expect_kind(got: Any) -> str:
    if isinstance(got, str) and got in KINDS:
        return got
    hint = None
    if isinstance(got, str):
        hint = "use the lecture's names exactly: " + ", ".join(f'"{k}"' for k in KINDS)
    raise CheckFailed(f"returned {show(got)}, expected one of " + ", ".join(f'"{k}"' for k in KINDS), hint)


def _classification_mistakes(hessian: np.ndarray, tol: float) -> dict[str, Callable[[], str]]:
    eigenvalues = np.linalg.eigvalsh(hessian)
    return {
        "minima and maxima are swapped: positive curvature in every direction is a local minimum":
            lambda: _classify(eigenvalues, tol, swapped=True),
        "an eigenvalue within tol of 0 leaves the point \"unknown\": it does not count as positive or negative":
            lambda: _classify(eigenvalues, tol, semidefinite=True),
        "tol is ignored: an eigenvalue counts as positive only when it is > tol (and negative when < −tol)":
            lambda: _classify(eigenvalues, 0.0),
        "the eigenvalues of H decide, not its diagonal entries": lambda: _classify(np.diag(hessian), tol),
    }


@classify_critical_point.property("names the point from the Hessian's eigenvalues", inputs.hessians())
def _(trial, ex):
    got = _expect_kind(trial.call(ex["hessian"]))
    expect_equal(got, ex["kind"], mistakes=_classification_mistakes(ex["hessian"], 1e-8))


@classify_critical_point.property("respects tol", inputs.hessians_with_tol())
def _(trial, ex):
    got = _expect_kind(trial.call(ex["hessian"], tol=ex["tol"]))
    expect_equal(got, ref.classify_critical_point(ex["hessian"], ex["tol"]),
                 mistakes=_classification_mistakes(ex["hessian"], ex["tol"]))


def lecture_hessian(w1: float, w2: float) -> np.ndarray:
    """The exact Hessian of the lecture's loss L = (1 − w1·w2)², by torch autograd."""
    import torch
    point = torch.tensor([w1, w2], dtype=torch.float64)
    return torch.autograd.functional.hessian(lambda w: (1 - w[0] * w[1]) ** 2, point).numpy()


@classify_critical_point.check("the lecture's loss (1 − w1·w2)²: a saddle at the origin, a flat valley at w1·w2 = 1")
def _(trial):
    origin = lecture_hessian(0.0, 0.0)  # [[0, −2], [−2, 0]]: eigenvalues ±2
    expect_equal(_expect_kind(trial.call(origin)), "saddle point", what=f"the point with Hessian {show(origin)}",
                 mistakes=_classification_mistakes(origin, 1e-8))
    valley = lecture_hessian(2.0, 0.5)  # [[0.5, 2], [2, 8]]: eigenvalues 0 and 8.5
    expect_equal(_expect_kind(trial.call(valley)), "unknown", what=f"the point with Hessian {show(valley)}",
                 mistakes=_classification_mistakes(valley, 1e-8))


# ---------------------------------------------------------------------------
escape_direction = Exercise("optimizers", "escape_direction", points=3, arg_names=("hessian",))


def _aligned(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``got`` with its sign chosen to agree with ``expected`` (an eigenvector's sign is free)."""
    return -got if float(got @ expected) < 0 else got


def _expect_unit_direction(got: Any, eigenvalues: np.ndarray) -> np.ndarray:
    lowest = float(np.min(eigenvalues))
    if got is None:
        raise CheckFailed(f"returned None, but the Hessian has the negative eigenvalue {lowest:.6g}",
                          "the tolerance is too large: only eigenvalues ≥ −1e-8 count as not negative"
                          if lowest > -1e-3 else "np.linalg.eig does not sort its eigenvalues: find the smallest")
    got = expect_array(got, (len(eigenvalues),), what="the direction")
    norm = float(np.linalg.norm(got))
    if not abs(norm - 1.0) < 1e-6:
        raise CheckFailed(f"the direction has norm {norm:.6g}, expected a unit vector",
                          "return the eigenvector itself (unit length), not scaled by its eigenvalue")
    return got


def _expect_direction(got: np.ndarray, expected: np.ndarray, hessian: np.ndarray) -> None:
    """``got`` equals ``expected`` up to sign; the mistakes are compared with the same sign choice."""
    got = _aligned(got, expected)
    vectors = np.linalg.eigh(hessian)[1]
    expect_close(got, expected, rtol=0, atol=1e-6, what="the direction (up to sign)", mistakes={
        "this is the eigenvector of the largest eigenvalue: escape along the most negative one":
            lambda: _aligned(vectors[:, -1], got),
        "this is a row of the eigenvector matrix: eigenvectors are its columns (vectors[:, i])":
            lambda: _aligned(vectors[0], got),
        "np.linalg.eig does not sort its eigenvalues: pick the index of the smallest (or use eigh)":
            lambda: _aligned(_unsorted_first_eigenvector(hessian), got),
    })


def _unsorted_first_eigenvector(hessian: np.ndarray) -> np.ndarray:
    return np.real(np.linalg.eig(hessian)[1][:, 0])


@escape_direction.property("unit eigenvector of the most negative eigenvalue (up to sign)",
                           inputs.saddle_hessians())
def _(trial, ex):
    hessian = ex["hessian"]
    got = _expect_unit_direction(trial.call(hessian), ex["eigenvalues"])
    expected = ref.escape_direction(hessian)
    _expect_direction(got, expected, hessian)
    expect_close(float(got @ hessian @ got), ex["eigenvalues"][0], rtol=1e-6, atol=1e-10,
                 what="the curvature uᵀHu along the direction (the most negative eigenvalue)")


@escape_direction.property("None when no eigenvalue is negative (zeros included)", inputs.psd_hessians())
def _(trial, ex):
    got = trial.call(ex["hessian"])
    if got is not None:
        raise CheckFailed(f"returned {show(got)}, expected None: the eigenvalues are {show(ex['eigenvalues'])}",
                          "a zero eigenvalue is computed as ≈ ±1e-16: treat eigenvalues ≥ −1e-8 as not negative"
                          if (ex["eigenvalues"] == 0).any() else None)


@escape_direction.check("the lecture's saddle (1 − w1·w2)² at the origin: ±(1, 1)/√2, and the loss goes down")
def _(trial):
    hessian = lecture_hessian(0.0, 0.0)
    got = _expect_unit_direction(trial.call(hessian), np.array([-2.0, 2.0]))
    expected = np.array([1.0, 1.0]) / np.sqrt(2.0)
    _expect_direction(got, expected, hessian)
    w = 0.1 * got
    loss = (1 - w[0] * w[1]) ** 2
    if not loss < 1.0:
        raise CheckFailed(f"moving from the origin by 0.1·u gives loss {loss:.6g}, not below L(0) = 1")


@escape_direction.check("a small negative eigenvalue (−1e-6) still gives a direction")
def _(trial):
    eigenvalues = np.array([-1e-6, 0.0, 0.0, 2.0])
    hessian = inputs.hessian_with_eigenvalues(eigenvalues, trial.seed)
    got = _expect_unit_direction(trial.call(hessian), eigenvalues)
    expected = ref.escape_direction(hessian)
    _expect_direction(got, expected, hessian)


# ---------------------------------------------------------------------------
# Mini-batches
minibatches = Exercise("optimizers", "minibatches", points=3,
                       arg_names=("num_samples", "batch_size", "rng", "shuffle"))


def _expect_batches(got: Any) -> list[np.ndarray]:
    if not isinstance(got, list):
        raise CheckFailed(f"expected a list of integer index arrays, got {show(got)}")
    for i, batch in enumerate(got):
        if not (isinstance(batch, np.ndarray) and batch.ndim == 1 and batch.dtype.kind in "iu"):
            raise CheckFailed(f"batch {i} is {show(batch)}, expected a 1-D integer NumPy array")
    return got


def _epoch_structure_problem(batches: list[np.ndarray], n: int, batch_size: int) -> tuple[str, str | None] | None:
    """What is structurally wrong with an epoch (message, hint), or None."""
    sizes = [len(b) for b in batches]
    expected_sizes = [min(batch_size, n - i) for i in range(0, n, batch_size)]
    if sizes != expected_sizes:
        hint = None
        if sizes == expected_sizes[:-1]:
            hint = "the last, shorter batch was dropped: keep it"
        elif sizes[:-1] == expected_sizes and sizes[-1] == 0:
            hint = "an empty batch at the end: step i over range(0, num_samples, batch_size)"
        return f"the batch sizes are {sizes}, expected {expected_sizes}", hint
    indices = np.concatenate(batches) if batches else np.array([], dtype=int)
    if sorted(indices.tolist()) != list(range(n)):
        return ("the batches do not hold every index of range(num_samples) exactly once "
                f"(together they hold {show(np.sort(indices))})"), None
    return None


def _check_epoch(trial, n: int, batch_size: int, seed: int, shuffle: bool) -> None:
    kwargs = {} if shuffle else {"shuffle": False}
    batches = _expect_batches(trial.call(n, batch_size, RngSpec("numpy", seed), **kwargs))
    problem = _epoch_structure_problem(batches, n, batch_size)
    if problem is not None:
        raise CheckFailed(*problem)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    expected = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if not all(np.array_equal(b, e) for b, e in zip(batches, expected)):
        hint = ("use order = rng.permutation(num_samples) with the given rng (not np.random.*, "
                "rng.choice or rng.integers) and slice it in order" if shuffle else
                "with shuffle=False the batches are np.arange(num_samples) in order, not shuffled")
        raise CheckFailed(f"the batches are {show(batches)}, expected {show(expected)}", hint)


@minibatches.property("equals order[i:i+batch_size] with order = rng.permutation(num_samples)", inputs.epochs())
def _(trial, ex):
    _check_epoch(trial, ex["num_samples"], ex["batch_size"], ex["seed"], shuffle=True)


@minibatches.property("shuffle=False: consecutive slices of arange(num_samples)", inputs.epochs(), max_examples=10)
def _(trial, ex):
    _check_epoch(trial, ex["num_samples"], ex["batch_size"], ex["seed"], shuffle=False)


@minibatches.check("draws only from rng: the same seed gives the same epoch")
def _(trial):
    first, second = (_expect_batches(trial.call(40, 8, RngSpec("numpy", trial.seed))) for _ in range(2))
    if len(first) != len(second) or not all(np.array_equal(a, b) for a, b in zip(first, second)):
        raise CheckFailed(f"two calls with generators of the same seed gave different epochs: {show(first)} "
                          f"and {show(second)}", "draw the order from the given rng, not from np.random.*")
    _check_epoch(trial, 40, 8, trial.seed, shuffle=True)


@minibatches.check("edge cases: batch_size 1, equal to, dividing and exceeding num_samples")
def _(trial):
    for n, batch_size in ((7, 1), (7, 7), (12, 4), (5, 9), (1, 1)):
        try:
            _check_epoch(trial, n, batch_size, trial.seed, shuffle=True)
        except CheckFailed as failure:
            raise CheckFailed(f"num_samples={n}, batch_size={batch_size}: {failure.message}", failure.hint) from None


# ---------------------------------------------------------------------------
# Update rules: shared machinery
STEPS = 50
TRAJECTORIES = 5  # random problems per many-step check


@dataclass
class UpdateRule:
    """How to drive one functional update rule and its ``torch.optim`` twin."""
    function: str
    state: tuple[str, ...]                 # names of the state arguments after (theta, grad)
    takes_step_number: bool                # Adam's t
    torch_optimizer: Callable[..., Any]    # (params, **hyperparameters) → torch optimizer
    torch_state: Callable[[dict, dict], list[np.ndarray]]  # (torch state, hyperparameters) → our state
    mistakes: dict[str, Callable] = field(default_factory=dict)  # hint → a mistaken step (reference signature)

    @property
    def outputs(self) -> tuple[str, ...]:
        return ("theta", *self.state)


def _step_outputs(got: Any, rule: UpdateRule, p: int, when: str = "") -> list[np.ndarray]:
    names = rule.outputs
    if not (isinstance(got, (tuple, list)) and len(got) == len(names)):
        raise CheckFailed(f"{rule.function}{when} returned {show(got)}, expected a tuple ({', '.join(names)})")
    return [expect_array(value, (p,), what=f"the returned {name}{when}") for value, name in zip(got, names)]


def _run_steps(step: Callable, theta0: np.ndarray, gradients: list[np.ndarray], state: list[np.ndarray],
               takes_step_number: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Drive ``step(theta, grad, *state[, t])`` with fixed gradients → (trajectory [T+1, P], final state)."""
    thetas = [theta0]
    for t, grad in enumerate(gradients, 1):
        theta, *state = step(thetas[-1], grad, *state, *([t] if takes_step_number else []))
        thetas.append(theta)
    return np.stack(thetas), state


def _torch_run(rule: UpdateRule, gradient: Callable[[np.ndarray], np.ndarray], theta0: np.ndarray,
               hyperparameters: dict, steps: int = STEPS):
    """torch.optim in float64 on its own trajectory → (trajectory, the gradients it saw, final state)."""
    import torch
    param = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    optimizer = rule.torch_optimizer([param], **hyperparameters)
    thetas, gradients = [theta0], []
    for _ in range(steps):
        gradients.append(gradient(param.detach().numpy().copy()))
        param.grad = torch.from_numpy(gradients[-1].copy())
        optimizer.step()
        thetas.append(param.detach().numpy().copy())
    return np.stack(thetas), gradients, rule.torch_state(optimizer.state[param], hyperparameters)


def least_squares_gradient(problem: dict) -> Callable[[np.ndarray], np.ndarray]:
    """∇ mean((xθ − y)²) = (2/N)·xᵀ(xθ − y), computed in the grader."""
    x, y = problem["x"], problem["y"]
    return lambda theta: 2.0 / len(y) * x.T @ (x @ theta - y)


def _compare_run(trial, rule: UpdateRule, problem: dict, hyperparameters: dict, *, scale: float = 1.0,
                 rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """The student's trajectory and final state against torch.optim's, with the same gradients."""
    gradient = least_squares_gradient(problem)
    expected, gradients, expected_state = _torch_run(rule, lambda th: scale * gradient(th), problem["theta0"],
                                                     hyperparameters)
    p = problem["theta0"].size
    zeros = [np.zeros(p) for _ in rule.state]

    calls = 0

    def student_step(*args):
        nonlocal calls
        calls += 1
        return _step_outputs(trial.call(*args, **hyperparameters), rule, p, f" at step {calls}")

    got, got_state = _run_steps(student_step, problem["theta0"], gradients, zeros, rule.takes_step_number)

    def mistaken_run(mistake: Callable) -> tuple[np.ndarray, list[np.ndarray]]:
        with np.errstate(all="ignore"):
            return _run_steps(partial(mistake, **hyperparameters), problem["theta0"], gradients, zeros,
                              rule.takes_step_number)

    try:
        expect_close(got, expected, rtol=rtol, atol=atol, what="θ_t (row t: after t steps)",
                     mistakes={hint: partial(lambda m: mistaken_run(m)[0], m) for hint, m in rule.mistakes.items()})
        for i, name in enumerate(rule.state):
            magnitude = float(np.max(np.abs(expected_state[i]))) or 1.0
            expect_close(got_state[i], expected_state[i], rtol=rtol, atol=atol * magnitude,
                         what=f"the returned {name} after {STEPS} steps",
                         mistakes={hint: partial(lambda m, i: mistaken_run(m)[1][i], m, i)
                                   for hint, m in rule.mistakes.items()})
    except CheckFailed as failure:
        scaled = f" times {scale:g}" if scale != 1 else ""
        raise CheckFailed(f"{failure.message}\nGradients: those of L(θ) = mean((xθ − y)²){scaled}, computed by the "
                          f"grader; the state starts at zero:\n{show_inputs({**problem, **hyperparameters})}",
                          failure.hint) from None


def _compare_step(trial, rule: UpdateRule, ex: dict, *, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """One call against the reference, each output with the mistakes' outputs as hints."""
    p = ex["theta"].size
    got = _step_outputs(trial.call(**ex), rule, p)
    expected = getattr(ref, rule.function)(**ex)

    def mistaken(mistake: Callable, i: int):
        with np.errstate(all="ignore"):
            return mistake(**ex)[i]

    for i, name in enumerate(rule.outputs):
        expect_close(got[i], expected[i], rtol=rtol, atol=atol, what=f"the returned {name}",
                     mistakes={hint: partial(mistaken, m, i) for hint, m in rule.mistakes.items()})


def _update_rule_exercise(rule: UpdateRule, points: float, one_step: tuple[str, Any],
                          torch_name: str, hyperparameters: dict) -> Exercise:
    """An exercise with the two checks every update rule gets: one step, and 50 steps vs torch."""
    exercise = Exercise("optimizers", rule.function, points=points,
                        arg_names=tuple(inspect.signature(getattr(ref, rule.function)).parameters))
    title, strategy = one_step

    @exercise.property(title, strategy)
    def _(trial, ex):
        _compare_step(trial, rule, ex)

    @exercise.check(f"{STEPS} steps match {torch_name} (float64, same gradients)")
    def _(trial):
        for _ in range(TRAJECTORIES):
            _compare_run(trial, rule, inputs.draw_least_squares_problem(trial.rng),
                         inputs.draw_hyperparameters(trial.rng, hyperparameters))

    return exercise


def _zero_gradient_check(exercise: Exercise, rule: UpdateRule, hyperparameters: dict) -> None:
    """From an all-zero state, a zero gradient must leave θ and the state at zero movement (0/(0+eps) = 0)."""
    @exercise.check("zero gradients from a zero state leave θ unchanged (no 0/0)")
    def _(trial):
        theta = trial.rng.normal(size=3)
        args = [theta, np.zeros(3), *[np.zeros(3) for _ in rule.state], *([1] if rule.takes_step_number else [])]
        got = _step_outputs(trial.call(*args, **hyperparameters), rule, 3)
        expect_close(got[0], theta, rtol=0, atol=0, what="θ after a zero gradient", mistakes={
            "0/0 gives NaN: eps belongs in the denominator, √s + eps": np.full(3, np.nan)})
        for value, name in zip(got[1:], rule.state):
            expect_close(value, np.zeros(3), rtol=0, atol=0, what=f"the returned {name}")


def _gradient_scale_check(exercise: Exercise, rule: UpdateRule, hyperparameters: dict) -> None:
    """Tiny gradients expose where eps sits; with huge ones the step must still be ≈ lr. Default eps."""
    @exercise.check("tiny (1e-7) and huge (1e40) gradients: default eps after the square root, as torch.optim")
    def _(trial):
        problem = inputs.least_squares_problem(int(trial.rng.integers(2**31)), 6, 3)
        for scale in (1e-7, 1e40):
            _compare_run(trial, rule, problem, hyperparameters, scale=scale, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# sgd_momentum_step
def _sgd_uphill(theta, grad, movement, lr, momentum):
    movement = momentum * movement + lr * grad
    return theta + movement, movement


def _sgd_torch_sign(theta, grad, movement, lr, momentum):
    movement = momentum * movement + lr * grad
    return theta - movement, movement


def _sgd_no_momentum(theta, grad, movement, lr, momentum):
    return theta - lr * grad, -lr * grad


def _sgd_old_movement(theta, grad, movement, lr, momentum):
    return theta + movement, momentum * movement - lr * grad


def _sgd_dampened(theta, grad, movement, lr, momentum):
    movement = momentum * movement - (1 - momentum) * lr * grad
    return theta + movement, movement


def _sgd_state(state: dict, hyperparameters: dict) -> list[np.ndarray]:
    return [-hyperparameters["lr"] * state["momentum_buffer"].numpy()]


def _torch_sgd(params, lr, momentum):
    import torch
    return torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=0.0)


SGD_MOMENTUM = UpdateRule("sgd_momentum_step", ("movement",), False, _torch_sgd, _sgd_state, {
    "the signs are flipped: m ← λ·m − η·g, then θ ← θ + m (this walks uphill)": _sgd_uphill,
    "the movement has the wrong sign: the lecture stores m = λ·m − η·g and adds it, θ ← θ + m": _sgd_torch_sign,
    "the momentum term is missing: m ← λ·m − η·g uses the previous movement": _sgd_no_momentum,
    "θ moved by the previous movement: update m first, then θ ← θ + m with the new m": _sgd_old_movement,
    "the gradient is damped by (1 − λ): the lecture's form is m ← λ·m − η·g": _sgd_dampened,
})
sgd_momentum_step = _update_rule_exercise(
    SGD_MOMENTUM, 3, ("one step: m ← λ·m − η·g, θ ← θ + m", inputs.sgd_momentum_inputs()),
    "torch.optim.SGD(momentum=λ, dampening=0)", inputs.SGD_MOMENTUM)


@sgd_momentum_step.check("a zero gradient keeps θ moving by λ·m")
def _(trial):
    theta, movement = trial.rng.normal(size=3), trial.rng.normal(size=3)
    got = _step_outputs(trial.call(theta, np.zeros(3), movement, 0.1, 0.9), SGD_MOMENTUM, 3)
    expect_close(got[0], theta + 0.9 * movement, what="θ after a zero gradient", mistakes={
        hint: mistake(theta, np.zeros(3), movement, 0.1, 0.9)[0] for hint, mistake in SGD_MOMENTUM.mistakes.items()})
    expect_close(got[1], 0.9 * movement, what="the returned movement")


# ---------------------------------------------------------------------------
# adagrad_step and rmsprop_step: θ ← θ − lr·g/(√s + eps) with a running statistic s of g²
def _adaptive(theta, grad, square, lr, eps, keep: float, add: float, *, stale: bool = False,
              denominator: str = "√s + eps"):
    """s ← keep·s + add·g², θ ← θ − lr·g/denominator(s), or a classic mistake of it."""
    new_square = keep * square + add * grad ** 2
    used = square if stale else new_square
    scale = {"√s + eps": np.sqrt(used) + eps, "√(s + eps)": np.sqrt(used + eps), "s + eps": used + eps}[denominator]
    return theta - lr * grad / scale, new_square


def _adagrad_mistake(**how) -> Callable:
    def step(theta, grad, sum_sq, lr, eps=1e-10):
        return _adaptive(theta, grad, sum_sq, lr, eps, 1.0, 1.0, **how)
    return step


def _rmsprop_mistake(swapped: bool = False, **how) -> Callable:
    def step(theta, grad, sq_avg, lr, alpha=0.99, eps=1e-8):
        keep = 1 - alpha if swapped else alpha
        return _adaptive(theta, grad, sq_avg, lr, eps, keep, 1 - keep, **how)
    return step


def _adaptive_mistakes(make: Callable, state: str) -> dict[str, Callable]:
    return {
        f"θ was updated with the old {state}: add this step's g² to the state first, then divide":
            make(stale=True),
        "eps is inside the square root: divide by √s + eps (as torch.optim)": make(denominator="√(s + eps)"),
        "the square root is missing: divide by √s + eps, not s + eps": make(denominator="s + eps"),
    }


def _torch_adagrad(params, lr):
    import torch
    return torch.optim.Adagrad(params, lr=lr)


def _torch_rmsprop(params, lr, alpha=0.99):
    import torch
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha)


ADAGRAD = UpdateRule("adagrad_step", ("sum_sq",), False, _torch_adagrad,
                     lambda state, _: [state["sum"].numpy()], _adaptive_mistakes(_adagrad_mistake, "sum_sq"))
adagrad_step = _update_rule_exercise(
    ADAGRAD, 3, ("one step: s ← s + g², θ ← θ − lr·g/(√s + eps)", inputs.adagrad_inputs()),
    "torch.optim.Adagrad", inputs.ADAGRAD)
_zero_gradient_check(adagrad_step, ADAGRAD, {"lr": 0.1})
_gradient_scale_check(adagrad_step, ADAGRAD, {"lr": 0.1})

RMSPROP = UpdateRule("rmsprop_step", ("sq_avg",), False, _torch_rmsprop,
                     lambda state, _: [state["square_avg"].numpy()], {
                         "α and 1 − α are swapped: v ← α·v + (1 − α)·g² keeps most of the old average":
                             _rmsprop_mistake(swapped=True),
                         **_adaptive_mistakes(_rmsprop_mistake, "sq_avg")})
rmsprop_step = _update_rule_exercise(
    RMSPROP, 3, ("one step: v ← α·v + (1 − α)·g², θ ← θ − lr·g/(√v + eps)", inputs.rmsprop_inputs()),
    "torch.optim.RMSprop", inputs.RMSPROP)
_zero_gradient_check(rmsprop_step, RMSPROP, {"lr": 0.01})
_gradient_scale_check(rmsprop_step, RMSPROP, {"lr": 0.01, "alpha": 0.9})


# ---------------------------------------------------------------------------
# adam_step
def _adam_mistake(*, shift: int = 0, corrected: bool = True, denominator: str = "√v̂ + eps",
                  corrected_state: bool = False, swapped_betas: bool = False) -> Callable:
    def step(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        beta1, beta2 = betas[::-1] if swapped_betas else betas
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad ** 2
        c1, c2 = (1 - beta1 ** (t + shift), 1 - beta2 ** (t + shift)) if corrected else (1.0, 1.0)
        m_hat, v_hat = m / c1, v / c2
        scale = {"√v̂ + eps": np.sqrt(v_hat) + eps, "√(v̂ + eps)": np.sqrt(v_hat + eps),
                 "(√v + eps)/√c2": (np.sqrt(v) + eps) / np.sqrt(c2)}[denominator]
        theta = theta - lr * m_hat / scale
        return (theta, m_hat, v_hat) if corrected_state else (theta, m, v)
    return step


def _adam_state(state: dict, _: dict) -> list[np.ndarray]:
    return [state["exp_avg"].numpy(), state["exp_avg_sq"].numpy()]


def _torch_adam(params, lr=1e-3, betas=(0.9, 0.999)):
    import torch
    return torch.optim.Adam(params, lr=lr, betas=betas)


ADAM = UpdateRule("adam_step", ("m", "v"), True, _torch_adam, _adam_state, {
    "no bias correction: divide m by (1 − β1^t) and v by (1 − β2^t)": _adam_mistake(corrected=False),
    "the bias correction is off by one: t is already 1-based, use 1 − β^t (not β^(t+1))": _adam_mistake(shift=1),
    "the bias correction is off by one: t is already 1-based, use 1 − β^t (not β^(t−1))": _adam_mistake(shift=-1),
    "eps is inside the square root: divide by √v̂ + eps (as torch.optim.Adam)": _adam_mistake(denominator="√(v̂ + eps)"),
    "eps was added before the bias correction (√v + eps): torch.optim.Adam adds it to √v̂":
        _adam_mistake(denominator="(√v + eps)/√c2"),
    "the bias-corrected m̂, v̂ were returned: the state is the raw averages m, v": _adam_mistake(corrected_state=True),
    "β1 and β2 are swapped: β1 averages g, β2 averages g²": _adam_mistake(swapped_betas=True),
})
adam_step = _update_rule_exercise(ADAM, 4, ("one step with bias correction", inputs.adam_inputs()),
                                  "torch.optim.Adam", inputs.ADAM)


@adam_step.check("t = 1 from m = v = 0: every coordinate moves by ≈ lr against its gradient")
def _(trial):
    theta = trial.rng.normal(size=4)
    grad = trial.rng.choice([-1.0, 1.0], size=4) * 10.0 ** trial.rng.uniform(-3, 3, size=4)
    zeros = np.zeros(4)
    got = _step_outputs(trial.call(theta, grad, zeros, zeros, 1, lr=0.01), ADAM, 4)
    with np.errstate(all="ignore"):
        mistakes = {hint: mistake(theta, grad, zeros, zeros, 1, lr=0.01)[0] for hint, mistake in ADAM.mistakes.items()}
    expect_close(got[0], theta - 0.01 * grad / (np.abs(grad) + 1e-8), rtol=1e-9, atol=1e-12,
                 what="θ after the first step", mistakes=mistakes)


_zero_gradient_check(adam_step, ADAM, {"lr": 0.01})
_gradient_scale_check(adam_step, ADAM, {"lr": 0.01})


# ---------------------------------------------------------------------------
warmup_schedule = Exercise("optimizers", "warmup_schedule", points=2, arg_names=("step", "d_model", "warmup_steps"))


def _schedule(step, d_model, warmup_steps, *, d_power=-0.5, warmup_power=-1.5, pick=min) -> float:
    return d_model ** d_power * pick(step ** -0.5, step * warmup_steps ** warmup_power)


def _schedule_mistakes(step: int, d_model: int, warmup_steps: int) -> dict[str, Callable[[], float]]:
    args = (step, d_model, warmup_steps)
    return {
        "d_model enters as d_model^(−0.5) (the rate is divided by √d_model)": lambda: _schedule(*args, d_power=0.5),
        "the d_model^(−0.5) factor is missing": lambda: _schedule(*args, d_power=0.0),
        "take the min of the two branches, not the max": lambda: _schedule(*args, pick=max),
        "the warm-up branch is step · warmup_steps^(−1.5)": lambda: _schedule(*args, warmup_power=-0.5),
        "step is 1-based: use it as given (not step + 1)": lambda: _schedule(step + 1, d_model, warmup_steps),
    }


@warmup_schedule.property("matches d_model^(−0.5)·min(step^(−0.5), step·warmup_steps^(−1.5))",
                          st.fixed_dictionaries({"step": st.integers(1, 20000), "d_model": st.integers(1, 1024),
                                                 "warmup_steps": st.integers(1, 8000)}))
def _(trial, ex):
    got = expect_float(trial.call(**ex))
    expect_close(got, ref.warmup_schedule(**ex), rtol=1e-12, atol=0,
                 mistakes=_schedule_mistakes(ex["step"], ex["d_model"], ex["warmup_steps"]))


@warmup_schedule.check("rises linearly, peaks at step = warmup_steps with d_model^(−0.5)·warmup_steps^(−0.5)")
def _(trial):
    for d_model, warmup_steps in ((512, 4000), (64, 10), (128, 1)):
        steps = sorted({1, max(1, warmup_steps // 2), max(1, warmup_steps - 1), warmup_steps, warmup_steps + 1,
                        2 * warmup_steps, 10 * warmup_steps})
        rates = {step: expect_float(trial.call(step, d_model, warmup_steps)) for step in steps}
        peak = d_model ** -0.5 * warmup_steps ** -0.5
        expect_close(rates[warmup_steps], peak, rtol=1e-12, atol=0,
                     what=f"the rate at step = warmup_steps = {warmup_steps} (d_model = {d_model})",
                     mistakes=_schedule_mistakes(warmup_steps, d_model, warmup_steps))
        best = max(rates, key=rates.get)
        if best != warmup_steps:
            raise CheckFailed(f"with d_model = {d_model}, warmup_steps = {warmup_steps}, the rates at steps "
                              f"{steps} are {show(list(rates.values()))}: the largest is at step {best}, "
                              f"expected {warmup_steps}")
        if warmup_steps > 2:
            half = rates[warmup_steps // 2] / rates[warmup_steps]
            expect_close(half, (warmup_steps // 2) / warmup_steps, rtol=1e-9,
                         what="rate(warmup_steps // 2) / rate(warmup_steps) (a linear rise)")


EXERCISES = [classify_critical_point, escape_direction, minibatches, sgd_momentum_step, adagrad_step,
             rmsprop_step, adam_step, warmup_schedule]
