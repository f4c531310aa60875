"""cnn.py: the reference passes; realistic mistakes, forbidden shortcuts and hanging code are caught."""

from __future__ import annotations

import dataclasses

import pytest

from lhy_grader.catalogue import cnn as cnn_checks
from lhy_grader.compare.reference import solutions_folder
from lhy_grader.runner import grade_submission
from tests.variants import SEED, assert_caught, assert_full_marks, grade_variant, make_variant

EXERCISES = ["conv2d", "max_pool2d", "affine_grid", "bilinear_sample"]


@pytest.mark.parametrize("function", EXERCISES)
def test_reference_gets_full_marks(worker, tmp_path, function):
    assert_full_marks(grade_variant(worker, tmp_path, f"cnn.{function}"))


CONV_SIZE = "(H + 2 * padding - kh) // stride + 1"
POOL_SIZE = "(H - kernel_size) // stride + 1"
POOL_MAX = "out = patch if out is None else torch.maximum(out, patch)"
CENTRES = "xs = (2 * torch.arange(W, dtype=theta.dtype, device=theta.device) + 1) / W - 1  # [W] pixel centres\n" \
          "    ys = (2 * torch.arange(H, dtype=theta.dtype, device=theta.device) + 1) / H - 1  # [H]"
STACK = "torch.stack([xs.expand(H, W), ys[:, None].expand(H, W), ones]"
U = "u = ((grid[..., 0] + 1) * W - 1) / 2"
V = "v = ((grid[..., 1] + 1) * H - 1) / 2"
MASKED_WEIGHT = "weight = torch.where(inside, weight_u * weight_v, 0.0)"

BUGS = [
    # (exercise, replacements, failing check, hint)
    ("conv2d", {"weight[:, :, i, j]": "weight[:, :, kh - 1 - i, kw - 1 - j]"}, "matches F.conv2d", "flipped"),
    ("conv2d", {"F.pad(x, (padding, padding, padding, padding))": "F.pad(x, (padding, 0, padding, 0))",
                CONV_SIZE: "(H + padding - kh) // stride + 1",
                "(W + 2 * padding - kw) // stride + 1": "(W + padding - kw) // stride + 1"},
     "matches F.conv2d", "left/top side only"),
    ("conv2d", {"F.pad(x, (padding, padding, padding, padding))": "F.pad(x, (0, 2 * padding, 0, 2 * padding))"},
     "matches F.conv2d", "top-left corner"),
    ("conv2d", {CONV_SIZE: "H + 2 * padding - kh + 1", "(W + 2 * padding - kw) // stride + 1": "W + 2 * padding - kw + 1",
                "_window_slice(x_pad, i, j, stride, h_out, w_out)": "_window_slice(x_pad, i, j, 1, h_out, w_out)"},
     "matches F.conv2d", "stride is ignored"),
    ("conv2d", {"out = out + bias.view(1, O, 1, 1)": "out = out"}, "matches F.conv2d", "bias is missing"),
    ("conv2d", {CONV_SIZE: "(H + 2 * padding - kh) // stride",
                "(W + 2 * padding - kw) // stride + 1": "(W + 2 * padding - kw) // stride"},
     "matches F.conv2d", "off by one"),
    ("conv2d", {"out = out + bias.view(1, O, 1, 1)": "out = out + bias.detach().view(1, O, 1, 1)"},
     "gradients", "keep bias in the computation graph"),
    ("max_pool2d", {"stride = kernel_size if stride is None else stride": "stride = 1 if stride is None else stride"},
     "matches F.max_pool2d", "defaults to kernel_size"),
    ("max_pool2d", {POOL_MAX: "out = patch / kernel_size**2 if out is None else out + patch / kernel_size**2"},
     "matches F.max_pool2d", "average pooling"),
    ("max_pool2d", {"out = None": "out = torch.zeros_like(x[:, :, :h_out, :w_out])",
                    POOL_MAX: "out = torch.maximum(out, patch)"},
     "matches F.max_pool2d", "starts at 0"),
    ("max_pool2d", {POOL_SIZE: "H - kernel_size + 1", "(W - kernel_size) // stride + 1": "W - kernel_size + 1",
                    "patch = _window_slice(x, i, j, stride,": "patch = _window_slice(x, i, j, 1,"},
     "matches F.max_pool2d", "stride"),
    ("max_pool2d", {POOL_SIZE: "(H - kernel_size) // stride", "(W - kernel_size) // stride + 1": "(W - kernel_size) // stride"},
     "matches F.max_pool2d", "off by one"),
    ("affine_grid", {CENTRES: "xs = torch.linspace(-1, 1, W, dtype=theta.dtype)\n"
                              "    ys = torch.linspace(-1, 1, H, dtype=theta.dtype)"},
     "matches F.affine_grid", "align_corners=True"),
    ("affine_grid", {STACK: "torch.stack([ys[:, None].expand(H, W), xs.expand(H, W), ones]"},
     "matches F.affine_grid", "x and y are swapped"),
    ("affine_grid", {"return grid.reshape(N, H, W, 2)": "return grid.reshape(N, H, W, 2).flip(-1)"},
     "matches F.affine_grid", "x and y are swapped"),
    ("affine_grid", {"ones = theta.new_ones(H, W)": "ones = theta.new_zeros(H, W)"},
     "matches F.affine_grid", "translation"),
    ("affine_grid", {"N, _, H, W = size": "N, _, W, H = size"}, "matches F.affine_grid", "H and W are swapped"),
    ("bilinear_sample", {U: "u = (grid[..., 0] + 1) / 2 * (W - 1)", V: "v = (grid[..., 1] + 1) / 2 * (H - 1)"},
     "matches F.grid_sample", "align_corners=True"),
    ("bilinear_sample", {MASKED_WEIGHT: "weight = weight_u * weight_v"}, "matches F.grid_sample", "clamped"),
    ("bilinear_sample", {U: "u = ((grid[..., 1] + 1) * W - 1) / 2", V: "v = ((grid[..., 0] + 1) * H - 1) / 2"},
     "matches F.grid_sample", "x and y are swapped"),
    ("bilinear_sample", {"u0, v0 = torch.floor(u), torch.floor(v)":
                         "u, v = torch.round(u), torch.round(v)\n    u0, v0 = u, v"},
     "matches F.grid_sample", "nearest-neighbour"),
    ("bilinear_sample", {"((u0, u0 + 1 - u), (u0 + 1, u - u0))": "((u0, u - u0), (u0 + 1, u0 + 1 - u))",
                         "((v0, v0 + 1 - v), (v0 + 1, v - v0))": "((v0, v - v0), (v0 + 1, v0 + 1 - v))"},
     "matches F.grid_sample", "weights are swapped"),
    ("bilinear_sample", {"((v0, v0 + 1 - v), (v0 + 1, v - v0))": "((v0, v - v0), (v0 + 1, v0 + 1 - v))"},
     "matches F.grid_sample", "weights are swapped"),
    ("bilinear_sample", {MASKED_WEIGHT: MASKED_WEIGHT + ".detach()"}, "gradients", "keep grid in the computation graph"),
]


