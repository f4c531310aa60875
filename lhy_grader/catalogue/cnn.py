"""Checks for cnn.py (Lecture 3: CNN and the spatial transformer layer).

The oracles are PyTorch's own ``F.conv2d``, ``F.max_pool2d``, ``F.affine_grid`` and
``F.grid_sample`` (values, and gradients through torch autograd), on float32 and
float64 inputs. Student code may loop over output pixels in Python, hence the
generous per-call timeout.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from lhy_grader.catalogue.base import Exercise
from lhy_grader.compare import CheckFailed, expect_close, expect_tensor, matches
from lhy_grader.inputs import cnn as inputs
from lhy_grader.worker.client import StudentRaised

#: Per-call wall-clock limit: room for a correct implementation with Python loops.
LOOP_TIMEOUT = 10.0

TOLERANCES = {torch.float32: {"rtol": 1e-4, "atol": 1e-4}, torch.float64: {"rtol": 1e-9, "atol": 1e-10}}

Mistakes = dict[str, Callable[[], Any]]  # hint -> what the mistake returns (a tensor or a list of candidates)


def expect_output(trial, got: Any, expected: torch.Tensor, *, what: str = "the result",
                  mistakes: Mistakes | None = None) -> None:
    """``got`` must be a tensor of ``expected``'s shape and dtype on the trial's device, equal to it
    within the dtype's tolerance; on failure, the hints of the mistakes ``got`` matches are named."""
    tolerance = TOLERANCES[expected.dtype]
    hints = {hint: _closest(got, variant, tolerance) for hint, variant in (mistakes or {}).items()}
    if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(expected.shape):
        expect_close(got, expected, what=what, mistakes=hints, **tolerance)  # a shape error, with hints
    expect_tensor(got, tuple(expected.shape), expected.dtype, device=trial.device, what=what)
    expect_close(got, expected, what=what, mistakes=hints, **tolerance)


def _closest(got: Any, variant: Callable[[], Any], tolerance: dict) -> Callable[[], Any]:
    """A mistake with several possible outcomes counts when ``got`` matches any of them."""
    def value() -> Any:
        candidates = variant()
        if not isinstance(candidates, list):
            return candidates
        return next((c for c in candidates if c is not None and matches(got, c, **tolerance)), None)
    return value


def expect_gradients(trial, ex: dict, wrt: tuple[str, ...], oracle: Callable[..., torch.Tensor]) -> None:
    """Backpropagate one random output gradient through the student's function and through
    ``oracle``; the gradients w.r.t. the inputs named in ``wrt`` (those not None) must agree."""
    args = {k: v.detach().clone().requires_grad_(True) if k in wrt and v is not None else v
            for k, v in ex.items()}
    names = [k for k in args if k in wrt and args[k] is not None]
    expected = oracle(**args)
    grad_output = inputs.gaussian_tensor(np.random.default_rng(trial.seed), tuple(expected.shape),
                                         expected.dtype)
    expected_grads = torch.autograd.grad(expected, [args[k] for k in names], grad_output)
    try:
        got, grads = trial.call_with_grad(**args, grad_outputs=[grad_output])
    except StudentRaised:
        _expect_values_first(trial, trial.call(**ex), expected.detach())  # a wrong shape breaks backward
        raise
    _expect_values_first(trial, got, expected.detach())
    for name, got_grad, expected_grad in zip(names, grads, expected_grads):
        if got_grad is None:
            raise CheckFailed(f"no gradient reached {name}: the result does not depend on {name} "
                              f"through autograd", f"keep {name} in the computation graph "
                              f"(no .detach(), .data, .item(), .numpy() or torch.tensor(...) re-wrapping)")
        expect_output(trial, got_grad, expected_grad, what=f"the gradient w.r.t. {name}")


def _expect_values_first(trial, got: Any, expected: torch.Tensor) -> None:
    """In a gradient check, wrong values are reported as such (the value check names the mistake)."""
    try:
        expect_output(trial, got, expected)
    except CheckFailed as failure:
        raise CheckFailed(f"gradients are compared once the values are right, and here {failure.message}") from None


