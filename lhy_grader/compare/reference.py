"""The reference solutions, loaded in the grader (trusted) process only.

``solutions/`` is installed as ``lhy_grader.reference``. Solution files import
their siblings the way student files do (``from attention import ...``), so a
sibling is made visible under its plain name only while a solution module runs
its top level, then the grader's ``sys.modules`` is restored.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from lhy_grader.catalogue import MODULES


def solutions_folder() -> Path:
    spec = importlib.util.find_spec("lhy_grader.reference")
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def reference(module: str) -> ModuleType:
    """The reference implementation of catalogue module ``module`` (e.g. ``"attention"``)."""
    path = solutions_folder() / f"{module}.py"
    siblings = _imported_siblings(path)
    loaded = {name: reference(name) for name in siblings}
    spec = importlib.util.spec_from_file_location(f"lhy_grader.reference.{module}", path)
    mod = importlib.util.module_from_spec(spec)
    saved = {name: sys.modules.get(name) for name in loaded}
    sys.modules.update(loaded)
    try:
        spec.loader.exec_module(mod)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    sys.modules[spec.name] = mod
    return mod


def _imported_siblings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return [n for n in dict.fromkeys(names) if n in MODULES]
