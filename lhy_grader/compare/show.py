"""Short, readable renderings of inputs and outputs for feedback messages."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

MAX_CHARS = 400


def show(value: Any) -> str:
    """One value as a student would write it, cut to a readable length."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        arr = value.detach().cpu().numpy()
        extra = "" if value.dtype == torch.float32 else f", dtype={str(value.dtype)}"
        return _cut(f"tensor({_array_text(arr)}{extra})") + _shape_note(arr)
    if isinstance(value, np.ndarray):
        extra = "" if value.dtype == np.float64 else f", dtype={value.dtype}"
        return _cut(f"array({_array_text(value)}{extra})") + _shape_note(value)
    if isinstance(value, (np.generic,)):
        return show(value.item())
    if isinstance(value, float):
        return repr(value) if len(repr(value)) <= 12 else f"{value:.6g}"
    if isinstance(value, tuple):
        return _cut("(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")")
    if isinstance(value, list):
        return _cut("[" + ", ".join(show(v) for v in value) + "]")
    if isinstance(value, dict):
        return _cut("{" + ", ".join(f"{k!r}: {show(v)}" for k, v in value.items()) + "}")
    if callable(value):
        return getattr(value, "description", None) or getattr(value, "__name__", "a function")
    return _cut(repr(value))


def show_inputs(inputs: dict[str, Any]) -> str:
    """`name = value` lines for the inputs of a failing call."""
    return "\n".join(f"  {name} = {show(value)}" for name, value in inputs.items())


def _array_text(arr: np.ndarray) -> str:
    if arr.size == 0:
        return f"[] with shape {tuple(arr.shape)}"
    return np.array2string(arr, precision=4, separator=", ", threshold=24, edgeitems=2,
                           suppress_small=False, max_line_width=100)


def _shape_note(arr: np.ndarray) -> str:
    return f"  # shape {tuple(arr.shape)}" if arr.ndim > 1 or arr.size > 24 else ""


def _cut(text: str) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
