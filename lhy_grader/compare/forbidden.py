"""Static detection of forbidden library calls in a student's function (no code runs).

The catalogue forbids e.g. ``torch.nn.functional.conv2d`` inside ``cnn.conv2d``. We
parse the student's module, resolve import aliases (``import torch.nn.functional as F``,
``from torch import nn``, ``from torch.nn.functional import conv2d as c``), and
collect every dotted name used by the function and by the module-level helpers it
reaches. Comments and strings are never flagged: only real name references count.
"""

from __future__ import annotations

import ast
from pathlib import Path


def forbidden_uses(source_path: Path, function: str, forbidden: tuple[str, ...]) -> list[str]:
    """The forbidden dotted names (as listed) that ``function`` can reach, in catalogue order."""
    try:
        tree = ast.parse(source_path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return []
    aliases = _aliases(tree)
    defs = {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    if function not in defs:
        return []
    used: set[str] = set()
    seen: set[str] = set()
    todo = [function]
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        for dotted in _dotted_names(defs[name]):
            used.add(_expand(dotted, aliases))
            head = dotted.split(".")[0]
            if head in defs:
                todo.append(head)
    return [name for name in forbidden if any(u == name or u.startswith(name + ".") for u in used)]


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> full dotted path, from every import anywhere in the module."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _dotted_names(node: ast.AST) -> set[str]:
    """Every `a.b.c` chain and bare name referenced inside ``node`` (longest chains only)."""
    out: set[str] = set()
    inner: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and id(sub) not in inner:
            parts, cur = [], sub
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                inner.add(id(cur.value))
                cur = cur.value
            if isinstance(cur, ast.Name):
                inner.add(id(cur))
                out.add(".".join([cur.id, *reversed(parts)]))
        elif isinstance(sub, ast.Name) and id(sub) not in inner:
            out.add(sub.id)
    return out


def _expand(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    full = aliases.get(head, head)
    return f"{full}.{rest}" if rest else full