# ---------------------------------------------------------------------------
conv2d = Exercise("cnn", "conv2d", points=4, arg_names=("x", "weight", "bias", "stride", "padding"),
                  forbidden=("torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.Conv2d", "torch.convolution"),
                  timeout=LOOP_TIMEOUT)


def _conv_oracle(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, stride, padding)


def _conv_mistakes(x, weight, bias=None, stride=1, padding=0) -> Mistakes:
    p = padding

    def one_sided(pads: tuple[int, int, int, int]) -> torch.Tensor:
        return F.conv2d(F.pad(x, pads), weight, bias, stride)

    def off_by_one() -> list[torch.Tensor]:
        out = F.conv2d(x, weight, bias, stride, padding)
        return [out[..., :-1, :-1], out[..., :-1, :], out[..., :, :-1]]

    return {
        "the kernel is flipped (a true convolution): CNN layers and F.conv2d compute a cross-correlation, "
        "weight[o, c, i, j] multiplies x_pad[n, c, r·stride + i, q·stride + j]":
            lambda: F.conv2d(x, weight.flip(-2, -1), bias, stride, padding),
        "the zero padding is on the left/top side only: pad `padding` zeros on all four sides":
            lambda: one_sided((p, 0, p, 0)) if p else None,
        "the zero padding is on the right/bottom side only: pad `padding` zeros on all four sides":
            lambda: one_sided((0, p, 0, p)) if p else None,
        "x sits in the top-left corner of the padded tensor: it belongs at [padding:padding + H, padding:padding + W]":
            lambda: one_sided((0, 2 * p, 0, 2 * p)) if p else None,
        "the stride is ignored: output pixel (r, q) starts at input pixel (r·stride, q·stride)":
            lambda: F.conv2d(x, weight, bias, 1, padding) if stride > 1 else None,
        "the bias is missing: add bias[o] to every pixel of output channel o":
            lambda: F.conv2d(x, weight, None, stride, padding) if bias is not None else None,
        "the output size is off by one: H_out = (H + 2·padding − kh)//stride + 1": off_by_one,
    }


@conv2d.property("matches F.conv2d", inputs.conv_inputs())
def _(trial, ex):
    expect_output(trial, trial.call(**ex), _conv_oracle(**ex), mistakes=_conv_mistakes(**ex))


@conv2d.property("gradients w.r.t. x, weight and bias match autograd of F.conv2d", inputs.conv_inputs(),
                 max_examples=10)
def _(trial, ex):
    expect_gradients(trial, ex, ("x", "weight", "bias"), _conv_oracle)


@conv2d.check("default arguments: bias=None, stride=1, padding=0")
def _(trial):
    rng = np.random.default_rng(trial.seed)
    for dtype in inputs.DTYPES:
        x, weight = inputs.gaussian_tensor(rng, (1, 2, 5, 4), dtype), inputs.gaussian_tensor(rng, (3, 2, 2, 3), dtype)
        expect_output(trial, trial.call(x, weight), _conv_oracle(x, weight), mistakes=_conv_mistakes(x, weight))


# ---------------------------------------------------------------------------
max_pool2d = Exercise("cnn", "max_pool2d", points=3, arg_names=("x", "kernel_size", "stride"),
                      forbidden=("torch.nn.functional.max_pool2d", "torch.nn.MaxPool2d", "torch.max_pool2d",
                                 "torch.nn.functional.max_pool2d_with_indices"),
                      timeout=LOOP_TIMEOUT)


def _pool_oracle(x, kernel_size, stride=None):
    return F.max_pool2d(x, kernel_size, stride)


