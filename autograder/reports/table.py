"""The terminal report: a table per submission (question, title, points, first failure), a
summary table for several, one line per submission for --quiet.

Tables fit 80 columns, the width rich gives a pipe or a file: titles, ids, statuses and messages
wrap; numbers never wrap and never shrink to an ellipsis. Student text is escaped as markup.
"""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
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
    if score.total is None:
        console.print(f"[bold]{escape(score.submission)}[/bold]: [yellow]{escape(score.status)}[/yellow]")
    else:
        table = Table(title=f"{escape(score.submission)} — track {score.track}", title_justify="left")
        table.add_column("Q", style="bold", no_wrap=True)
        table.add_column("title", overflow="fold")
        table.add_column("points", justify="right", no_wrap=True, min_width=len("points"))
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
    if score.total is not None:
        console.print(f"  [bold]total {pts(score.total)}/{pts(score.max)}[/bold]   "
                      f"on 20: {pts(score.on20)}")
    console.print()


def summary_table(scores: list[SubmissionScore], with_parts: bool = True,
                  id_width: int | None = None) -> Table:
    """One row per submission: part totals (maxima in the header), total, on 20, status.

    Numbers never wrap nor shrink; ids (at most `id_width` wide) and statuses wrap; a submission
    with no grade has empty cells."""
    graded = [s for s in scores if s.total is not None]
    parts = graded[0].parts if graded and with_parts else {}
    table = Table(title=f"{len(scores)} submissions, track {scores[0].track}", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("submission", style="bold", overflow="fold", min_width=len("submission"),
                     max_width=id_width)
    for p, part in parts.items():
        table.add_column(f"part{p}\n/{pts(part['max'])}", justify="right", no_wrap=True,
                         min_width=len("10.67"))
    table.add_column(f"total\n/{pts(scores[0].max)}", justify="right", no_wrap=True,
                     min_width=len("10.67"))
    table.add_column("on 20", justify="right", no_wrap=True, min_width=len("10.67"))
    table.add_column("status", overflow="fold", min_width=len("submission"))
    for s in scores:
        if s.total is None:
            numbers, style = [""] * (len(parts) + 2), "yellow"
        else:
            numbers = [pts(s.parts[p]["points"]) for p in parts] + [pts(s.total), pts(s.on20)]
            style = None if s.status == "graded" else "red"
        table.add_row(escape(s.submission), *numbers, escape(s.status), style=style)
    return table


def render_summary(scores: list[SubmissionScore], console: Console) -> None:
    """The summary table; without the part columns when they leave less than 10 columns for ids."""
    narrowest = summary_table(scores, id_width=len("submission"))
    needed = Measurement.get(console, console.options.update_width(10_000), narrowest).minimum
    console.print(summary_table(scores, with_parts=needed <= console.width))


def one_line(score: SubmissionScore) -> str:
    """The submission, its total and its status on one line (for --quiet)."""
    total = (f"{pts(score.total)}/{pts(score.max)}  on 20: {pts(score.on20)}"
             if score.total is not None else "no grade")
    unsafe = "" if score.sandbox == "namespaces" else f"  (sandbox: {score.sandbox})"
    return f"{score.submission}  {total}  {score.status}{unsafe}"
