"""Trusted comparison: validate what the worker returned, compare it with the reference,
and explain the difference (expected vs got, and a hint when it matches a known mistake)."""

from lhy_grader.compare.numeric import (
    CheckFailed,
    expect_array,
    expect_close,
    expect_equal,
    expect_float,
    expect_int_list,
    expect_tensor,
    matches,
)
from lhy_grader.compare.show import show, show_inputs

__all__ = [
    "CheckFailed", "expect_array", "expect_close", "expect_equal", "expect_float",
    "expect_int_list", "expect_tensor", "matches", "show", "show_inputs",
]