def _pool_mistakes(x, kernel_size, stride=None) -> Mistakes:
    k, s = kernel_size, kernel_size if stride is None else stride

    def off_by_one() -> list[torch.Tensor]:
        out = F.max_pool2d(x, k, s)
        return [out[..., :-1, :-1], out[..., :-1, :], out[..., :, :-1], F.max_pool2d(x, k, s, ceil_mode=True)]

    return {
        "stride defaults to kernel_size (non-overlapping windows), not to 1":
            lambda: F.max_pool2d(x, k, 1) if stride is None and k > 1 else None,
        "the stride is ignored: window (r, q) starts at input pixel (r·stride, q·stride)":
            lambda: F.max_pool2d(x, k, 1) if stride is not None and s > 1 else None,
        "this is average pooling: take the maximum of each window": lambda: F.avg_pool2d(x, k, s),
        "the running maximum starts at 0: start from the first value of the window (or −inf)":
            lambda: F.max_pool2d(x, k, s).clamp(min=0),
        "the output size is off by one: H_out = (H − kernel_size)//stride + 1 (incomplete windows are dropped)":
            off_by_one,
    }


@max_pool2d.property("matches F.max_pool2d", inputs.pool_inputs())
def _(trial, ex):
    expect_output(trial, trial.call(**ex), _pool_oracle(**ex), mistakes=_pool_mistakes(**ex))


@max_pool2d.property("gradients match autograd of F.max_pool2d (windows with a unique maximum)",
                     inputs.pool_inputs(), max_examples=10)
def _(trial, ex):
    expect_gradients(trial, ex, ("x",), _pool_oracle)


# ---------------------------------------------------------------------------
affine_grid = Exercise("cnn", "affine_grid", points=3, arg_names=("theta", "size"),
                       forbidden=("torch.nn.functional.affine_grid", "torch.affine_grid_generator"),
                       timeout=LOOP_TIMEOUT)


def _grid_oracle(theta, size):
    return F.affine_grid(theta, list(size), align_corners=False)


