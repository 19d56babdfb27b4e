"""The terminal report: one table per submission (question, title, points, first failure)."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder.scoring import SubmissionScore


def pts(x: float) -> str:
    """Points as a grader reads them: at most two decimals (1.5, 0.67, 2)."""
    return f"{round(x, 2):g}"


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
    # escape(): names, messages and problems quote student text, which is not rich markup
    table = Table(title=f"{escape(score.submission)} — track {score.track}", title_justify="left")
    table.add_column("Q", style="bold")
    table.add_column("title")
    table.add_column("points", justify="right")
    table.add_column("first failure", overflow="fold", max_width=70)
    for q in score.questions:
        style = "green" if q.points == q.max else ("red" if q.points == 0 else "yellow")
        table.add_row(q.id, q.title, f"[{style}]{pts(q.points)}/{pts(q.max)}[/{style}]",
                      escape(first_failure(q)))
    console.print(table)
    for line in score.problems:
        console.print(f"  [yellow]submission:[/yellow] {escape(line)}")
    for line in score.warnings:
        console.print(f"  [yellow]warning:[/yellow] {escape(line)}")
    console.print(f"  [bold]total {pts(score.total)}/{pts(score.max)}[/bold]   on 20: {pts(score.on20)}\n")


def render_summary(scores: list[SubmissionScore], console: Console) -> None:
    """One row per submission: part totals, total, on 20, status."""
    table = Table(title=f"{len(scores)} submissions", title_justify="left")
    table.add_column("submission", style="bold", no_wrap=True)
    parts = list(scores[0].parts) if scores else []
    for p in parts:
        table.add_column(f"part {p}", justify="right")
    table.add_column("total", justify="right")
    table.add_column("on 20", justify="right")
    table.add_column("status")
    for s in scores:
        table.add_row(escape(s.submission), *(f"{pts(s.parts[p]['points'])}/{pts(s.parts[p]['max'])}" for p in parts),
                      f"{pts(s.total)}/{pts(s.max)}", pts(s.on20), s.status)
    console.print(table)
