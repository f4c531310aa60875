"""Time `lhy-grade check` on the reference solutions: whole process, start-up vs checks,
per module, and the cost of one worker round trip.

    python benchmarks/bench_check.py [--repeat 3] [MODULE ...]

Prints figures only; run by hand and quote them in the README.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lhy_grader import catalogue
from lhy_grader.runner import grade_submission
from lhy_grader.worker.client import Worker

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True)
    return time.perf_counter() - start


def median_of(repeat: int, fn) -> float:
    return statistics.median(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(catalogue.available_modules()))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modules = args.modules

    whole = median_of(args.repeat, lambda: wall(
        ["lhy-grade", "check", *modules, "--path", str(SOLUTIONS), "--json", "--no-train"]))
    imports = median_of(args.repeat, lambda: wall(
        [sys.executable, "-c", "import lhy_grader.cli, lhy_grader.runner"]))
    print(f"modules: {' '.join(modules)}")
    print(f"lhy-grade check, whole process (median of {args.repeat}): {whole:.2f} s")
    print(f"  grader start-up (imports):                  {imports:.2f} s")

    per_module = {}
    for module in modules:
        exercises = catalogue.select([module])
        start = time.perf_counter()
        result = grade_submission(SOLUTIONS, exercises)
        per_module[module] = time.perf_counter() - start
        assert result.score == result.max_score, f"reference loses points in {module}"
    total = sum(per_module.values())
    print(f"  function checks, module by module (own worker each): {total:.2f} s")
    for module, seconds in per_module.items():
        print(f"    {module:15s} {seconds:6.2f} s  ({len(catalogue.select([module]))} functions)")

    with Worker() as worker:
        worker.load(SOLUTIONS, ["regression"])
        small = np.ones(16)
        for _ in range(200):
            worker.ping(small)
        n = 3000
        start = time.perf_counter()
        for _ in range(n):
            worker.ping(small)
        ping = (time.perf_counter() - start) / n
        x, w = np.ones((8, 4)), np.ones(4)
        start = time.perf_counter()
        for _ in range(n):
            worker.call("regression.linear_model", (x, w, 0.5), timeout=5)
        call = (time.perf_counter() - start) / n
    print(f"worker round trip, 16-float array echo: {ping * 1e3:.3f} ms")
    print(f"worker call of linear_model on [8,4] (incl. mutation check): {call * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