@pytest.mark.parametrize("function,replacements,check,hint", BUGS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_buggy_version_is_caught(worker, tmp_path, function, replacements, check, hint):
    assert_caught(grade_variant(worker, tmp_path, f"cnn.{function}", replacements), check, hint)


DETACHED = [
    ("max_pool2d", {"patch = _window_slice(x, i, j": "patch = _window_slice(x.detach(), i, j"}),
    ("affine_grid", {"@ theta.transpose(1, 2)": "@ theta.detach().transpose(1, 2)"}),
]


@pytest.mark.parametrize("function,replacements", DETACHED, ids=[d[0] for d in DETACHED])
def test_detached_output_loses_the_gradient_check(worker, tmp_path, function, replacements):
    result = grade_variant(worker, tmp_path, f"cnn.{function}", replacements)
    assert_caught(result, "gradient", status="error", message="not connected to the inputs by autograd")


def test_result_must_keep_the_input_dtype(worker, tmp_path):
    result = grade_variant(worker, tmp_path, "cnn.conv2d", {"    return out\n    ### END": "    return out.float()\n    ### END"})
    assert_caught(result, "matches F.conv2d", message="expected torch.float64 (the input's dtype)")


SHORTCUTS = [
    ("conv2d", "return F.conv2d(x, weight, bias, stride, padding)", "torch.nn.functional.conv2d"),
    ("conv2d", "return torch.conv2d(x, weight, bias, stride, padding)", "torch.conv2d"),
    ("max_pool2d", "return F.max_pool2d(x, kernel_size, stride)", "torch.nn.functional.max_pool2d"),
    ("affine_grid", "return F.affine_grid(theta, size, align_corners=False)", "torch.nn.functional.affine_grid"),
    ("bilinear_sample", 'return F.grid_sample(x, grid, align_corners=False)', "torch.nn.functional.grid_sample"),
]


@pytest.mark.parametrize("function,call,name", SHORTCUTS, ids=[f"{s[0]}-{s[2]}" for s in SHORTCUTS])
def test_forbidden_shortcut_is_reported_by_name(worker, tmp_path, function, call, name):
    result = grade_variant(worker, tmp_path, f"cnn.{function}", source=_with_body(function, call))
    assert_caught(result, "does not call", message=name)


def test_forbidden_name_in_a_comment_or_string_is_not_flagged(worker, tmp_path):
    mention = ('    # F.conv2d(x, weight) would be the one-liner; torch.nn.Conv2d holds its own weights\n'
               '    note = "not torch.nn.functional.conv2d, not torch.conv2d"\n'
               '    ### BEGIN SOLUTION\n    N, C, H, W = x.shape\n    O, _, kh, kw')
    result = grade_variant(worker, tmp_path, "cnn.conv2d",
                           {"    ### BEGIN SOLUTION\n    N, C, H, W = x.shape\n    O, _, kh, kw": mention})
    assert_full_marks(result)


LOOP_CONV = '''    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    h_out = (H + 2 * padding - kh) // stride + 1
    w_out = (W + 2 * padding - kw) // stride + 1
    x_pad = F.pad(x, (padding, padding, padding, padding))
    values = []
    for n in range(N):
        for o in range(O):
            for r in range(h_out):
                for q in range(w_out):
                    window = x_pad[n, :, r * stride : r * stride + kh, q * stride : q * stride + kw]
                    value = (window * weight[o]).sum()
                    values.append(value if bias is None else value + bias[o])
    return torch.stack(values).reshape(N, O, h_out, w_out)
'''


def test_python_loops_over_output_pixels_are_fast_enough(worker, tmp_path):
    assert_full_marks(grade_variant(worker, tmp_path, "cnn.conv2d", source=_with_body("conv2d", LOOP_CONV)))


OTHER_WAYS = '''\
import torch
import torch.nn.functional as F


def conv2d(x, weight, bias=None, stride=1, padding=0):
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    h_out = (H + 2 * padding - kh) // stride + 1
    w_out = (W + 2 * padding - kw) // stride + 1
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # [N, C·kh·kw, L]
    out = weight.reshape(O, -1) @ cols                              # [N, O, L]
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(N, O, h_out, w_out)


def max_pool2d(x, kernel_size, stride=None):
    stride = stride or kernel_size
    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    return windows.flatten(-2).amax(-1)


def affine_grid(theta, size):
    N, C, H, W = size
    ys, xs = torch.meshgrid(torch.linspace(-1 + 1 / H, 1 - 1 / H, H, dtype=theta.dtype),
                            torch.linspace(-1 + 1 / W, 1 - 1 / W, W, dtype=theta.dtype), indexing="ij")
    base = torch.stack([xs, ys, torch.ones_like(xs)], -1).to(theta.device)
    return torch.einsum("hwk,nik->nhwi", base, theta)


def bilinear_sample(x, grid):
    N, C, H, W = x.shape
    _, Ho, Wo, _ = grid.shape
    rows = []
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                u = (grid[n, i, j, 0] + 1) * W / 2 - 0.5
                v = (grid[n, i, j, 1] + 1) * H / 2 - 0.5
                c0, r0 = int(torch.floor(u)), int(torch.floor(v))
                total = x.new_zeros(C)
                for r in (r0, r0 + 1):
                    for c in (c0, c0 + 1):
                        if 0 <= r < H and 0 <= c < W:
                            total = total + x[n, :, r, c] * (1 - (u - c).abs()) * (1 - (v - r).abs())
                rows.append(total)
    return torch.stack(rows).reshape(N, Ho, Wo, C).permute(0, 3, 1, 2)
'''


def test_other_correct_implementations_get_full_marks(worker, tmp_path):
    """im2col with F.unfold, Tensor.unfold windows, a meshgrid, and a per-pixel Python loop."""
    folder = make_variant(tmp_path, "cnn", source=OTHER_WAYS)
    result = grade_submission(folder, cnn_checks.EXERCISES, seed=SEED, worker=worker)
    for exercise in result.exercises:
        assert_full_marks(exercise)


def test_hanging_code_times_out_and_says_so(worker, tmp_path):
    folder = make_variant(tmp_path, "cnn", {
        "    stride = kernel_size if stride is None else stride\n": "    while True:\n        pass\n"})
    quick = dataclasses.replace(cnn_checks.max_pool2d, timeout=1.0)
    (result,) = grade_submission(folder, [quick], seed=SEED, worker=worker).exercises
    assert result.status == "timeout" and result.score < result.max_score
    assert any("a timeout, not a wrong answer, cost these points" in c.message for c in result.checks)


def _with_body(function: str, body: str) -> str:
    """The solutions' cnn.py with the body of ``function`` replaced by ``body``."""
    text = (solutions_folder() / "cnn.py").read_text()
    head, rest = text.split(f"def {function}(", 1)
    signature_and_doc, _, tail = rest.partition("    ### BEGIN SOLUTION\n")
    _, _, after = tail.partition("    ### END SOLUTION\n")
    if not body.startswith("    "):
        body = f"    {body}\n"
    return f"{head}def {function}({signature_and_doc}    ### BEGIN SOLUTION\n{body}    ### END SOLUTION\n{after}"
