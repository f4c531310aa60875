"""The ``lhy-grade grade`` command (registered in ``lhy_grader.cli``)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import click

EPILOG = ("Writes DIR/grades.csv, DIR/feedback/<student>.json and .md, DIR/summary.md and .png, and the "
          "gradebook DIR/gradebook.sqlite. Re-running resumes: students already graded (same content) "
          "are skipped. Exit status: 0 when every student is in the gradebook, 2 for a usage error.")


@click.command(epilog=EPILOG)
@click.argument("submissions", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder DIR (created; readable by its owner only).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Submissions graded in parallel (local grading processes).")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Wall-clock budget of one submission, in seconds (each call also has its exercise's limit).")
@click.option("--only", "targets", multiple=True, metavar="TARGET",
              help="Grade only this module, module.function, `train` or train.<name> (repeatable; "
                   "default: everything, the training checks last).")
@click.option("--regrade", is_flag=True, help="Grade every student again, even those already graded.")
@click.option("--no-train", is_flag=True, help="Skip the small-model training checks.")
@click.option("--call-timeout", type=click.FloatRange(min=0.1), default=None,
              help="Cap on the wall clock of every single call, in seconds (default: each exercise's own).")
@click.option("--cpu", "cpu_seconds", type=click.IntRange(min=1), default=None,
              help="CPU seconds per worker (default: the --timeout).")
@click.option("--memory", "memory_mib", type=click.IntRange(min=256), default=8192, show_default=True,
              help="Address space per worker, in MiB.")
@click.option("--max-processes", type=click.IntRange(min=4), default=64, show_default=True,
              help="Processes and threads per worker (binds where workers get a user of their own).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Run grading processes here, or on a Dask cluster (see --scheduler).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --executor dask).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def grade(submissions: Path, out: Path, jobs: int, timeout: float, targets: tuple[str, ...], regrade: bool,
          no_train: bool, call_timeout: float | None, cpu_seconds: int | None, memory_mib: int,
          max_processes: int, executor: str, scheduler: str | None, quiet: bool) -> None:
    """(Instructors) grade every student folder (or zip) of SUBMISSIONS into DIR."""
    from lhy_grader.batch.grading import select_work
    from lhy_grader.batch.run import BatchOptions, grade_folder
    from lhy_grader.worker.limits import Limits

    if not submissions.is_dir():
        raise click.UsageError(f"submission folder {submissions} does not exist")
    if out.resolve().is_relative_to(submissions.resolve()):
        raise click.UsageError("--out must not be inside SUBMISSIONS (it would be taken for a student)")
    if executor == "dask" and not scheduler:
        raise click.UsageError("--executor dask needs --scheduler ADDRESS")
    try:
        select_work(targets, no_train)
    except LookupError as e:
        raise click.UsageError(f"unknown target {e.args[0]!r} (see `lhy-grade list`)") from None
    if executor == "dask" and importlib.util.find_spec("distributed") is None:
        raise click.UsageError("--executor dask needs `pip install 'lhy-grader[dask]'`")

    limits = Limits(cpu_seconds=cpu_seconds or int(timeout), memory_bytes=memory_mib << 20,
                    processes=max_processes, call_seconds=call_timeout, submission_seconds=timeout)
    options = BatchOptions(submissions, out, jobs, limits, targets, no_train, regrade, executor, scheduler)
    if quiet:
        report = grade_folder(options)
    else:
        report = _with_progress_bar(options, grade_folder)
    click.echo(f"{report.students} students: {report.graded} graded, {report.skipped} already graded, "
               f"in {report.seconds:.1f} s → {out / 'grades.csv'}")
    for line in report.isolation.splitlines():
        click.echo(f"sandbox: {line}", err=True)


def _with_progress_bar(options, grade_folder):
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
               TextColumn("{task.fields[failures]}"), TextColumn("[dim]{task.fields[last]}"))
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("grading", total=None, rate="", failures="", last="")

        def update(progress, student):
            graded = progress.done - progress.skipped
            minutes = max((time.monotonic() - progress.started) / 60, 1e-9)
            bar.update(task, total=progress.total, completed=progress.done,
                       rate=f"{graded / minutes:.1f}/min" if graded else "",
                       failures=f"below full: {progress.below_full} · crashed/timed out: {progress.crashed}",
                       last=escape(student[:30]) if student else "")

        return grade_folder(options, update)
