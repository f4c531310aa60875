"""Where grading processes run: local slots (``--jobs N``) or a Dask cluster.

Both run ``grading.Grader`` in trusted processes and hand back JSON outcomes; the
coordinator alone writes the gradebook. A task is ``{"student": id, "path": folder}``.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

from lhy_grader.batch.grading import Grader
from lhy_grader.worker import sandbox
from lhy_grader.worker.staging import submission_files

OnIsolation = Callable[[dict], None]
OnOutcome = Callable[[dict], None]
MAX_ATTEMPTS = 2
#: The checks' own computations are tiny: a BLAS thread pool per grading process would only
#: spin against the other grading processes (Dask's nanny sets the same for its workers).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _die_with_parent() -> None:
    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)


class _Slot:
    """One local grading process."""

    def __init__(self, setup: dict, log_path: Path) -> None:
        read_fd, write_fd = os.pipe()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "lhy_grader.batch.slot", str(write_fd)],
                pass_fds=(write_fd,), stdin=subprocess.PIPE, stdout=log, stderr=log,
                cwd=log_path.parent, preexec_fn=_die_with_parent, env={**os.environ, **ONE_THREAD},
            )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "r")
        self.task: dict | None = None
        self.started = False
        self.send(setup)

    def send(self, message: dict) -> None:
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.results.close()


def run_local(setup: dict, tasks: Iterable[dict], jobs: int, state_dir: Path,
              on_isolation: OnIsolation, on_outcome: OnOutcome, on_failure: Callable[[dict, str], None]) -> None:
    """Grade ``tasks`` on ``jobs`` local grading processes. A task whose grading process
    dies is retried once on a new one, then reported to ``on_failure``."""
    pending = list(tasks)[::-1]
    attempts: dict[str, int] = {}
    selector = selectors.DefaultSelector()
    slots: list[_Slot] = []

    def open_slot(index: int) -> _Slot:
        slot = _Slot(setup, state_dir / f"grader-{index}.log")
        selector.register(slot.results, selectors.EVENT_READ, slot)
        return slot

    def feed(slot: _Slot) -> None:
        if pending and slot.started and slot.task is None:
            slot.task = pending.pop()
            slot.send(slot.task)

    try:
        for i in range(min(jobs, len(pending))):
            slots.append(open_slot(i))
        while any(s.task is not None or not s.started for s in slots):
            for key, _ in selector.select():
                slot: _Slot = key.data
                line = slot.results.readline()
                if not line:  # the grading process died
                    selector.unregister(slot.results)
                    task, slot.task = slot.task, None
                    slot.close()
                    if not slot.started:
                        raise RuntimeError(f"a grading process could not start: see {state_dir}/grader-*.log")
                    index = slots.index(slot)
                    if task is not None:
                        attempts[task["student"]] = attempts.get(task["student"], 0) + 1
                        if attempts[task["student"]] < MAX_ATTEMPTS:
                            pending.append(task)
                        else:
                            on_failure(task, f"the grading process died (exit status {slot.proc.returncode})")
                    slots[index] = open_slot(index) if (pending or task) else _Finished()
                    continue
                message = json.loads(line)
                if not slot.started:
                    slot.started = True
                    feed(slot)
                    on_isolation(message["isolation"])
                else:
                    slot.task = None
                    feed(slot)  # the next submission first: recording this one must not keep the slot idle
                    on_outcome(message)
            for slot in slots:
                if isinstance(slot, _Slot):
                    feed(slot)
    finally:
        for slot in slots:
            if isinstance(slot, _Slot):
                try:
                    selector.unregister(slot.results)
                except (KeyError, ValueError):
                    pass
                slot.close()


class _Finished:
    """A slot position whose grading process is gone and not needed again."""
    task = None
    started = True


# ---------------------------------------------------------------------------
# Dask

_graders: dict[tuple[int, str], Grader] = {}
_graders_lock = threading.Lock()


def grade_remote(setup: dict, student: str, files: dict[str, bytes]) -> dict:
    """A Dask task: grade one submission shipped as ``{relative path: bytes}`` with this
    process's (per-thread) Grader, whose fork server starts the sandboxed workers here."""
    key = (threading.get_ident(), json.dumps(setup, sort_keys=True))
    with _graders_lock:
        grader = _graders.get(key)
        if grader is None:
            grader = _graders[key] = Grader(setup)
    with tempfile.TemporaryDirectory(prefix="lhy-remote-") as folder:
        for relative, data in files.items():
            target = Path(folder, relative)
            if ".." in Path(relative).parts or Path(relative).is_absolute():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        outcome = grader.grade(student, Path(folder))
    outcome["isolation"] = grader.isolation()
    return outcome


def close_remote_graders() -> int:
    """Stop the fork servers of this process's Graders (run on every Dask worker at the end)."""
    with _graders_lock:
        graders = list(_graders.values())
        _graders.clear()
    for grader in graders:
        grader.close()
    return len(graders)


def run_dask(setup: dict, tasks: Iterable[dict], scheduler: str, limits_files: tuple[int, int],
             on_isolation: OnIsolation, on_outcome: OnOutcome, on_failure: Callable[[dict, str], None]) -> None:
    """Grade ``tasks`` on the Dask cluster at ``scheduler``; the submissions' files travel
    with the tasks, so the cluster's nodes need no shared file system."""
    from distributed import Client, as_completed

    seen_isolation: set[str] = set()
    with Client(scheduler, set_as_default=False) as client:
        futures = {}
        for task in tasks:
            files = {relative: path.read_bytes()
                     for relative, path in submission_files(Path(task["path"]), *limits_files)}
            future = client.submit(grade_remote, setup, task["student"], files, pure=False,
                                   key=f"lhy-grade-{len(futures)}-{task['student'][:40]}")
            futures[future] = task
        for future in as_completed(futures, loop=client.loop):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as e:
                on_failure(task, f"the Dask task failed: {type(e).__name__}: {e}")
                continue
            isolation = outcome.pop("isolation", None)
            if isolation is not None and json.dumps(isolation, sort_keys=True) not in seen_isolation:
                seen_isolation.add(json.dumps(isolation, sort_keys=True))
                on_isolation(isolation)
            on_outcome(outcome)
        client.run(close_remote_graders)
