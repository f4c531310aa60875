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
    ### BEGIN SOLUTION
    return x[:, :, i : i + stride * (h_out - 1) + 1 : stride, j : j + stride * (w_out - 1) + 1 : stride]
    ### END SOLUTION


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution as in CNNs (and ``F.conv2d``): a cross-correlation, the kernel is not flipped.

    x: [N, C, H, W], weight: [O, C, kh, kw], bias: [O] or None; stride, padding: ints
    → [N, O, H_out, W_out] with ``H_out = (H + 2·padding − kh) // stride + 1`` (same for W).

    The input is first padded with ``padding`` zeros on all four sides, then
    ``out[n, o, r, q] = bias[o] + Σ_{c, i, j} weight[o, c, i, j] · x_pad[n, c, r·stride + i, q·stride + j]``.
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    h_out = (H + 2 * padding - kh) // stride + 1
    w_out = (W + 2 * padding - kw) // stride + 1
    x_pad = F.pad(x, (padding, padding, padding, padding))  # [N, C, H + 2p, W + 2p]
    out = x.new_zeros(N, O, h_out, w_out)
    for i in range(kh):
        for j in range(kw):
            patch = _window_slice(x_pad, i, j, stride, h_out, w_out)            # [N, C, h_out, w_out]
            out = out + torch.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])  # [N, O, h_out, w_out]
    if bias is not None:
        out = out + bias.view(1, O, 1, 1)
    return out
    ### END SOLUTION


def max_pool2d(x, kernel_size, stride=None):
    """Max pooling over ``kernel_size × kernel_size`` windows, without padding.

    x: [N, C, H, W]; kernel_size, stride: ints, ``stride`` defaults to ``kernel_size``
    (non-overlapping windows) → [N, C, H_out, W_out], ``H_out = (H − kernel_size) // stride + 1``,
    ``out[n, c, r, q] = max_{i, j} x[n, c, r·stride + i, q·stride + j]``.
    The gradient flows to the maximum of each window.
    """
    ### BEGIN SOLUTION
    stride = kernel_size if stride is None else stride
    N, C, H, W = x.shape
    h_out = (H - kernel_size) // stride + 1
    w_out = (W - kernel_size) // stride + 1
    out = None
    for i in range(kernel_size):
        for j in range(kernel_size):
            patch = _window_slice(x, i, j, stride, h_out, w_out)  # [N, C, h_out, w_out]
            out = patch if out is None else torch.maximum(out, patch)
    return out
    ### END SOLUTION


def affine_grid(theta, size):
    """The sampling grid of a spatial transformer (``F.affine_grid(theta, size, align_corners=False)``).

    theta: [N, 2, 3] affine maps, size: (N, C, H, W) of the output image → grid [N, H, W, 2].
    For output pixel (i, j) with normalised centre ``(x_j, y_i)`` (see the module docstring),
    ``grid[n, i, j] = theta[n] @ (x_j, y_i, 1)``: ``grid[..., 0]`` is the x (width)
    coordinate to sample from and ``grid[..., 1]`` the y (height) coordinate.
    """
    ### BEGIN SOLUTION
    N, _, H, W = size
    xs = (2 * torch.arange(W, dtype=theta.dtype, device=theta.device) + 1) / W - 1  # [W] pixel centres
    ys = (2 * torch.arange(H, dtype=theta.dtype, device=theta.device) + 1) / H - 1  # [H]
    ones = theta.new_ones(H, W)
    base = torch.stack([xs.expand(H, W), ys[:, None].expand(H, W), ones], dim=-1)  # [H, W, 3]
    grid = base.reshape(1, H * W, 3) @ theta.transpose(1, 2)  # [N, H·W, 2]
    return grid.reshape(N, H, W, 2)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    _, Ho, Wo, _ = grid.shape
    u = ((grid[..., 0] + 1) * W - 1) / 2  # [N, Ho, Wo] column coordinate
    v = ((grid[..., 1] + 1) * H - 1) / 2  # [N, Ho, Wo] row coordinate
    u0, v0 = torch.floor(u), torch.floor(v)
    flat = x.reshape(N, C, H * W)
    out = x.new_zeros(N, C, Ho, Wo)
    for col, weight_u in ((u0, u0 + 1 - u), (u0 + 1, u - u0)):
        for row, weight_v in ((v0, v0 + 1 - v), (v0 + 1, v - v0)):
            inside = (col >= 0) & (col <= W - 1) & (row >= 0) & (row <= H - 1)  # [N, Ho, Wo]
            index = (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)).long()       # [N, Ho, Wo]
            values = flat.gather(2, index.reshape(N, 1, Ho * Wo).expand(N, C, Ho * Wo))
            weight = torch.where(inside, weight_u * weight_v, 0.0)               # [N, Ho, Wo]
            out = out + values.reshape(N, C, Ho, Wo) * weight[:, None]
    return out
    ### END SOLUTION
