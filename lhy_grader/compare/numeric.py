"""Validation and numeric comparison of a student's output, with hints.

Every ``expect_*`` function either returns a clean, plain value ready for
comparison or raises ``CheckFailed`` with a one-paragraph message.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping

import numpy as np

from lhy_grader.compare.show import show


class CheckFailed(Exception):
    """A check's verdict: what is wrong, and (optionally) a hint naming the likely mistake."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    from lhy_grader.worker.codec import Opaque
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}"


def expect_array(got: Any, shape: tuple[int, ...], *, what: str = "the result",
                 kind: str = "f") -> np.ndarray:
    """A NumPy array of the given shape and dtype kind ('f' float, 'i' integer, 'b' bool)."""
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"{what} should be a NumPy array of shape {shape}, got {_type_name(got)}")
    if tuple(got.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {got.shape}, expected {tuple(shape)}")
    kinds = {"f": "f", "i": "iu", "b": "b"}[kind]
    if got.dtype.kind not in kinds:
        wanted = {"f": "a floating", "i": "an integer", "b": "a boolean"}[kind]
        raise CheckFailed(f"{what} has dtype {got.dtype}, expected {wanted} dtype")
    return got


def expect_tensor(got: Any, shape: tuple[int, ...], dtype: Any, *, device: Any = "cpu",
                  what: str = "the result") -> Any:
    """A torch tensor of exactly this shape, dtype and device."""
    import torch
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what} should be a tensor of shape {tuple(shape)}, got {_type_name(got)}")
    if tuple(got.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {tuple(got.shape)}, expected {tuple(shape)}")
    if got.dtype != dtype:
        raise CheckFailed(f"{what} has dtype {got.dtype}, expected {dtype} (the input's dtype)")
    if torch.device(device).type != got.device.type:
        raise CheckFailed(f"{what} is on {got.device}, expected {device} (the input's device)")
    return got


def expect_float(got: Any, *, what: str = "the result") -> float:
    """A Python float (NumPy scalars and 0-d arrays/tensors are accepted)."""
    torch = sys.modules.get("torch")
    if isinstance(got, (float, int, np.floating, np.integer)) and not isinstance(got, bool):
        return float(got)
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in "fiu":
        return float(got)
    if torch is not None and isinstance(got, torch.Tensor) and got.dim() == 0:
        return float(got)
    raise CheckFailed(f"{what} should be a float, got {_type_name(got)}")


def expect_int_list(got: Any, *, what: str = "the result") -> list[int]:
    """A list of Python ints (NumPy/torch integers are accepted)."""
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(f"{what} should be a list of ints, got {_type_name(got)}")
    out = []
    for item in got:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise CheckFailed(f"{what} should hold ints, found {_type_name(item)}")
        out.append(int(item))
    return out


def expect_equal(got: Any, expected: Any, *, what: str = "the result",
                 mistakes: Mapping[str, Any] | None = None) -> None:
    """Exact equality for discrete results (labels, token lists, strings, masks)."""
    if _equal(got, expected):
        return
    raise CheckFailed(f"{what} is {show(got)}, expected {show(expected)}",
                      _hint(got, mistakes, lambda a, b: _equal(a, b)))


def _equal(a: Any, b: Any) -> bool:
    torch = sys.modules.get("torch")
    if torch is not None and (isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and bool((a.cpu() == b.cpu()).all()))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and bool(np.array_equal(a, b)))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    numbers = (int, float, np.integer, np.floating)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return isinstance(a, (bool, np.bool_)) == isinstance(b, (bool, np.bool_)) and a == b
    return type(a) is type(b) and a == b


def _as_float64(value: Any) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy()
    return np.asarray(value, dtype=np.float64)


def close_enough(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    g, e = _as_float64(got), _as_float64(expected)
    return g.shape == e.shape and bool(np.all(np.isfinite(g) == np.isfinite(e))) and \
        bool(np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True))


def matches(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """True when ``got`` equals ``expected`` within tolerance (same shape); never raises."""
    try:
        return close_enough(got, expected, rtol, atol)
    except (TypeError, ValueError):
        return False


def expect_close(got: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8,
                 what: str = "the result",
                 mistakes: Mapping[str, Any | Callable[[], Any]] | None = None) -> None:
    """``got`` must equal ``expected`` elementwise within ``atol + rtol·|expected|``.

    ``mistakes`` maps a hint to what a known mistake would have returned (or a
    function computing it, called only on failure); the first one ``got`` matches
    becomes the hint.
    """
    g, e = _as_float64(got), _as_float64(expected)
    if g.shape != e.shape:
        raise CheckFailed(f"{what} has shape {g.shape}, expected {e.shape}",
                          _hint(got, mistakes, lambda a, b: matches(a, b, rtol, atol)))
    bad_finite = ~np.isfinite(g) & np.isfinite(e)
    if bad_finite.any():
        idx = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        raise CheckFailed(
            f"{what} holds {g[idx]} at index {idx if g.ndim else '()'} where {e[idx]:.6g} was expected",
            _hint(got, mistakes, lambda a, b: matches(a, b, rtol, atol)))
    if close_enough(g, e, rtol, atol):
        return
    err = np.abs(g - e)
    err = np.where(np.isnan(err), np.inf, err)
    excess = err - (atol + rtol * np.abs(e))
    idx = np.unravel_index(int(np.argmax(excess)), e.shape) if e.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if e.ndim else ""
    rel = f", rel error {err[idx] / abs(float(e[idx])):.3g} there" if e[idx] != 0 else ""
    message = (f"{what} differs from the expected value{where}: expected {float(e[idx]):.6g}, "
               f"got {float(g[idx]):.6g} (max abs error {float(err.max()):.3g}{rel}; "
               f"tolerance {atol:g} + {rtol:g}·|expected|)")
    if e.ndim and e.size <= 12:
        message += f"\n  expected {show(expected)}\n  got      {show(got)}"
    raise CheckFailed(message, _hint(got, mistakes, lambda a, b: matches(a, b, rtol, atol)))


def _hint(got: Any, mistakes: Mapping[str, Any] | None, same: Callable[[Any, Any], bool]) -> str | None:
    """The known mistakes ``got`` is consistent with (several can coincide on a small input)."""
    found = []
    for hint, variant in (mistakes or {}).items():
        try:
            value = variant() if callable(variant) else variant
        except Exception:
            continue
        if value is not None and same(got, value):
            found.append(hint)
    return " — or: ".join(found) or None
