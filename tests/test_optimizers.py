"""optimizers.py: the reference passes; realistic mistakes are caught with the right message."""

from __future__ import annotations

import numpy as np
import pytest

from lhy_grader.catalogue import optimizers as checks
from lhy_grader.compare.reference import reference
from lhy_grader.inputs.optimizers import least_squares_problem
from tests.variants import assert_caught, assert_full_marks, grade_variant

EXERCISES = ["classify_critical_point", "escape_direction", "minibatches", "sgd_momentum_step",
             "adagrad_step", "rmsprop_step", "adam_step", "warmup_schedule"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"optimizers.{function}"))


# The buggy versions below edit these lines of solutions/optimizers.py.
SGD_LINE = "movement = momentum * movement - lr * grad  # [P]"
ADAGRAD_LINE = "sum_sq = sum_sq + grad ** 2                            # [P]"
ADAGRAD_RETURN = "return theta - lr * grad / (np.sqrt(sum_sq) + eps), sum_sq"
RMSPROP_LINE = "sq_avg = alpha * sq_avg + (1 - alpha) * grad ** 2      # [P]"
RMSPROP_RETURN = "return theta - lr * grad / (np.sqrt(sq_avg) + eps), sq_avg"
ADAM_RETURN = "return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v"
SCHEDULE = "d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)"
SLICES = "[order[i:i + batch_size] for i in range(0, num_samples, batch_size)]"

BUGS = [
    # (exercise, replacements, failing check, hint)
    ("classify_critical_point", {"np.all(eigenvalues > tol)": "np.all(-eigenvalues > tol)",
                                 "np.all(eigenvalues < -tol)": "np.all(-eigenvalues < -tol)"},
     "names the point", "swapped"),
    ("classify_critical_point", {"> tol": "> 0", "< -tol": "< 0"}, "respects tol", "tol is ignored"),
    ("classify_critical_point", {"np.all(eigenvalues > tol)": "np.all(eigenvalues >= -tol)",
                                 "np.all(eigenvalues < -tol)": "np.all(eigenvalues <= tol)"},
     "names the point", "leaves the point \"unknown\""),
    ("classify_critical_point", {"np.linalg.eigvalsh(hessian)": "np.diag(hessian)"}, "names the point", "diagonal"),
    ("classify_critical_point", {'return "local minima"': 'return "local minimum"'}, "names the point",
     "the lecture's names"),
    ("escape_direction", {"eigenvectors[:, 0].copy()": "eigenvectors[:, -1].copy()"}, "most negative", "largest"),
    ("escape_direction", {"eigenvectors[:, 0].copy()": "eigenvectors[0].copy()"}, "most negative", "columns"),
    ("escape_direction", {"eigenvectors[:, 0].copy()": "eigenvectors[:, 0] * eigenvalues[0]"}, "most negative",
     "unit length"),
    ("escape_direction", {"if eigenvalues[0] >= -ZERO_EIGENVALUE_TOL:": "if eigenvalues[0] >= 0:"},
     "None when no eigenvalue is negative", "zero eigenvalue"),
    ("escape_direction", {"ZERO_EIGENVALUE_TOL = 1e-8": "ZERO_EIGENVALUE_TOL = 1e-4"}, "small negative eigenvalue",
     "tolerance is too large"),
    ("escape_direction", {"np.linalg.eigh(hessian)": "np.linalg.eig(hessian)"}, "most negative", "does not sort"),
    ("minibatches", {"range(0, num_samples, batch_size)": "range(0, num_samples - batch_size + 1, batch_size)"},
     "equals order", "last, shorter batch was dropped"),
    ("minibatches", {SLICES: "[order[i * batch_size:(i + 1) * batch_size] "
                             "for i in range(num_samples // batch_size + 1)]"}, "edge cases", "empty batch"),
    ("minibatches", {"rng.permutation(num_samples)": "np.random.permutation(num_samples)"}, "same seed",
     "not from np.random"),
    ("minibatches", {"rng.permutation(num_samples)": "rng.choice(num_samples, num_samples, replace=False)"},
     "equals order", "rng.permutation"),
    ("minibatches", {"if shuffle else np.arange(num_samples)": "if True else None"}, "shuffle=False", "not shuffled"),
    ("sgd_momentum_step", {SGD_LINE: "movement = momentum * movement + lr * grad"}, "one step", "walks uphill"),
    ("sgd_momentum_step", {SGD_LINE: "movement = momentum * movement + lr * grad",
                           "return theta + movement, movement": "return theta - movement, movement"},
     "one step", "the movement has the wrong sign"),
    ("sgd_momentum_step", {SGD_LINE: "movement = -lr * grad"}, "one step", "momentum term is missing"),
    ("sgd_momentum_step", {SGD_LINE: "new_movement = momentum * movement - lr * grad",
                           "return theta + movement, movement": "return theta + movement, new_movement"},
     "one step", "previous movement"),
    ("sgd_momentum_step", {SGD_LINE: "movement = momentum * movement - (1 - momentum) * lr * grad"},
     "50 steps match torch.optim.SGD", "damped"),
    ("sgd_momentum_step", {SGD_LINE: "movement *= momentum\n    movement -= lr * grad"},
     "leaves its inputs unchanged", "in-place"),
    ("adagrad_step", {ADAGRAD_LINE: "", ADAGRAD_RETURN:
                      "return theta - lr * grad / (np.sqrt(sum_sq) + eps), sum_sq + grad ** 2"},
     "one step", "old sum_sq"),
    ("adagrad_step", {ADAGRAD_RETURN: "return theta - lr * grad / np.sqrt(sum_sq + eps), sum_sq"},
     "tiny (1e-7) and huge", "eps is inside the square root"),
    ("adagrad_step", {ADAGRAD_RETURN: "return theta - lr * grad / (sum_sq + eps), sum_sq"},
     "one step", "square root is missing"),
    ("adagrad_step", {ADAGRAD_RETURN: "return theta - lr * grad / np.sqrt(sum_sq), sum_sq"},
     "zero gradients", "0/0"),
    ("adagrad_step", {ADAGRAD_LINE: "sum_sq += grad ** 2"}, "leaves its inputs unchanged", "in-place"),
    ("rmsprop_step", {RMSPROP_LINE: "sq_avg = (1 - alpha) * sq_avg + alpha * grad ** 2"}, "one step", "swapped"),
    ("rmsprop_step", {RMSPROP_LINE: "", RMSPROP_RETURN:
                      "return theta - lr * grad / (np.sqrt(sq_avg) + eps), alpha * sq_avg + (1 - alpha) * grad ** 2"},
     "one step", "old sq_avg"),
    ("rmsprop_step", {RMSPROP_RETURN: "return theta - lr * grad / np.sqrt(sq_avg + eps), sq_avg"},
     "tiny (1e-7) and huge", "eps is inside the square root"),
    ("rmsprop_step", {RMSPROP_RETURN: "return theta - lr * grad / (sq_avg + eps), sq_avg"},
     "one step", "square root is missing"),
    ("adam_step", {"m_hat = m / (1 - beta1 ** t)": "m_hat = m", "v_hat = v / (1 - beta2 ** t)": "v_hat = v"},
     "one step", "no bias correction"),
    ("adam_step", {"beta1 ** t": "beta1 ** (t + 1)", "beta2 ** t": "beta2 ** (t + 1)"}, "one step", "β^(t+1)"),
    ("adam_step", {"beta1 ** t": "beta1 ** (t - 1)", "beta2 ** t": "beta2 ** (t - 1)"}, "t = 1", "β^(t−1)"),
    ("adam_step", {ADAM_RETURN: "return theta - lr * m_hat / np.sqrt(v_hat + eps), m, v"},
     "tiny (1e-7) and huge", "eps is inside the square root"),
    ("adam_step", {ADAM_RETURN: "return theta - lr * m_hat / ((np.sqrt(v) + eps) / np.sqrt(1 - beta2 ** t)), m, v"},
     "tiny (1e-7) and huge", "eps was added before the bias correction"),
    ("adam_step", {ADAM_RETURN: "return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m_hat, v_hat"},
     "one step", "the state is the raw averages"),
    ("adam_step", {"beta1, beta2 = betas": "beta2, beta1 = betas"}, "one step", "β1 and β2 are swapped"),
    ("warmup_schedule", {SCHEDULE: "d_model ** 0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)"},
     "matches d_model", "divided by √d_model"),
    ("warmup_schedule", {SCHEDULE: "d_model ** -0.5 * max(step ** -0.5, step * warmup_steps ** -1.5)"},
     "matches d_model", "min of the two branches"),
    ("warmup_schedule", {SCHEDULE: "d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -0.5)"},
     "matches d_model", "warmup_steps^(−1.5)"),
    ("warmup_schedule", {SCHEDULE: "d_model ** -0.5 * min((step + 1) ** -0.5, (step + 1) * warmup_steps ** -1.5)"},
     "matches d_model", "1-based"),
]


