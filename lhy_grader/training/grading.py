"""(Grader) Run the training checks of one submission and score what the models learned.

For each check: grade the functions it needs (or reuse their results), run the task's
``train`` routine in the worker with a training seed, validate the weights it returns,
and evaluate them with the reference architecture on held-out data drawn from an
evaluation seed the worker never receives. Both seeds derive from the run's seed.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

from lhy_grader import catalogue
from lhy_grader.catalogue.base import check_seed
from lhy_grader.compare import CheckFailed, expect_array, expect_tensor
from lhy_grader.compare.reference import reference
from lhy_grader.runner import CheckResult, ExerciseResult, grade_exercise
from lhy_grader.training import TrainingCheck, TrainingOptions
from lhy_grader.training.common import Evaluation
from lhy_grader.worker.client import NotImplementedYet, StudentRaised, Worker, WorkerCrashed, WorkerTimeout

#: Wall clock for one call of a submission function during the evaluation (e.g. beam_search).
EVAL_CALL_SECONDS = 10.0


def task_module(check: TrainingCheck) -> ModuleType:
    return importlib.import_module(f"lhy_grader.training.{check.task}")


def reference_modules(names: tuple[str, ...]) -> dict[str, ModuleType]:
    """The reference solutions standing in for the submission's modules."""
    return {name: reference(name) for name in names}


def grade_trainings(worker: Worker, path: Path, options: TrainingOptions, report: dict[str, dict],
                    graded: dict[str, ExerciseResult], *, seed: int, device: str,
                    effort: float = 1.0) -> list[ExerciseResult]:
    """One result per training check. ``graded`` holds exercise results already known (the
    prerequisites missing from it are graded here, silently); ``report`` is the worker's
    module report of ``path``."""
    results = []
    for check in options.checks:
        needed = []
        for name in check.requires:
            if name not in graded:
                (exercise,) = catalogue.select([name])
                graded[name] = grade_exercise(worker, exercise, path, report[exercise.module], seed, device, effort)
            needed.append(graded[name])
        blocking = [result for result in needed if result.status != "passed"]
        if blocking:
            results.append(_skipped(check, blocking))
        else:
            results.append(run_training_check(worker, check, seed=seed, device=device, options=options))
    return results


def _skipped(check: TrainingCheck, blocking: list[ExerciseResult]) -> ExerciseResult:
    statuses = {result.status for result in blocking}
    status = next((s for s in ("missing", "not_implemented") if statuses == {s}), "failed")
    names = ", ".join(f"{result.name} ({result.status.replace('_', ' ')})" for result in blocking)
    message = f"not trained: it needs {names}; make their checks pass first"
    return ExerciseResult(check.name, 0.0, check.points, status, [CheckResult(check.check, False, message)])


def run_training_check(worker: Worker, check: TrainingCheck, *, seed: int, device: str,
                       options: TrainingOptions) -> ExerciseResult:
    """Train in the worker, evaluate here; never raises for student faults."""
    progress = None if options.on_progress is None else _reporter(check, options.on_progress)
    stage, status = "the training", "failed"
    try:
        weights, losses = train_in_worker(worker, check, seed=seed, device=device, progress=progress)
        stage = "the evaluation"
        evaluation = evaluate_weights(worker, check, weights, seed=seed)
        passed, message = evaluation.passed, _message(evaluation, losses)
        if options.plots is not None:
            _plot(options.plots, check, losses, evaluation)
    except CheckFailed as e:
        passed, message = False, e.message
    except WorkerTimeout as e:
        passed, message, status = False, f"{stage} timed out: a call {e}", "timeout"
    except NotImplementedYet as e:
        passed, message, status = False, f"{stage} needs a function that raises NotImplementedError: {e}", \
            "not_implemented"
    except StudentRaised as e:
        passed, message, status = False, f"{stage} raised {e}", "error"
    except WorkerCrashed as e:
        passed, message, status = False, f"the worker died during {stage}: {e}", "error"
    return ExerciseResult(check.name, check.points if passed else 0.0, check.points,
                          "passed" if passed else status, [CheckResult(check.check, passed, message)])


