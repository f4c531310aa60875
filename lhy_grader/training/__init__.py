"""Small-model training checks: models built from the student's own functions learn a task.

Each check is graded in three stages (``lhy_grader.training.grading``):

1. the function checks of every function it needs must pass (otherwise the check is
   skipped, naming the functions to fix first);
2. the task module's ``train`` routine runs INSIDE the worker
   (``Worker.run_routine``), calling the submission's functions, and returns the
   trained weights and the training losses;
3. the grader scores those weights with the reference architecture on held-out data
   the worker never saw: a worker that reports a fake result earns nothing.

Selected as ``train`` (all of them) or ``train.<name>``. This module stays light: the
worker imports the task modules below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class TrainingCheck:
    name: str                     # "train.<name>" in reports
    check: str                    # what its single check says it verifies
    task: str                     # module under lhy_grader.training: train(), evaluate(), ...
    requires: tuple[str, ...]     # exercises whose checks must pass first
    points: float = 4.0
    timeout: float = 180.0        # wall clock for the training routine in the worker

    @property
    def modules(self) -> tuple[str, ...]:
        """The submission modules the training uses."""
        return tuple(dict.fromkeys(name.split(".")[0] for name in self.requires))


TRAININGS = (
    TrainingCheck("train.regression_fit",
                  "a 1-128-1 ReLU network (mlp_forward, mlp_backward, adam_step) fits the lecture's "
                  "piecewise-linear curve",
                  "regression_fit", ("backprop.mlp_forward", "backprop.mlp_backward", "optimizers.adam_step")),
    TrainingCheck("train.seq2seq_reversal",
                  "a tiny Transformer (encoder_block, decoder_block, sinusoidal_positional_encoding, shift_right) "
                  "learns to reverse sequences, decoded by beam_search",
                  "seq2seq", ("attention.sinusoidal_positional_encoding", "transformer.encoder_block",
                              "transformer.decoder_block", "transformer.shift_right", "decoding.beam_search")),
    TrainingCheck("train.masked_lm",
                  "a tiny BERT (encoder_block, sinusoidal_positional_encoding) trained with mlm_mask fills in "
                  "masked words of a synthetic language",
                  "masked_lm", ("attention.sinusoidal_positional_encoding", "transformer.encoder_block",
                                "pretraining.mlm_mask")),
)


def is_training_target(target: str) -> bool:
    return target == "train" or target.startswith("train.")


def select(targets: tuple[str, ...] | list[str]) -> list[TrainingCheck]:
    """The training checks named by ``targets`` (``train`` or ``train.<name>``; none: all).

    Raises ``LookupError`` naming the first unknown target.
    """
    if not targets:
        return list(TRAININGS)
    names = {check.name for check in TRAININGS}
    for target in targets:
        if target != "train" and target not in names:
            raise LookupError(target)
    return [check for check in TRAININGS if "train" in targets or check.name in targets]


@dataclass
class TrainingOptions:
    """What ``grade_submission`` needs to run training checks."""
    checks: list[TrainingCheck]
    #: Folder for one loss-curve PNG per check (None: no plots).
    plots: Path | None = None
    #: (check name, step, total steps, training loss), called in the grader while training runs.
    on_progress: Callable[[str, int, int, float], None] | None = None

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(module for check in self.checks for module in check.modules))