def _grid_through(theta, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The grid ``theta @ (x, y, 1)`` over the given pixel coordinates xs [W], ys [H]: [N, H, W, 2]."""
    h, w = len(ys), len(xs)
    base = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, dtype=xs.dtype)], dim=-1)
    return torch.einsum("hwk,nck->nhwc", base, theta)


def _corner_aligned(theta, size) -> list[torch.Tensor]:
    """Grids with ±1 at the corner pixel centres; a single pixel at −1 (linspace) or at 0."""
    _, _, h, w = size

    def spaced(n: int) -> torch.Tensor:
        return torch.linspace(-1, 1, n, dtype=theta.dtype)

    def centred(n: int) -> torch.Tensor:
        return spaced(n) if n > 1 else torch.zeros(1, dtype=theta.dtype)

    return [_grid_through(theta, spaced(w), spaced(h)), _grid_through(theta, centred(w), centred(h))]


def _grid_mistakes(theta, size) -> Mistakes:
    n, c, h, w = size
    no_translation = torch.cat([theta[:, :, :2], torch.zeros_like(theta[:, :, 2:])], dim=2)
    return {
        "the pixel centres use align_corners=True normalisation (corners at ±1): with align_corners=False "
        "pixel j of W sits at x = (2j + 1)/W − 1":
            lambda: _corner_aligned(theta, size),
        "x and y are swapped: grid[..., 0] is the x (width) coordinate, grid[..., 1] the y (height) one, "
        "and theta multiplies (x, y, 1)":
            lambda: [_grid_oracle(theta, size).flip(-1), _grid_oracle(theta[:, :, [1, 0, 2]], size)],
        "the translation theta[:, :, 2] is missing: theta multiplies the homogeneous (x, y, 1)":
            lambda: _grid_oracle(no_translation, size),
        "H and W are swapped: size is (N, C, H, W) and the grid is [N, H, W, 2]":
            lambda: _grid_oracle(theta, (n, c, w, h)) if h != w else None,
    }


@affine_grid.property("matches F.affine_grid(align_corners=False)", inputs.affine_inputs())
def _(trial, ex):
    expect_output(trial, trial.call(**ex), _grid_oracle(**ex), mistakes=_grid_mistakes(**ex))


@affine_grid.property("gradient w.r.t. theta matches autograd of F.affine_grid", inputs.affine_inputs(),
                      max_examples=10)
def _(trial, ex):
    expect_gradients(trial, ex, ("theta",), _grid_oracle)


def _identity_theta(dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=dtype)  # [1, 2, 3]


@affine_grid.check("the identity theta gives the pixel centres (2j + 1)/W − 1")
def _(trial):
    for dtype in inputs.DTYPES:
        identity, size = _identity_theta(dtype), (1, 1, 2, 3)
        expect_output(trial, trial.call(identity, size), _grid_oracle(identity, size),
                      mistakes=_grid_mistakes(identity, size))


# ---------------------------------------------------------------------------
bilinear_sample = Exercise("cnn", "bilinear_sample", points=4, arg_names=("x", "grid"),
                           forbidden=("torch.nn.functional.grid_sample", "torch.grid_sampler",
                                      "torch.grid_sampler_2d"),
                           timeout=LOOP_TIMEOUT)


def _sample_oracle(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


def _weights_swapped(x, grid) -> list[torch.Tensor]:
    """Sampling with the weights of the two neighbours swapped, along both axes, x only or y only:
    the same as sampling at the position mirrored inside its pixel cell, u' = 2·⌊u⌋ + 1 − u."""
    pixels = torch.tensor([x.shape[3], x.shape[2]], dtype=grid.dtype)  # (W, H)
    u = ((grid + 1) * pixels - 1) / 2
    mirrored = (2 * (2 * torch.floor(u) + 1 - u) + 1) / pixels - 1
    return [_sample_oracle(x, torch.stack([mirrored[..., 0], grid[..., 1]], dim=-1)),
            _sample_oracle(x, torch.stack([grid[..., 0], mirrored[..., 1]], dim=-1)),
            _sample_oracle(x, mirrored)]


def _sample_mistakes(x, grid) -> Mistakes:
    return {
        "the grid is read with align_corners=True (±1 at the corner pixel centres): with "
        "align_corners=False the pixel coordinate is u = ((gx + 1)·W − 1)/2":
            lambda: _sample_oracle(x, grid, align_corners=True),
        "pixels outside the image are clamped to the border: they count as 0 (zero padding)":
            lambda: _sample_oracle(x, grid, padding_mode="border"),
        "x and y are swapped: grid[..., 0] is the column (width) coordinate, grid[..., 1] the row":
            lambda: _sample_oracle(x, grid.flip(-1)),
        "this is nearest-neighbour sampling: mix the four surrounding pixels with bilinear weights":
            lambda: _sample_oracle(x, grid, mode="nearest"),
        "the interpolation weights are swapped: with a = u − ⌊u⌋, pixel ⌊u⌋ gets weight 1 − a and pixel "
        "⌊u⌋ + 1 gets a (the nearer pixel weighs more)":
            lambda: _weights_swapped(x, grid),
    }


@bilinear_sample.property("matches F.grid_sample(bilinear, zeros, align_corners=False)", inputs.sampling_inputs())
def _(trial, ex):
    expect_output(trial, trial.call(**ex), _sample_oracle(**ex), mistakes=_sample_mistakes(**ex))


@bilinear_sample.property("gradients w.r.t. x and grid match autograd of F.grid_sample", inputs.sampling_inputs(),
                          max_examples=10)
def _(trial, ex):
    expect_gradients(trial, ex, ("x", "grid"), _sample_oracle)


@bilinear_sample.check("sampling at the pixel centres returns the image")
def _(trial):
    rng = np.random.default_rng(trial.seed)
    for dtype in inputs.DTYPES:
        x = inputs.gaussian_tensor(rng, (1, 2, 3, 4), dtype)
        grid = _grid_oracle(_identity_theta(dtype), x.shape)
        expect_output(trial, trial.call(x, grid), x.clone(), mistakes=_sample_mistakes(x, grid))


@bilinear_sample.check("pixels beyond the border count as zeros")
def _(trial):
    rng = np.random.default_rng(trial.seed)
    for dtype in inputs.DTYPES:
        x = inputs.gaussian_tensor(rng, (1, 1, 3, 3), dtype)
        grid = torch.tensor([[[[-1.7, 0.0], [0.0, 1.7], [2.5, -2.5], [-1.2, -1.2]]]], dtype=dtype)
        expect_output(trial, trial.call(x, grid), _sample_oracle(x, grid), mistakes=_sample_mistakes(x, grid))


EXERCISES = [conv2d, max_pool2d, affine_grid, bilinear_sample]