def _reporter(check: TrainingCheck, on_progress: Callable[[str, int, int, float], None]):
    """The worker's progress callback (step, total, loss) → ``on_progress`` with the check's name."""
    def progress(step: int, total: int, loss: float) -> None:
        on_progress(check.name, int(step), int(total), float(loss))
    return progress


def seeds_of(check: TrainingCheck, seed: int) -> tuple[int, int]:
    """(training seed, evaluation seed): the worker only ever gets the first."""
    return check_seed(seed, check.name, "train"), check_seed(seed, check.name, "evaluate")


def train_in_worker(worker: Worker, check: TrainingCheck, *, seed: int, device: str,
                    progress: Callable[[int, int, float], None] | None = None) -> tuple[dict[str, Any], list[float]]:
    """Run the task's ``train`` routine in the worker; returns the validated weights and
    the losses (raises CheckFailed for malformed weights, the worker's exceptions for
    student faults)."""
    task = task_module(check)
    outcome = worker.run_routine(f"lhy_grader.training.{check.task}:train", (seeds_of(check, seed)[0], device),
                                 {"progress": progress}, timeout=check.timeout, device=device)
    return _validated(task, outcome)


def evaluate_weights(worker: Worker, check: TrainingCheck, weights: dict[str, Any], *, seed: int) -> Evaluation:
    """Score trained weights with the reference architecture on held-out data (on the CPU)."""
    torch.set_num_threads(1)  # tiny tensors: more threads would only contend with the worker
    task = task_module(check)
    train_seed, eval_seed = seeds_of(check, seed)
    return task.evaluate(reference_modules(task.MODULES), weights, eval_seed, train_seed, _student_caller(worker))


def _student_caller(worker: Worker):
    def call(function: str, *args: Any) -> Any:
        return worker.call(function, args, {}, timeout=EVAL_CALL_SECONDS).value
    return call


def _validated(task: ModuleType, outcome: Any) -> tuple[dict[str, Any], list[float]]:
    """The weights and losses the routine returned, checked against the task's shapes."""
    if not (isinstance(outcome, dict) and isinstance(outcome.get("weights"), dict)
            and isinstance(outcome.get("losses"), list)):
        raise CheckFailed("the training routine returned something other than its weights and losses")
    weights = {}
    for key, shape in task.WEIGHT_SHAPES.items():
        value = outcome["weights"].get(key)
        what = f"the trained weight {key!r}"
        if isinstance(value, torch.Tensor):
            value = expect_tensor(value.cpu(), shape, torch.float32, what=what)
            finite = bool(torch.isfinite(value).all())
        else:
            value = expect_array(value, shape, what=what)
            finite = bool(np.isfinite(value).all())
        if not finite:
            raise CheckFailed(f"{what} holds NaN or inf: the training diverged")
        weights[key] = value
    losses = [float(loss) for loss in outcome["losses"] if isinstance(loss, (int, float))]
    return weights, losses


def _message(evaluation: Evaluation, losses: list[float]) -> str:
    final = f"; final training loss {losses[-1]:.4g} after {len(losses)} steps" if losses else ""
    return evaluation.summary() + final


def _plot(folder: Path, check: TrainingCheck, losses: list[float], evaluation: Evaluation) -> Path:
    """Write ``folder/<check name>.png``: the training loss per step (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    positive = [loss if loss > 0 and math.isfinite(loss) else float("nan") for loss in losses]
    axes.plot(range(1, len(positive) + 1), positive, linewidth=1)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title(f"{check.name}: {evaluation.metric} {evaluation.value:.4g}", fontsize=10)
    figure.tight_layout()
    target = folder / f"{check.name}.png"
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target

