"""Grade one submission in a trusted grading process, with a fresh confined worker.

A ``Grader`` lives in a grading process (a local slot or a Dask task's process).
It holds the catalogue, the reference solutions and the instructor seed; student
code runs only in workers forked, one per submission, by its ``ForkServer``,
which never sees the seed nor the references.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from lhy_grader import catalogue
from lhy_grader.runner import CheckResult, ExerciseResult, SubmissionResult, checks_of, grade_submission
from lhy_grader.training import TrainingOptions
from lhy_grader.worker.client import Worker, WorkerProblem
from lhy_grader.worker.launch import ForkServer
from lhy_grader.worker.limits import Limits
from lhy_grader.worker.sandbox import Policy


def make_setup(targets: list[str], no_train: bool, seed: int, limits: Limits, policy: Policy) -> dict:
    """Everything a grading process needs, as JSON (sent over a pipe or to Dask)."""
    return {"targets": list(targets), "no_train": no_train, "seed": int(seed), "limits": limits.to_json(),
            "policy": policy.to_json()}


def select_work(targets: list[str] | tuple[str, ...], no_train: bool) -> tuple[list[catalogue.Exercise], list]:
    """The exercises and training checks to grade, exactly as ``lhy-grade check`` selects them."""
    from lhy_grader.cli import select_targets
    return select_targets(tuple(targets), no_train)


def graded_names(exercises: list[catalogue.Exercise], trainings: list) -> list[str]:
    """The names of a result's entries, in order: the gradebook's columns."""
    return [ex.name for ex in exercises] + [check.name for check in trainings]


def refused_result(exercises: list[catalogue.Exercise], trainings: list, reason: str) -> SubmissionResult:
    """Everything at zero with ``reason``: for a submission that cannot be graded at all."""
    return SubmissionResult([
        *(ExerciseResult(ex.name, 0.0, float(ex.points), "error",
                         [CheckResult(c.name, False, reason) for c in checks_of(ex)]) for ex in exercises),
        *(ExerciseResult(check.name, 0.0, float(check.points), "error", [CheckResult(check.check, False, reason)])
          for check in trainings)])


class Grader:
    """Grades submissions one after another, each in a fresh worker."""

    def __init__(self, setup: dict) -> None:
        self.limits = Limits.from_json(setup["limits"])
        self.server = ForkServer(Policy.from_json(setup["policy"]), preload=("numpy", "torch"), limits=self.limits)
        self.server.start(wait=False)  # it imports numpy/torch while we load the catalogue
        self.exercises, self.trainings = select_work(setup["targets"], setup.get("no_train", False))
        self.seed = int(setup["seed"])

    def isolation(self) -> dict:
        self.server.start()
        return self.server.isolation.to_json()

    def grade(self, student: str, folder: Path) -> dict:
        """The outcome for one student: ``{"student", "result", "output", "seconds"}``."""
        started = time.perf_counter()
        output = ""
        try:
            worker = Worker(self.limits, preload=(), launcher=self.server)
        except WorkerProblem as e:
            result = refused_result(self.exercises, self.trainings, f"the grader could not start a worker: {e}")
        else:
            try:
                training = TrainingOptions(self.trainings) if self.trainings else None
                result = grade_submission(folder, self.exercises, seed=self.seed, worker=worker, training=training)
            except Exception as e:  # a fault of the grader: the student still gets a row, and the reason
                result = refused_result(self.exercises, self.trainings, f"internal grading error ({type(e).__name__}: {e}); "
                                                        f"please tell your instructor")
                output = traceback.format_exc(limit=5)
            finally:
                worker.close()
            output = worker.output_text() + output
        return {"student": student, "result": result.to_json(), "output": output,
                "seconds": time.perf_counter() - started}

    def close(self) -> None:
        self.server.close()
