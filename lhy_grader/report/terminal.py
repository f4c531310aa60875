"""The student's view: a rich table of exercises, then every failed check explained."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lhy_grader.runner import SubmissionResult

STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow",
         "not_implemented": "dim", "missing": "dim"}


def render(result: SubmissionResult, console: Console, *, verbose: bool = False) -> None:
    table = Table(title="lhy-grade", title_justify="left", show_edge=False)
    table.add_column("exercise")
    table.add_column("score", justify="right")
    table.add_column("status")
    table.add_column("checks passed", justify="right")
    for ex in result.exercises:
        passed = sum(c.passed for c in ex.checks)
        table.add_row(ex.name, f"{ex.score:g} / {ex.max_score:g}",
                      f"[{STYLE[ex.status]}]{ex.status}[/]", f"{passed}/{len(ex.checks)}")
    console.print(table)

    for ex in result.exercises:
        if ex.status in ("not_implemented", "missing") and not verbose:
            continue
        failed = [c for c in ex.checks if not c.passed]
        if not failed:
            continue
        console.print(f"\n[bold]{escape(ex.name)}[/] [{STYLE[ex.status]}]{ex.status}[/]")
        for check in failed:
            console.print(f"  [red]✗[/] {escape(check.name)}")
            for line in check.message.splitlines():
                console.print(f"      {escape(line)}", highlight=False)
            if check.hint:
                console.print(f"      [yellow]hint:[/] {escape(check.hint)}", highlight=False)

    todo = [e.name for e in result.exercises if e.status in ("not_implemented", "missing")]
    if todo:
        console.print(f"\n[dim]not started ({len(todo)}): {', '.join(todo)}[/]")
    console.print(f"\n[bold]score {result.score:g} / {result.max_score:g}[/]")
