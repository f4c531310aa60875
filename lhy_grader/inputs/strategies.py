"""Hypothesis building blocks shared by every topic: sizes, floats, arrays, tensors.

Topic-specific composites live next to them in ``inputs/<topic>.py`` and are built
from these, so magnitudes and shapes are chosen in one place.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Magnitudes for ordinary numeric checks, and for stability checks.
TYPICAL = 10.0
HUGE = 1e4


def sizes(lo: int = 1, hi: int = 6) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def floats(lo: float = -TYPICAL, hi: float = TYPICAL) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def arrays(shape: int | tuple[int, ...], lo: float = -TYPICAL, hi: float = TYPICAL,
           dtype: type = np.float64) -> st.SearchStrategy[np.ndarray]:
    """float arrays of a fixed shape with elements in [lo, hi] (shrinks towards 0)."""
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)
    return hnp.arrays(dtype, shape, elements=elements)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for bulk random inputs too big to draw element by element."""
    return st.integers(0, 2**32 - 1)


def gaussian(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """A deterministic standard-normal array from a drawn seed."""
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


def tensors(shape: tuple[int, ...], dtype=None, lo: float = -3.0, hi: float = 3.0):
    """torch tensors of a fixed shape, via NumPy arrays (dtype defaults to float32)."""
    import torch
    dtype = dtype or torch.float32
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    return arrays(shape, lo, hi, np_dtype).map(lambda a: torch.from_numpy(a.copy()).to(dtype))
