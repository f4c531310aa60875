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
