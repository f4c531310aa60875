"""Grade the reference solution, or a buggy variant of it, for one exercise.

A variant is the solution file with source replacements applied, e.g.::

    result = grade_variant(worker, tmp_path, "regression.mse_loss",
                           {"np.mean((y_pred - y_true) ** 2)": "np.sum((y_pred - y_true) ** 2)"})
    assert_caught(result, check="matches mean", hint="sum of squares")
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lhy_grader import catalogue
from lhy_grader.compare.reference import solutions_folder
from lhy_grader.runner import ExerciseResult, grade_submission

SEED = 12345


def make_variant(folder: Path, module: str, replacements: dict[str, str] | None = None,
                 source: str | None = None) -> Path:
    """Copy all solutions into ``folder`` and patch ``module``; each replacement must apply."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in solutions_folder().glob("*.py"):
        if file.name != "__init__.py":
            shutil.copy(file, folder / file.name)
    target = folder / f"{module}.py"
    text = source if source is not None else target.read_text()
    for old, new in (replacements or {}).items():
        assert old in text, f"variant does not apply: {old!r} not found in {module}.py"
        text = text.replace(old, new)
    target.write_text(text)
    return folder


def grade_variant(worker, folder: Path, name: str, replacements: dict[str, str] | None = None,
                  source: str | None = None, seed: int = SEED) -> ExerciseResult:
    """Grade exercise ``name`` (``module.function``) of a patched copy of the solutions."""
    module = name.split(".")[0]
    make_variant(folder, module, replacements, source)
    (result,) = grade_submission(folder, catalogue.select([name]), seed=seed, worker=worker).exercises
    return result


def assert_full_marks(result: ExerciseResult) -> None:
    failed = [(c.name, c.message) for c in result.checks if not c.passed]
    assert result.score == result.max_score and result.status == "passed", failed


def assert_caught(result: ExerciseResult, check: str, hint: str | None = None,
                  message: str | None = None, status: str = "failed") -> None:
    """The variant lost points, on the check whose name contains ``check``, with that hint/message."""
    assert result.score < result.max_score, f"{result.name}: variant was not caught"
    assert result.status == status, (result.status, [(c.name, c.message) for c in result.checks])
    matching = [c for c in result.checks if check in c.name and not c.passed]
    assert matching, f"no failed check named like {check!r}: " + repr(
        [(c.name, c.passed, c.message) for c in result.checks])
    if hint is not None:
        assert any(c.hint and hint in c.hint for c in matching), [(c.message, c.hint) for c in matching]
    if message is not None:
        assert any(message in c.message for c in matching), [c.message for c in matching]