@pytest.mark.parametrize("function,replacements,check,hint", BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint):
    result = grade_variant(worker, tmp_path, f"optimizers.{function}", replacements)
    assert_caught(result, check, hint)


def test_a_list_of_lists_is_rejected_with_a_clear_message(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "optimizers.minibatches",
                           {SLICES: "[order[i:i + batch_size].tolist() for i in range(0, num_samples, batch_size)]"})
    assert_caught(result, "equals order", message="1-D integer NumPy array")


def test_adam_without_bias_correction_drifts_far_over_50_steps(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "optimizers.adam_step",
                           {"m_hat = m / (1 - beta1 ** t)": "m_hat = m", "v_hat = v / (1 - beta2 ** t)": "v_hat = v"})
    assert_caught(result, "50 steps match torch.optim.Adam", "no bias correction")


# -- the reference itself against torch.optim, many steps and many problems -------------
RULES = [(checks.SGD_MOMENTUM, {"lr": 0.3, "momentum": 0.9}), (checks.ADAGRAD, {"lr": 0.5}),
         (checks.RMSPROP, {"lr": 0.05, "alpha": 0.9}), (checks.ADAM, {"lr": 0.05, "betas": (0.8, 0.99)})]


@pytest.mark.parametrize("rule,hyperparameters", RULES, ids=[r.function for r, _ in RULES])
def test_reference_equals_torch_optim_over_200_steps(rule, hyperparameters):
    ref = reference("optimizers")
    problem = least_squares_problem(seed=7, n=8, p=4)
    gradient = checks.least_squares_gradient(problem)
    expected, gradients, expected_state = checks._torch_run(rule, gradient, problem["theta0"], hyperparameters, 200)
    zeros = [np.zeros_like(problem["theta0"]) for _ in rule.state]
    step = getattr(ref, rule.function)
    got, state = checks._run_steps(lambda *a: step(*a, **hyperparameters), problem["theta0"], gradients, zeros,
                                   rule.takes_step_number)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    for mine, theirs in zip(state, expected_state):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-13)


def test_lecture_saddle_hessian_is_exact():
    np.testing.assert_array_equal(checks.lecture_hessian(0.0, 0.0), [[0.0, -2.0], [-2.0, 0.0]])
    np.testing.assert_array_equal(checks.lecture_hessian(2.0, 0.5), [[0.5, 2.0], [2.0, 8.0]])
