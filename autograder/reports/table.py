"""The terminal report: one table per submission (question, title, points, first failure)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from autograder.scoring import SubmissionScore


def first_failure(question) -> str:
    for note in question.notes:
        return note
    if question.status == "not graded yet":
        return "not graded yet"
    for test in question.tests:
        if not test.passed:
            return test.message.splitlines()[0] if test.message else test.name
    return ""


def render(score: SubmissionScore, console: Console) -> None:
    table = Table(title=f"{score.submission} — track {score.track}", title_justify="left")
    table.add_column("Q", style="bold")
    table.add_column("title")
    table.add_column("points", justify="right")
    table.add_column("first failure", overflow="fold", max_width=70)
    for q in score.questions:
        style = "green" if q.points == q.max else ("red" if q.points == 0 else "yellow")
        table.add_row(q.id, q.title, f"[{style}]{q.points:g}/{q.max:g}[/{style}]", first_failure(q))
    console.print(table)
    for line in score.problems:
        console.print(f"  [yellow]submission:[/yellow] {line}")
    for line in score.warnings:
        console.print(f"  [yellow]warning:[/yellow] {line}")
    console.print(f"  [bold]total {score.total:g}/{score.max:g}[/bold]   on 20: {score.on20:g}\n")
