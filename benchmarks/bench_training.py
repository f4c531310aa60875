"""Time each training check with the reference solutions, and print its metric.

    python benchmarks/bench_training.py [--seeds 2021 1 2] [--device cpu] [train.<name> ...]

For every check and seed: the wall clock of the training routine in the worker plus the
grader's evaluation (the prerequisite function checks are not included), the held-out
metric, and the final training loss. Prints figures only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lhy_grader import training
from lhy_grader.training.grading import run_training_check
from lhy_grader.worker.client import Worker

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checks", nargs="*", help="train.<name> (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    checks = training.select(args.checks)
    options = training.TrainingOptions(checks)
    with Worker(preload=("numpy", "torch")) as worker:
        worker.load(SOLUTIONS, options.modules)
        for check in checks:
            for seed in args.seeds:
                start = time.perf_counter()
                result = run_training_check(worker, check, seed=seed, device=args.device, options=options)
                seconds = time.perf_counter() - start
                print(f"{check.name:24} seed {seed:<6} {seconds:6.1f} s  {result.status:7} "
                      f"{result.checks[0].message}", flush=True)


if __name__ == "__main__":
    main()
