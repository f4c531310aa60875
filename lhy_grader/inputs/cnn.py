"""Inputs for the Lecture 3 exercises: convolution, pooling, the spatial transformer.

Shapes, strides and paddings are drawn by hypothesis (and shrink); the tensor
values come from a drawn seed, so that an example stays small to show. Values are
chosen away from the points where the oracles are not differentiable: max-pool
inputs are distinct (a unique maximum in every window), and sampling positions
never fall on a pixel centre of the input (where bilinear interpolation has a kink).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from lhy_grader.inputs.strategies import seeds, sizes

#: Both floating dtypes are graded.
DTYPES = (torch.float32, torch.float64)


def dtypes() -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(DTYPES)


def as_tensor(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values)).to(dtype)


def gaussian_tensor(rng: np.random.Generator, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return as_tensor(rng.normal(size=shape), dtype)


def distinct_tensor(rng: np.random.Generator, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Distinct values, multiples of 0.25 centred on 0 (exact in float32): no ties anywhere."""
    count = int(np.prod(shape))
    return as_tensor(((rng.permutation(count) - count // 2) * 0.25).reshape(shape), dtype)


def off_centre_positions(rng: np.random.Generator, shape: tuple[int, ...], pixels: int,
                         first: int = -2, last: int | None = None) -> np.ndarray:
    """Normalised coordinates ``(2u + 1)/pixels − 1`` of pixel positions ``u`` whose integer part
    lies in [first, last] (default: from fully outside the image, u < −1, to fully outside
    beyond the far side, u > pixels) and whose fractional part lies in [0.05, 0.95]."""
    last = pixels if last is None else last
    u = rng.integers(first, last + 1, size=shape) + rng.uniform(0.05, 0.95, size=shape)
    return (2 * u + 1) / pixels - 1


@st.composite
def conv_inputs(draw, max_size: int = 7) -> dict:
    """x [N, C, H, W], weight [O, C, kh, kw], bias [O] or None, stride, padding."""
    dtype = draw(dtypes())
    n, c, o = draw(sizes(1, 2)), draw(sizes(1, 3)), draw(sizes(1, 3))
    kh, kw = draw(sizes(1, 3)), draw(sizes(1, 3))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * padding), max_size))
    w = draw(st.integers(max(1, kw - 2 * padding), max_size))
    with_bias = draw(st.booleans())
    rng = np.random.default_rng(draw(seeds()))
    return {"x": gaussian_tensor(rng, (n, c, h, w), dtype),
            "weight": gaussian_tensor(rng, (o, c, kh, kw), dtype),
            "bias": gaussian_tensor(rng, (o,), dtype) if with_bias else None,
            "stride": stride, "padding": padding}


@st.composite
def pool_inputs(draw, max_size: int = 7) -> dict:
    """x [N, C, H, W] of distinct values, kernel_size, and stride (left out half of the time: the default)."""
    dtype = draw(dtypes())
    n, c = draw(sizes(1, 2)), draw(sizes(1, 2))
    kernel_size = draw(sizes(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    h, w = draw(st.integers(kernel_size, max_size)), draw(st.integers(kernel_size, max_size))
    rng = np.random.default_rng(draw(seeds()))
    example = {"x": distinct_tensor(rng, (n, c, h, w), dtype), "kernel_size": kernel_size}
    return example if stride is None else {**example, "stride": stride}


@st.composite
def affine_inputs(draw, max_size: int = 5) -> dict:
    """theta [N, 2, 3] and the output size (N, C, H, W)."""
    dtype = draw(dtypes())
    n, c = draw(sizes(1, 2)), draw(sizes(1, 3))
    h, w = draw(sizes(1, max_size)), draw(sizes(1, max_size))
    rng = np.random.default_rng(draw(seeds()))
    return {"theta": gaussian_tensor(rng, (n, 2, 3), dtype), "size": (n, c, h, w)}


@st.composite
def sampling_inputs(draw, max_size: int = 5, max_out: int = 4) -> dict:
    """x [N, C, H, W] and grid [N, Ho, Wo, 2] of positions inside, across and outside the border."""
    dtype = draw(dtypes())
    n, c = draw(sizes(1, 2)), draw(sizes(1, 2))
    h, w = draw(sizes(2, max_size)), draw(sizes(2, max_size))  # one pixel blurs the hints
    ho, wo = draw(sizes(1, max_out)), draw(sizes(1, max_out))
    rng = np.random.default_rng(draw(seeds()))
    grid = np.stack([off_centre_positions(rng, (n, ho, wo), w),
                     off_centre_positions(rng, (n, ho, wo), h)], axis=-1)
    # The first position of every image lies inside: an output that depends on no input at all
    # (every position outside) cannot be backpropagated through.
    grid[:, 0, 0] = np.stack([off_centre_positions(rng, (n,), w, 0, w - 2),
                              off_centre_positions(rng, (n,), h, 0, h - 2)], axis=-1)
    return {"x": gaussian_tensor(rng, (n, c, h, w), dtype), "grid": as_tensor(grid, dtype)}
