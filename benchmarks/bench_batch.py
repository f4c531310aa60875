"""Batch grading at scale: 100 submissions (copies of the solutions, some stubs, some
buggy copies) graded by `lhy-grade grade --jobs 2`.

    python benchmarks/bench_batch.py [--students 100] [--jobs 2] [--only regression ...]

Reports submissions per minute, the per-submission overhead over the bare check time
(the same submission graded in-process with a warm, reused worker; measured before and
after the batch, the lower of the two kept, since the machine may be shared), the
in-process-equivalent ratio (batch wall time ÷ sum of bare check times ÷ jobs), and the
peak memory (PSS) of the whole process tree. Results also go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lhy_grader import catalogue
from lhy_grader.compare.reference import solutions_folder
from lhy_grader.runner import grade_submission
from lhy_grader.worker.client import Worker

ROOT = Path(__file__).resolve().parents[1]
#: Realistic mistakes, as source replacements in the reference (skipped if they do not apply).
BUGS = {
    "regression": {"np.mean((y_pred - y_true) ** 2)": "np.sum((y_pred - y_true) ** 2)",
                   "return b + x @ w  # [N]": "return x @ w"},
}


def make_kinds(folder: Path, modules: list[str]) -> dict[str, Path]:
    """One folder per kind of submission: the solutions, the stubs, a buggy copy."""
    kinds = {"solution": folder / "solution", "stub": folder / "stub", "buggy": folder / "buggy"}
    for kind, target in kinds.items():
        target.mkdir(parents=True)
        for module in modules:
            source = (ROOT / "exercises" if kind == "stub" else solutions_folder()) / f"{module}.py"
            text = source.read_text()
            if kind == "buggy":
                for old, new in BUGS.get(module, {}).items():
                    text = text.replace(old, new)
            (target / f"{module}.py").write_text(text)
    return kinds


def mix(students: int) -> list[str]:
    """80% solutions, 10% stubs, 10% buggy copies, interleaved."""
    return ["stub" if i % 10 == 3 else "buggy" if i % 10 == 7 else "solution" for i in range(students)]


def bare_seconds(kinds: dict[str, Path], targets: list[str], repeat: int) -> dict[str, float]:
    """Median wall time of grading each kind in-process with one warm worker (no start-up)."""
    exercises = catalogue.select(targets)
    times: dict[str, float] = {}
    with Worker(preload=("numpy", "torch")) as worker:
        grade_submission(kinds["solution"], exercises, worker=worker, seed=1)  # warm up
        for kind, folder in kinds.items():
            samples = []
            for i in range(repeat):
                started = time.perf_counter()
                grade_submission(folder, exercises, worker=worker, seed=100 + i)
                samples.append(time.perf_counter() - started)
            times[kind] = statistics.median(samples)
    return times


def tree_pss(root: int) -> int:
    """Proportional set size (bytes) of ``root`` and all its descendants."""
    parents: dict[int, int] = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                parents[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except OSError:
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
        except (OSError, StopIteration):
            continue
    return total


def run_batch(submissions: Path, out: Path, jobs: int, targets: list[str]) -> tuple[float, int]:
    command = [sys.executable, "-c", "from lhy_grader.cli import main; main()", "grade", str(submissions),
               "--out", str(out), "--jobs", str(jobs), "--quiet", *[a for t in targets for a in ("--only", t)]]
    peak = 0
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.25):
            peak = max(peak, tree_pss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"lhy-grade grade failed with status {proc.returncode}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", action="append", default=None, metavar="TARGET",
                        help="targets to grade (default: regression)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each bare measurement")
    args = parser.parse_args()
    targets = args.only or ["regression"]
    modules = sorted({t.split(".")[0] for t in targets})

    work = Path(tempfile.mkdtemp(prefix="lhy-bench-batch-"))
    try:
        kinds = make_kinds(work / "kinds", modules)
        submissions = work / "submissions"
        plan = mix(args.students)
        for i, kind in enumerate(plan):
            shutil.copytree(kinds[kind], submissions / f"student{i:04d}")
        bare_before = bare_seconds(kinds, targets, args.repeat)
        load_before = os.getloadavg()[0]
        wall, peak = run_batch(submissions, work / "out", args.jobs, targets)
        load_after = os.getloadavg()[0]
        # The machine may be shared: the quieter of two measurements (a conservative bare time).
        bare_after = bare_seconds(kinds, targets, args.repeat)
        bare = {kind: min(bare_before[kind], bare_after[kind]) for kind in kinds}
        with sqlite3.connect(work / "out" / "gradebook.sqlite") as db:
            per_student = dict(db.execute("SELECT student, seconds FROM results"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    bare_total = sum(bare[kind] for kind in plan)
    overheads = [per_student[f"student{i:04d}"] - bare[kind] for i, kind in enumerate(plan)]
    results = {
        "targets": targets, "students": args.students, "jobs": args.jobs, "cpus": os.cpu_count(),
        "mix": {kind: plan.count(kind) for kind in kinds},
        "bare_seconds_per_kind": {k: round(v, 3) for k, v in bare.items()},
        "batch_wall_seconds": round(wall, 2),
        "submissions_per_minute": round(args.students / wall * 60, 1),
        "overhead_per_submission_seconds": {"mean": round(statistics.mean(overheads), 3),
                                            "median": round(statistics.median(overheads), 3)},
        "fixed_start_and_finish_seconds": round(wall - sum(per_student.values()) / args.jobs, 2),
        "in_process_equivalent_ratio": round(wall / (bare_total / args.jobs), 3),
        "peak_memory_pss_mib": round(peak / (1 << 20), 1),
        "load_average_1min_before_after": [round(load_before, 2), round(load_after, 2)],
    }
    print(json.dumps(results, indent=2))
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
