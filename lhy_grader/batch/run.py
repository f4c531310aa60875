"""The coordinator of ``lhy-grade grade``: find the students, skip those already graded,
grade the rest in parallel, record each result durably, write the gradebook files."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lhy_grader import catalogue
from lhy_grader.batch import reports
from lhy_grader.batch.executors import run_dask, run_local
from lhy_grader.batch.grading import graded_names, make_setup, refused_result, select_work
from lhy_grader.batch.store import Gradebook, Row
from lhy_grader.batch.submissions import Submission, UnsafeSubmission, discover, unpack
from lhy_grader.compare.reference import solutions_folder
from lhy_grader.worker import sandbox
from lhy_grader.worker.limits import Limits
from lhy_grader.worker.sandbox import Isolation, Policy

STATE = ".lhy"          # under DIR: unpacked zips, grading-process logs
DATABASE = "gradebook.sqlite"


@dataclass
class BatchOptions:
    submissions: Path
    out: Path
    jobs: int = 1
    limits: Limits = field(default_factory=Limits)
    targets: tuple[str, ...] = ()
    no_train: bool = False
    regrade: bool = False
    executor: str = "local"           # "local" or "dask"
    scheduler: str | None = None      # the Dask scheduler's address


@dataclass
class Progress:
    """What the coordinator reports while it runs (the CLI draws a bar from it)."""
    total: int = 0
    done: int = 0
    skipped: int = 0
    below_full: int = 0
    crashed: int = 0                  # students with an exercise in error or timeout
    started: float = field(default_factory=time.monotonic)


@dataclass
class BatchReport:
    students: int
    graded: int
    skipped: int
    seconds: float
    isolation: str
    outcome_seconds: list[float]


def config_key(exercises: list[catalogue.Exercise], trainings: list, seed: int) -> str:
    """What a recorded result depends on besides the submission: a change means grading again."""
    text = json.dumps({"exercises": [(ex.name, ex.points, [c.name for c in ex.checks]) for ex in exercises],
                       "trainings": [(check.name, check.points) for check in trainings], "seed": seed})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grade_folder(options: BatchOptions, on_progress: Callable[[Progress, str | None], None] | None = None) -> BatchReport:
    """Grade every student of ``options.submissions`` not graded yet into ``options.out``."""
    sandbox.prctl(sandbox.PR_SET_DUMPABLE, 0)  # the seed is in this process's memory
    out, state = options.out, options.out / STATE
    for folder in (out, state, out / "feedback"):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    log = open(out / "grading.log", "a", encoding="utf-8")
    book = Gradebook(out / DATABASE)
    progress = Progress()
    notify = on_progress or (lambda p, line: None)
    isolations: list[str] = []

    def say(line: str) -> None:
        log.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        log.flush()

    try:
        seed = book.seed()
        exercises, trainings = select_work(options.targets, options.no_train)
        names = graded_names(exercises, trainings)
        config = config_key(exercises, trainings, seed)
        students = discover(options.submissions)
        progress.total = len(students)
        say(f"grading {options.submissions} into {out}: {len(students)} students, {len(names)} exercises "
            f"and training checks, {options.jobs} job(s), executor {options.executor}")

        def refuse(student: Submission, reason: str) -> None:
            record(student, refused_result(exercises, trainings, reason).to_json(), "", 0.0)

        def record(student: Submission, result: dict, output: str, seconds: float) -> None:
            book.record(student.student, student.digest, config, result, output, seconds)
            reports.feedback_files(out, Row(student.student, student.digest, config, result, output, seconds))
            progress.done += 1
            statuses = {e["status"] for e in result["exercises"]}
            progress.below_full += result["score"] < result["max_score"]
            progress.crashed += bool(statuses & {"error", "timeout"})
            say(f"{student.student!r}: {result['score']:g}/{result['max_score']:g} in {seconds:.2f} s")
            notify(progress, student.student)

        tasks, by_id = [], {}
        for student in students:
            if student.problem is not None:
                student.digest = _refused_digest(student)
            if not options.regrade and book.is_done(student.student, student.digest, config):
                progress.skipped += 1
                progress.done += 1
                continue
            folder = student.source
            if student.problem is None and student.is_zip:
                try:
                    folder = unpack(student.source, state / "unzipped" / _safe_name(student.student))
                except UnsafeSubmission as e:
                    student.problem = str(e)
            if student.problem is not None:
                refuse(student, f"submission refused: {student.problem}")
                continue
            by_id[student.student] = student
            tasks.append({"student": student.student, "path": str(folder)})
        say(f"{progress.skipped} already graded, {len(tasks)} to grade")
        notify(progress, None)

        outcome_seconds: list[float] = []

        def on_isolation(data: dict) -> None:
            line = Isolation.from_json(data).summary()
            if line not in isolations:
                isolations.append(line)
                say(f"sandbox: {line}")

        def on_outcome(outcome: dict) -> None:
            record(by_id[outcome["student"]], outcome["result"], outcome.get("output", ""), outcome["seconds"])
            outcome_seconds.append(outcome["seconds"])

        def on_failure(task: dict, reason: str) -> None:
            say(f"{task['student']!r}: {reason}")
            refuse(by_id[task["student"]], f"grading failed: {reason}")

        policy = Policy(hide=_hidden_paths(options))
        setup = make_setup(list(options.targets), options.no_train, seed, options.limits, policy)
        if tasks and options.executor == "dask":
            run_dask(setup, tasks, options.scheduler,
                     (options.limits.submission_files, options.limits.submission_bytes),
                     on_isolation, on_outcome, on_failure)
        elif tasks:
            run_local(setup, tasks, options.jobs, state, on_isolation, on_outcome, on_failure)
        if isolations:
            book.set_meta("isolation", "\n".join(isolations))
        isolation = book.meta("isolation") or ""
        export(book, [s.student for s in students], names, out, isolation)
        say(f"done in {time.monotonic() - progress.started:.1f} s")
        return BatchReport(len(students), progress.done - progress.skipped, progress.skipped,
                           time.monotonic() - progress.started, "\n".join(isolations), outcome_seconds)
    finally:
        book.close()
        log.close()


def export(book: Gradebook, student_ids: list[str], exercise_names: list[str], out: Path, isolation: str) -> None:
    """Rewrite grades.csv, every feedback file and the class summary from the gradebook."""
    rows = book.rows()
    present = [rows[s] for s in student_ids if s in rows]
    reports.write_atomically(out / "grades.csv", reports.grades_csv(present, exercise_names))
    for row in present:
        reports.feedback_files(out, row)
    reports.write_atomically(out / "summary.md", reports.summary_markdown(present, isolation))
    reports.summary_plot(present, out / "summary.png")


def _hidden_paths(options: BatchOptions) -> tuple[str, ...]:
    paths = [solutions_folder(), options.submissions, options.out]
    return tuple(dict.fromkeys(os.path.realpath(p) for p in paths))


def _safe_name(student: str) -> str:
    return hashlib.sha256(student.encode()).hexdigest()[:20]


def _refused_digest(student: Submission) -> str:
    """A refused submission has no content hash; its size and time still tell when it changes."""
    info = student.source.stat()
    return f"refused:{info.st_size}:{info.st_mtime_ns}"
