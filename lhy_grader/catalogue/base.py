"""What an exercise is: a catalogue function, its points, and the checks that grade it.

A check is trusted code. It builds inputs (``lhy_grader.inputs``), calls the
student's function through ``Trial.call`` (which runs it in the worker), and judges
the returned data with ``lhy_grader.compare``. It passes by returning and fails by
raising ``CheckFailed``.

Two kinds of checks::

    linear_model = Exercise("regression", "linear_model", points=2, arg_names=("x", "w", "b"))

    @linear_model.property("matches b + x·w", strategies.linear_inputs())
    def _(trial, ex):                      # ex: one hypothesis example, a dict of inputs
        expect_close(trial.call(**ex), ref.linear_model(**ex))

    @linear_model.check("handles one sample")
    def _(trial):                          # a plain check, free to call as it likes
        ...

Properties run under ``hypothesis.find``: on failure, the feedback shows the
smallest failing input hypothesis could shrink to.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import Flaky, NoSuchExample
from hypothesis.strategies import SearchStrategy

from lhy_grader.compare import CheckFailed, show_inputs
from lhy_grader.worker.client import CallResult, Worker, WorkerCrashed, WorkerProblem, WorkerTimeout

DEFAULT_EXAMPLES = 20


@dataclass
class Check:
    name: str
    run: Callable[["Trial"], None]
    weight: float = 1.0
    core: bool = False  # other checks earn credit only while every core check passes
    gate: bool = False  # when it fails, the whole exercise earns nothing (e.g. a forbidden call)


@dataclass
class Exercise:
    module: str
    function: str
    points: float
    arg_names: tuple[str, ...] = ()
    #: Dotted library names the student's function must not call (catalogue "*not*").
    forbidden: tuple[str, ...] = ()
    #: Wall-clock seconds allowed for one call (generous: student loops are slow).
    timeout: float = 5.0
    checks: list[Check] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.function}"

    def check(self, name: str, *, weight: float = 1.0, core: bool | None = None):
        """Register a plain check ``fn(trial)``. The first check of an exercise is its core check."""
        def register(fn: Callable[["Trial"], None]) -> Callable[["Trial"], None]:
            self.checks.append(Check(name, fn, weight, not self.checks if core is None else core))
            return fn
        return register

    def property(self, name: str, strategy: SearchStrategy, *, weight: float = 1.0,
                 core: bool | None = None, max_examples: int = DEFAULT_EXAMPLES):
        """Register a hypothesis property ``fn(trial, example)`` over dict-valued examples."""
        def register(body: Callable[["Trial", dict], None]) -> Callable:
            def run(trial: "Trial") -> None:
                run_property(trial, strategy, body, max_examples)
            self.checks.append(Check(name, run, weight, not self.checks if core is None else core))
            return body
        return register


class Trial:
    """One check of one exercise against one submission: the only door to student code."""

    def __init__(self, worker: Worker, exercise: Exercise, seed: int, device: str = "cpu",
                 effort: float = 1.0) -> None:
        self.worker = worker
        self.exercise = exercise
        self.seed = seed
        self.device = device
        self.effort = effort  # scales the number of examples every property tries
        self.rng = np.random.default_rng(seed)
        self.mutations: list[tuple[str, dict]] = []
        self.forbidden_called: list[str] = []
        self._inputs: dict[str, Any] = {}
        self.warnings: list[str] = []  # warnings raised during the most recent call
        self.calls = 0  # calls made so far; each call seeds the worker's global generators anew

    def call(self, *args: Any, function: str | None = None, **kwargs: Any) -> Any:
        """Call the student's function (or ``function`` of the same module) in the worker."""
        return self._call(function, args, kwargs).value

    def call_with_grad(self, *args: Any, grad_outputs: list[Any], function: str | None = None,
                       **kwargs: Any) -> tuple[Any, list[Any]]:
        """Call, then backpropagate ``grad_outputs`` (one per floating tensor output) in the
        worker; returns ``(output, grads)`` with one grad (or None) per input tensor that
        requires grad, in argument order."""
        value = self._call(function, args, kwargs, grad_outputs=grad_outputs).value
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list)):
            raise WorkerCrashed("the worker sent a malformed gradient reply")
        return value

    def _call(self, function: str | None, args: tuple, kwargs: dict, **extra: Any) -> CallResult:
        fn = function or self.exercise.function
        qualified = fn if "." in fn else f"{self.exercise.module}.{fn}"
        names = self.exercise.arg_names if qualified == self.exercise.name else ()
        self._inputs = {**{(names[i] if i < len(names) else f"arg{i + 1}"): a for i, a in enumerate(args)},
                        **kwargs}
        self.calls += 1
        result = self.worker.call(qualified, args, kwargs, timeout=self.exercise.timeout,
                                  forbidden=self.exercise.forbidden if qualified == self.exercise.name else (),
                                  arg_names=names, device=self.device,
                                  seed=(self.seed + self.calls) % 2**32, **extra)
        self.warnings = result.warnings
        if result.mutated:
            self.mutations.append((", ".join(result.mutated), dict(self._inputs)))
        for name in result.forbidden:
            if name not in self.forbidden_called:
                self.forbidden_called.append(name)
        return result


def run_property(trial: Trial, strategy: SearchStrategy, body: Callable[[Trial, dict], None],
                 max_examples: int) -> None:
    """Search for an input that fails ``body``; on failure re-raise with the smallest one.

    A timeout or a dead worker is not shrunk (each attempt would cost the full
    timeout): it is reported with the input that caused it.
    """
    stopped: tuple[WorkerProblem, dict] | None = None
    last_failing: dict | None = None

    def fails(example: dict) -> bool:
        nonlocal stopped, last_failing
        if stopped is not None:
            return True
        try:
            body(trial, example)
            return False
        except (WorkerTimeout, WorkerCrashed) as e:
            stopped = (e, example)
            return True
        except (CheckFailed, WorkerProblem):
            last_failing = example
            return True

    config = settings(max_examples=max(3, round(max_examples * trial.effort)), database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate, Phase.shrink],
                      suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    try:
        smallest = find(strategy, fails, settings=config, random=random.Random(trial.seed))
    except NoSuchExample:
        return
    except Flaky:  # the verdict on one input changed between runs: hypothesis refuses to shrink
        raise CheckFailed("gave a different result for the same input when run again (global randomness, "
                          "or state kept between calls?)\n"
                          f"Input that failed once:\n{show_inputs(last_failing or {})}") from None
    if stopped is not None:
        error, smallest = stopped
        error.add_note(f"Input:\n{show_inputs(smallest)}")
        raise error
    try:
        body(trial, smallest)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure.message}\nSmallest failing input:\n{show_inputs(smallest)}",
                          failure.hint) from None
    except WorkerProblem as e:
        e.add_note(f"Input:\n{show_inputs(smallest)}")
        raise
    raise CheckFailed(f"failed on this input once but not when run again (does it keep state?)\n"
                      f"Input:\n{show_inputs(smallest)}")


def check_seed(seed: int, *names: str) -> int:
    """A stable 63-bit seed for one check, derived from the run's seed and the check's names."""
    digest = hashlib.blake2b(repr((seed, *names)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
