"""How far a student has got, read statically from the source (nothing runs)."""

from __future__ import annotations

import ast
from pathlib import Path


def written_status(source: Path, function: str) -> str:
    """`missing` (no file or no function), `todo` (body only raises NotImplementedError),
    `syntax error`, or `written`."""
    if not source.is_file():
        return "missing"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return "syntax error"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            only_raise = (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
                          and "NotImplementedError" in ast.unparse(body[0].exc))
            return "todo" if only_raise else "written"
    return "missing"
