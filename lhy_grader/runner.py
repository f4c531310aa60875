"""Grade one submission: catalogue → inputs → untrusted call in a worker → trusted compare.

The runner owns the policy that turns check outcomes into a score and a status;
``report`` renders the result; the CLI, batch grading, notebooks and Gradescope all
come through ``grade_submission``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from lhy_grader.catalogue import Exercise, Trial
from lhy_grader.catalogue.base import Check, check_seed
from lhy_grader.compare import CheckFailed
from lhy_grader.compare.forbidden import forbidden_uses
from lhy_grader.worker.client import (NotImplementedYet, StudentRaised, Worker, WorkerCrashed,
                                      WorkerProblem, WorkerTimeout)

if TYPE_CHECKING:
    from lhy_grader.training import TrainingOptions

PUBLIC_SEED = 2021
STATUSES = ("passed", "failed", "error", "timeout", "not_implemented", "missing")
MUTATION_CHECK = "leaves its inputs unchanged"


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""
    hint: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "passed": self.passed, "message": self.message, "hint": self.hint}


@dataclass
class ExerciseResult:
    name: str
    score: float
    max_score: float
    status: str
    checks: list[CheckResult] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "score": float(self.score), "max_score": float(self.max_score),
                "status": self.status, "checks": [c.to_json() for c in self.checks]}


@dataclass
class SubmissionResult:
    exercises: list[ExerciseResult]

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 4)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises), 4)

    def to_json(self) -> dict:
        return {"score": self.score, "max_score": self.max_score,
                "exercises": [e.to_json() for e in self.exercises]}


def forbidden_check(ex: Exercise) -> Check:
    return Check(f"does not call {', '.join(ex.forbidden)}", lambda trial: None, 1.0, core=True, gate=True)


def mutation_check() -> Check:
    return Check(MUTATION_CHECK, lambda trial: None, 0.5, core=False)


def checks_of(ex: Exercise) -> list[Check]:
    """The checks an exercise is graded with: the forbidden-call check, the catalogue's
    own checks, and the input-mutation check."""
    extra_first = [forbidden_check(ex)] if ex.forbidden else []
    return [*extra_first, *ex.checks, mutation_check()]


def grade_submission(path: Path, exercises: list[Exercise], *, seed: int = PUBLIC_SEED,
                     device: str = "cpu", worker: Worker | None = None, effort: float = 1.0,
                     on_exercise: Callable[[Exercise], None] | None = None,
                     training: TrainingOptions | None = None) -> SubmissionResult:
    """Grade ``exercises`` of the submission folder ``path``; never raises for student faults.

    ``effort`` scales how many examples each property tries (1 for students, more for instructors).
    ``training`` adds the small-model training checks after the exercises (``lhy_grader.training``).
    """
    modules = tuple(dict.fromkeys([*(ex.module for ex in exercises), *(training.modules if training else ())]))
    if _needs_torch(modules):
        import torch
        torch.set_num_threads(1)  # the grader's oracles run on tiny tensors: threads only add overhead
    own_worker = worker is None
    worker = worker or Worker(preload=("numpy", "torch") if _needs_torch(modules) else ("numpy",))
    try:
        try:
            report = worker.load(path, modules)
        except WorkerProblem as e:
            report = {m: {"status": "error", "message": f"could not load the submission: {e}"} for m in modules}
        results = []
        for ex in exercises:
            if on_exercise is not None:
                on_exercise(ex)
            results.append(grade_exercise(worker, ex, path, report[ex.module], seed, device, effort))
        if training is not None and training.checks:
            from lhy_grader.training.grading import grade_trainings
            results += grade_trainings(worker, path, training, report, {r.name: r for r in results},
                                       seed=seed, device=device, effort=effort)
        return SubmissionResult(results)
    finally:
        if own_worker:
            worker.close()


def _needs_torch(modules: tuple[str, ...]) -> bool:
    return any(m in ("cnn", "attention", "transformer", "decoding", "pretraining") for m in modules)


def _all_failed(ex: Exercise, status: str, message: str) -> ExerciseResult:
    return ExerciseResult(ex.name, 0.0, float(ex.points), status,
                          [CheckResult(c.name, False, message) for c in checks_of(ex)])


def grade_exercise(worker: Worker, ex: Exercise, path: Path, module_report: dict, seed: int,
                   device: str, effort: float = 1.0) -> ExerciseResult:
    file_name = f"{ex.module}.py"
    if module_report["status"] == "missing":
        return _all_failed(ex, "missing", f"{file_name} not found in the submission")
    if module_report["status"] == "error":
        return _all_failed(ex, "error", f"{file_name} failed to import: {module_report['message']}")
    if ex.function not in module_report.get("functions", []):
        return _all_failed(ex, "missing", f"{file_name} has no function {ex.function}")

    outcomes: list[tuple[Check, CheckResult, str]] = []  # (check, result, problem kind)
    mutations: list[tuple[str, dict]] = []
    forbidden_seen = forbidden_uses(Path(path) / file_name, ex.function, ex.forbidden)
    for check in ex.checks:
        if any(kind == "timeout" for _, _, kind in outcomes):  # each further call would hang as long
            outcomes.append((check, CheckResult(check.name, False, "not run: an earlier check timed out"),
                             "timeout"))
            continue
        trial = Trial(worker, ex, check_seed(seed, ex.name, check.name), device, effort)
        result, kind = _run_check(check, trial)
        if kind == "not_implemented":
            return _all_failed(ex, "not_implemented", _not_implemented_message(ex, result.message))
        outcomes.append((check, result, kind))
        mutations += trial.mutations
        forbidden_seen += [n for n in trial.forbidden_called if n not in forbidden_seen]

    if ex.forbidden:
        names = ", ".join(forbidden_seen)
        outcomes.insert(0, (forbidden_check(ex), CheckResult(
            forbidden_check(ex).name, not forbidden_seen,
            f"{ex.function} calls {names}: the exercise is to implement it without that" if forbidden_seen else ""),
            ""))
    outcomes.append((mutation_check(), _mutation_result(ex, mutations), ""))
    return _score(ex, outcomes)


def _run_check(check: Check, trial: Trial) -> tuple[CheckResult, str]:
    try:
        check.run(trial)
        return CheckResult(check.name, True), ""
    except CheckFailed as e:
        return CheckResult(check.name, False, e.message, e.hint), ""
    except NotImplementedYet as e:
        return CheckResult(check.name, False, str(e)), "not_implemented"
    except WorkerTimeout as e:
        return CheckResult(check.name, False, _with_notes(
            f"timed out: the function {e} — a timeout, not a wrong answer, cost these points "
            f"(an infinite loop, or much slower than needed)", e)), "timeout"
    except StudentRaised as e:
        return CheckResult(check.name, False, _with_notes(f"raised {e}", e)), "error"
    except WorkerCrashed as e:
        return CheckResult(check.name, False, _with_notes(f"the worker running your code died: {e}", e)), "error"


def _not_implemented_message(ex: Exercise, raised: str) -> str:
    """Say which file to write first when the NotImplementedError comes from another module
    (e.g. `encoder_block` calling a student's unfinished `multi_head_attention`)."""
    where = re.search(r"\((\w+)\.py:(\d+)\)$", raised)
    if where and where.group(1) != ex.module:
        return (f"{ex.function} calls code that still raises NotImplementedError "
                f"({where.group(1)}.py line {where.group(2)}): implement that first")
    return f"{ex.function} still raises NotImplementedError"


def _with_notes(text: str, e: BaseException) -> str:
    return "\n".join([text, *getattr(e, "__notes__", [])])


def _mutation_result(ex: Exercise, mutations: list[tuple[str, dict]]) -> CheckResult:
    if not mutations:
        return CheckResult(MUTATION_CHECK, True)
    from lhy_grader.compare import show_inputs
    names, inputs = mutations[0]
    return CheckResult(MUTATION_CHECK, False,
                       f"{ex.function} modified its argument(s) {names} in place; return new arrays instead.\n"
                       f"Input before the call:\n{show_inputs(inputs)}",
                       "an in-place operation (`x += ...`, `x[...] = ...`, `x.mul_(...)`) on an input")


def _score(ex: Exercise, outcomes: list[tuple[Check, CheckResult, str]]) -> ExerciseResult:
    """Points are spread over the checks by weight; non-core checks earn only while all core
    checks pass; a failed gate check (a forbidden call: the exercise was skipped) earns nothing."""
    core_ok = all(r.passed for c, r, _ in outcomes if c.core)
    shortcut = any(c.gate and not r.passed for c, r, _ in outcomes)
    total = sum(c.weight for c, _, _ in outcomes)
    earned = 0.0
    for check, result, _ in outcomes:
        if result.passed and not shortcut and (check.core or core_ok):
            earned += check.weight
        elif result.passed:
            result.message = ("passed, but earns no credit while a gate check fails" if shortcut
                              else "passed, but earns credit only once the main check passes")
    score = round(ex.points * earned / total, 4) if total else 0.0
    kinds = {kind for _, r, kind in outcomes if not r.passed}
    if all(r.passed for _, r, _ in outcomes):
        status = "passed"
    elif "timeout" in kinds:
        status = "timeout"
    elif "error" in kinds:
        status = "error"
    else:
        status = "failed"
    return ExerciseResult(ex.name, score, float(ex.points), status, [r for _, r, _ in outcomes])
