"""Static detection of forbidden library calls: aliases resolved, helpers followed,
comments and strings ignored."""

from __future__ import annotations

import textwrap

import pytest

from lhy_grader.compare.forbidden import forbidden_uses

CONV = ("torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.Conv2d")


def uses(tmp_path, source: str, function: str = "conv2d") -> list[str]:
    path = tmp_path / "cnn.py"
    path.write_text(textwrap.dedent(source))
    return forbidden_uses(path, function, CONV)


@pytest.mark.parametrize("source,expected", [
    ("import torch.nn.functional as F\ndef conv2d(x, w):\n    return F.conv2d(x, w)\n",
     ["torch.nn.functional.conv2d"]),
    ("from torch.nn.functional import conv2d as c\ndef conv2d(x, w):\n    return c(x, w)\n",
     ["torch.nn.functional.conv2d"]),
    ("import torch\ndef conv2d(x, w):\n    return torch.conv2d(x, w)\n", ["torch.conv2d"]),
    ("from torch import nn\ndef conv2d(x, w):\n    return nn.Conv2d(1, 1, 3)(x)\n", ["torch.nn.Conv2d"]),
    ("import torch\ndef conv2d(x, w):\n    return torch.nn.functional.conv2d(x, w)\n",
     ["torch.nn.functional.conv2d"]),
    ("import torch.nn.functional as F\ndef _helper(x, w):\n    return F.conv2d(x, w)\n"
     "def conv2d(x, w):\n    return _helper(x, w)\n", ["torch.nn.functional.conv2d"]),
])
def test_forbidden_calls_are_found(tmp_path, source, expected):
    assert uses(tmp_path, source) == expected


@pytest.mark.parametrize("source", [
    "import torch\ndef conv2d(x, w):\n    # not F.conv2d: we unfold by hand\n    return (x * w).sum()\n",
    "import torch\ndef conv2d(x, w):\n    '''Equals torch.nn.functional.conv2d.'''\n    return x\n",
    "import torch.nn.functional as F\ndef conv2d(x, w):\n    msg = 'F.conv2d is forbidden'\n    return F.pad(x, (1, 1))\n",
    "import torch.nn.functional as F\ndef other(x, w):\n    return F.conv2d(x, w)\ndef conv2d(x, w):\n    return x\n",
])
def test_mentions_and_unrelated_functions_are_not_flagged(tmp_path, source):
    assert uses(tmp_path, source) == []


def test_unparsable_source_flags_nothing(tmp_path):
    assert uses(tmp_path, "def conv2d(:\n") == []


def test_a_forbidden_shortcut_earns_nothing(worker, tmp_path):
    """Calling F.conv2d passes every numeric check, yet the exercise was not done: score 0."""
    from tests.variants import grade_variant
    source = (tmp_path / "cnn_src.py")
    source.write_text("import torch.nn.functional as F\n\n"
                      "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
                      "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)\n")
    result = grade_variant(worker, tmp_path / "sub", "cnn.conv2d", source=source.read_text())
    assert result.score == 0.0 and result.status == "failed"
    gate = result.checks[0]
    assert gate.name.startswith("does not call") and not gate.passed
    assert "calls torch.nn.functional.conv2d" in gate.message
    assert any(c.passed and "earns no credit" in c.message for c in result.checks[1:])
