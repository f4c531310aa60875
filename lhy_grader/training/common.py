"""Pieces shared by the training tasks, on both sides of the worker boundary.

A task's model is written once, against a mapping ``{module name: module}``: inside the
worker it gets the student's modules (``student_modules``), in the grader the reference
solutions (``lhy_grader.training.grading.reference_modules``), so the grader scores the
weights the worker returns with an architecture it trusts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

#: (step, total steps, training loss) → None; answered in the grader (a progress bar).
ProgressFn = Callable[[int, int, float], None]
#: Calls a submission function in the worker (grader side): ``call("decoding.beam_search", *args)``.
StudentCall = Callable[..., Any]


@dataclass(frozen=True)
class Evaluation:
    """What the grader measured on held-out data with the trained weights."""
    metric: str              # e.g. "held-out accuracy"
    value: float
    threshold: float
    higher_is_better: bool
    data: str                # what it was measured on

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.higher_is_better else self.value <= self.threshold

    def summary(self) -> str:
        need = "≥" if self.higher_is_better else "≤"
        return f"{self.metric} {self.value:.4g} (needs {need} {self.threshold:g}) on {self.data}"


def student_modules(*names: str) -> dict[str, ModuleType]:
    """The submission's modules loaded in this worker (by their plain names)."""
    missing = [name for name in names if name not in sys.modules]
    if missing:
        raise RuntimeError(f"the submission's {', '.join(missing)} module(s) are not loaded")
    return {name: sys.modules[name] for name in names}


class Reporter:
    """Sends the training loss to the grader every ``every`` steps (and at the last one)."""

    def __init__(self, progress: ProgressFn | None, total: int, every: int) -> None:
        self.progress, self.total, self.every = progress, total, every
        self.losses: list[float] = []

    def __call__(self, step: int, loss: float) -> None:
        """Record the loss of ``step`` (1-based)."""
        self.losses.append(float(loss))
        if self.progress is not None and (step % self.every == 0 or step == self.total):
            self.progress(step, self.total, float(loss))


def seeded_normal(generator: torch.Generator, shape: tuple[int, ...], std: float) -> torch.Tensor:
    """A float32 CPU tensor of N(0, std²) entries drawn from ``generator``."""
    return torch.randn(shape, generator=generator) * std


def attention_weights(generator: torch.Generator, prefix: str, d_model: int) -> dict[str, torch.Tensor]:
    """``{prefix}w_q … {prefix}w_o``: [D, D] projections, Xavier-scaled."""
    return {f"{prefix}w_{name}": seeded_normal(generator, (d_model, d_model), d_model ** -0.5)
            for name in ("q", "k", "v", "o")}


def feed_forward_weights(generator: torch.Generator, d_model: int, d_ff: int) -> dict[str, torch.Tensor]:
    return {"w1": seeded_normal(generator, (d_model, d_ff), d_model ** -0.5), "b1": torch.zeros(d_ff),
            "w2": seeded_normal(generator, (d_ff, d_model), d_ff ** -0.5), "b2": torch.zeros(d_model)}


def norm_weights(names: tuple[str, ...], d_model: int) -> dict[str, torch.Tensor]:
    """``{name}_gamma`` = 1 and ``{name}_beta`` = 0 for each layer norm."""
    return {key: value for name in names
            for key, value in ((f"{name}_gamma", torch.ones(d_model)), (f"{name}_beta", torch.zeros(d_model)))}


def encoder_block_weights(generator: torch.Generator, d_model: int, d_ff: int) -> dict[str, torch.Tensor]:
    """A fresh ``params`` dict for ``encoder_block``."""
    return {**attention_weights(generator, "", d_model), **feed_forward_weights(generator, d_model, d_ff),
            **norm_weights(("ln1", "ln2"), d_model)}


def decoder_block_weights(generator: torch.Generator, d_model: int, d_ff: int) -> dict[str, torch.Tensor]:
    """A fresh ``params`` dict for ``decoder_block``."""
    return {**attention_weights(generator, "self_", d_model), **attention_weights(generator, "cross_", d_model),
            **feed_forward_weights(generator, d_model, d_ff), **norm_weights(("ln1", "ln2", "ln3"), d_model)}


def with_prefix(params: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + key: value for key, value in params.items()}


def without_prefix(params: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``params`` whose names start with ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in params.items() if key.startswith(prefix)}


def trainable(params: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    """Copies on ``device`` that require grad."""
    return {key: value.to(device).requires_grad_(True) for key, value in params.items()}


def train_with_adam(params: dict[str, torch.Tensor], loss_fn: Callable[[int], torch.Tensor], steps: int,
                    lr: float, report: Reporter) -> dict[str, torch.Tensor]:
    """``steps`` steps of ``torch.optim.Adam`` on ``loss_fn(step)`` (step 1-based), with a
    linear decay of the learning rate to 10% at the end; returns detached CPU weights."""
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0 - 0.9 * i / steps)
    for step in range(1, steps + 1):
        loss = loss_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        report(step, loss.item())
    return {key: value.detach().cpu() for key, value in params.items()}


def fresh_rows(rng: np.random.Generator, draw: Callable[[np.random.Generator, int], np.ndarray],
               count: int, seen: set[bytes]) -> np.ndarray:
    """``count`` rows from ``draw`` that are not in ``seen`` (rows as bytes) nor repeated."""
    rows: list[np.ndarray] = []
    taken = set(seen)
    while len(rows) < count:
        for row in draw(rng, count):
            key = row.tobytes()
            if key not in taken and len(rows) < count:
                taken.add(key)
                rows.append(row)
    return np.stack(rows)
