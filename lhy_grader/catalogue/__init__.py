"""The catalogue: every graded exercise, one topic module per lecture module.

Topic modules are imported lazily, so grading ``regression`` never pays for
importing torch.
"""

from __future__ import annotations

import importlib
import importlib.util

from lhy_grader.catalogue.base import Check, Exercise, Trial

#: The submission's module files, in catalogue order (EXERCISES.md).
MODULES = ("regression", "backprop", "classification", "optimizers",
           "cnn", "attention", "transformer", "decoding", "pretraining")


def available_modules() -> tuple[str, ...]:
    """The catalogue modules that have checks in this version of the grader."""
    return tuple(m for m in MODULES if importlib.util.find_spec(f"lhy_grader.catalogue.{m}") is not None)


def exercises_of(module: str) -> list[Exercise]:
    return list(importlib.import_module(f"lhy_grader.catalogue.{module}").EXERCISES)


def all_exercises() -> list[Exercise]:
    return [ex for m in available_modules() for ex in exercises_of(m)]


def select(targets: tuple[str, ...] | list[str]) -> list[Exercise]:
    """Exercises named by ``targets`` (``module`` or ``module.function``), in catalogue order.

    Raises ``LookupError`` naming the first unknown target.
    """
    modules = available_modules()
    if not targets:
        return all_exercises()
    wanted: set[str] = set()
    for target in targets:
        module, _, function = target.partition(".")
        if module not in modules:
            raise LookupError(target)
        names = {ex.name for ex in exercises_of(module)}
        if function and target not in names:
            raise LookupError(target)
        wanted |= {target} if function else names
    named = {t.partition(".")[0] for t in targets}
    return [ex for m in modules if m in named for ex in exercises_of(m) if ex.name in wanted]


__all__ = ["Check", "Exercise", "Trial", "MODULES", "available_modules", "all_exercises",
           "exercises_of", "select"]
