"""Student stubs are generated from the reference solutions, the single source.

Every function body between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is
replaced by ``raise NotImplementedError``; the docstring above it (which states
shapes and the formula) stays and tells the student what to write.
"""

from __future__ import annotations

import re
from pathlib import Path

from lhy_grader.catalogue import MODULES

_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n", re.M | re.S)


def stub_source(solution: str) -> str:
    """The student version of one solution file."""
    stub = _BLOCK.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError\n", solution)
    if "### BEGIN SOLUTION" in stub or "### END SOLUTION" in stub:
        raise ValueError("unbalanced ### BEGIN/END SOLUTION markers")
    return stub


def generate(solutions: Path, exercises: Path, *, write: bool = True) -> list[str]:
    """Regenerate ``exercises/`` from ``solutions/``; returns the names of files that differ(ed)."""
    changed = []
    for module in MODULES:
        source = solutions / f"{module}.py"
        if not source.is_file():
            continue
        target = exercises / f"{module}.py"
        text = stub_source(source.read_text(encoding="utf-8"))
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            changed.append(target.name)
            if write:
                exercises.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    return changed
