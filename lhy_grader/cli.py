"""`lhy-grade`: check your exercises, list the catalogue, (instructors) regenerate stubs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lhy_grader import catalogue

EPILOG = "Exit status: 0 full marks, 1 some points missing, 2 usage error."


def default_path() -> Path:
    here = Path.cwd()
    return here / "exercises" if (here / "exercises").is_dir() else here


def resolve_device(device: str) -> str:
    if device == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise click.UsageError("--device cuda: no CUDA device is available here")
    return device


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lhy-grader")
def main() -> None:
    """Auto-graded exercises for Hung-yi Lee's Machine Learning 2021 Spring.

    Write the functions in exercises/*.py, then run `lhy-grade check`.
    """


@main.command(epilog=EPILOG)
@click.argument("targets", nargs=-1)
@click.option("--path", type=click.Path(path_type=Path), default=None,
              help="Submission folder (default: ./exercises if it exists, else .).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the report.")
@click.option("--seed", type=int, default=None, help="Seed for the generated inputs (default: the public seed).")
@click.option("--no-train", is_flag=True, help="Skip the small-model training checks.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where tensors live during checks and training.")
@click.option("--thorough", is_flag=True, help="Try 4x more generated inputs per property (slower).")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write a loss-curve PNG of each training check into this folder.")
@click.option("-v", "--verbose", is_flag=True, help="Also list exercises not started yet.")
def check(targets: tuple[str, ...], path: Path | None, as_json: bool, seed: int | None,
          no_train: bool, device: str, thorough: bool, plots: Path | None, verbose: bool) -> None:
    """Grade TARGETS (a module like `attention`, or `attention.multi_head_attention`;
    `train` or `train.<name>` for the training checks).

    Without TARGETS, everything is graded, the training checks last.
    """
    from lhy_grader.runner import PUBLIC_SEED, grade_submission
    from lhy_grader.training import TrainingOptions

    path = path or default_path()
    if not path.is_dir():
        raise click.UsageError(f"submission folder {path} does not exist")
    try:
        exercises, trainings = select_targets(targets, no_train)
    except LookupError as e:
        raise click.UsageError(f"unknown target {e.args[0]!r} (see `lhy-grade list`)") from None
    device = resolve_device(device)
    seed = PUBLIC_SEED if seed is None else seed
    effort = 4.0 if thorough else 1.0
    training = TrainingOptions(trainings, plots=plots)

    if as_json:
        result = grade_submission(path, exercises, seed=seed, device=device, effort=effort, training=training)
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from lhy_grader.report.terminal import render
        console = Console()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("starting", total=len(exercises), visible=bool(exercises))

            def advance(ex: catalogue.Exercise) -> None:
                progress.update(task, description=ex.name)
                progress.advance(task, 0 if progress.tasks[0].description == "starting" else 1)

            training_bars: dict[str, int] = {}

            def training_step(name: str, step: int, total: int, loss: float) -> None:
                if name not in training_bars:
                    training_bars[name] = progress.add_task(name, total=total)
                progress.update(training_bars[name], completed=step, description=f"{name}  loss {loss:.4g}")

            training.on_progress = training_step
            result = grade_submission(path, exercises, seed=seed, device=device, effort=effort,
                                      on_exercise=advance, training=training)
        render(result, console, verbose=verbose)
        for trained in (e for e in result.exercises if e.name in training_bars and e.status == "passed"):
            console.print(f"[green]✓[/] {trained.name}: {trained.checks[0].message}", highlight=False)
    sys.exit(0 if all(e.score == e.max_score for e in result.exercises) else 1)


def select_targets(targets: tuple[str, ...], no_train: bool) -> tuple[list, list]:
    """The exercises and the training checks that TARGETS name (none: all of both).

    Raises ``LookupError`` naming the first unknown target.
    """
    from lhy_grader import training
    train_targets = [t for t in targets if training.is_training_target(t)]
    other_targets = [t for t in targets if not training.is_training_target(t)]
    exercises = catalogue.select(other_targets) if other_targets or not targets else []
    trainings = training.select(train_targets) if train_targets or not targets else []
    return exercises, [] if no_train else trainings


@main.command("list")
@click.option("--path", type=click.Path(path_type=Path), default=None,
              help="Submission folder to show the status of (default: as for check).")
def list_(path: Path | None) -> None:
    """The catalogue: every exercise, its points, and whether PATH has written it."""
    from rich.console import Console
    from rich.table import Table

    from lhy_grader.compare.progress import written_status
    from lhy_grader.training import TRAININGS

    path = path or default_path()
    table = Table(show_edge=False)
    for column in ("exercise", "points", "status"):
        table.add_column(column)
    total = 0.0
    for ex in catalogue.all_exercises():
        status = written_status(path / f"{ex.module}.py", ex.function)
        style = {"written": "green", "todo": "yellow"}.get(status, "dim")
        table.add_row(ex.name, f"{ex.points:g}", f"[{style}]{status}[/]")
        total += ex.points
    for check in TRAININGS:
        waiting = [name for name in check.requires
                   if written_status(path / f"{name.split('.')[0]}.py", name.split(".")[1]) != "written"]
        status = f"[dim]needs {len(waiting)} more function(s)[/]" if waiting else "[green]ready to train[/]"
        table.add_row(check.name, f"{check.points:g}", status)
        total += check.points
    console = Console()
    console.print(table)
    console.print(f"{total:g} points in all; `lhy-grade check` grades what is written in {path}")


@main.command()
@click.option("--check", "verify", is_flag=True, help="Only report stubs that are out of date (exit 1 if any).")
@click.option("--solutions", type=click.Path(path_type=Path, file_okay=False), default=Path("solutions"))
@click.option("--exercises", type=click.Path(path_type=Path, file_okay=False), default=Path("exercises"))
def stubs(verify: bool, solutions: Path, exercises: Path) -> None:
    """(Instructors) regenerate exercises/ from solutions/."""
    from lhy_grader.stubs import generate

    if not solutions.is_dir():
        raise click.UsageError(f"{solutions} is not a folder")
    changed = generate(solutions, exercises, write=not verify)
    if verify:
        if changed:
            click.echo(f"out of date: {', '.join(changed)} (run `lhy-grade stubs`)")
            sys.exit(1)
        click.echo("stubs are up to date")
    else:
        click.echo(f"regenerated {', '.join(changed)}" if changed else "stubs are up to date")


from lhy_grader.batch.command import grade  # noqa: E402  (instructors: batch grading)

main.add_command(grade)
