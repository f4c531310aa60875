"""Lecture 3: CNN and the spatial transformer layer.

A convolutional layer is a fully connected layer with two simplifications: every
neuron sees only a small receptive field (the kernel, ``kh × kw`` pixels over all
channels), and neurons looking at different places share their parameters (the
same filter slides over the image with a stride). Pooling subsamples the feature
map. A spatial transformer first predicts an affine transform ``theta``, turns it
into a sampling grid (``affine_grid``) and reads the image at those fractional
positions by bilinear interpolation (``bilinear_sample``); both steps are
differentiable, so the network learns where to look.

PyTorch on float32/float64 tensors; outputs keep the input's dtype and device,
everything stays differentiable, and no function modifies its inputs.

Grid coordinates are normalised as in PyTorch with ``align_corners=False``: ``-1``
and ``+1`` are the outer *edges* of the image, so pixel ``j`` of a row of ``W``
pixels has its centre at ``x = (2j + 1)/W − 1``; ``x`` runs along the width and
``y`` along the height.
"""

import torch
import torch.nn.functional as F


def _window_slice(x, i, j, stride, h_out, w_out):
    """A helper for ``conv2d`` and ``max_pool2d`` (optional: use it or write your own loops).

    The input pixels that kernel offset ``(i, j)`` meets at every output position:
    x: [N, C, H, W] → [N, C, h_out, w_out], element ``[.., r, q]`` = ``x[.., r·stride + i, q·stride + j]``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution as in CNNs (and ``F.conv2d``): a cross-correlation, the kernel is not flipped.

    x: [N, C, H, W], weight: [O, C, kh, kw], bias: [O] or None; stride, padding: ints
    → [N, O, H_out, W_out] with ``H_out = (H + 2·padding − kh) // stride + 1`` (same for W).

    The input is first padded with ``padding`` zeros on all four sides, then
    ``out[n, o, r, q] = bias[o] + Σ_{c, i, j} weight[o, c, i, j] · x_pad[n, c, r·stride + i, q·stride + j]``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def max_pool2d(x, kernel_size, stride=None):
    """Max pooling over ``kernel_size × kernel_size`` windows, without padding.

    x: [N, C, H, W]; kernel_size, stride: ints, ``stride`` defaults to ``kernel_size``
    (non-overlapping windows) → [N, C, H_out, W_out], ``H_out = (H − kernel_size) // stride + 1``,
    ``out[n, c, r, q] = max_{i, j} x[n, c, r·stride + i, q·stride + j]``.
    The gradient flows to the maximum of each window.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def affine_grid(theta, size):
    """The sampling grid of a spatial transformer (``F.affine_grid(theta, size, align_corners=False)``).

    theta: [N, 2, 3] affine maps, size: (N, C, H, W) of the output image → grid [N, H, W, 2].
    For output pixel (i, j) with normalised centre ``(x_j, y_i)`` (see the module docstring),
    ``grid[n, i, j] = theta[n] @ (x_j, y_i, 1)``: ``grid[..., 0]`` is the x (width)
    coordinate to sample from and ``grid[..., 1]`` the y (height) coordinate.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def bilinear_sample(x, grid):
    """Read ``x`` at fractional positions by bilinear interpolation
    (``F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)``).

    x: [N, C, H, W], grid: [N, Ho, Wo, 2] normalised (x, y) positions → [N, C, Ho, Wo].
    A position (gx, gy) is the pixel coordinate ``u = ((gx + 1)·W − 1)/2``,
    ``v = ((gy + 1)·H − 1)/2``; the result mixes the four pixels around it,
    ``(⌊u⌋ or ⌊u⌋+1, ⌊v⌋ or ⌊v⌋+1)``, with weights ``(1 − a)`` / ``a`` for the
    fractional part ``a`` of each coordinate. Pixels outside the image count as 0.
    Differentiable with respect to both ``x`` and ``grid``.
    """
    # YOUR CODE HERE
    raise NotImplementedError
