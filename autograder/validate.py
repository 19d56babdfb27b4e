"""`dlexam validate`: the reference solutions get every point the suites grade, the skeletons 0.

A staff check before a release: it catches a hidden test that fails a correct implementation
(the solutions) and one that passes without any implementation (the skeletons).
"""
from __future__ import annotations

from rich.console import Console

from autograder.grading import grade
from autograder.reports.table import first_failure
from autograder.skeleton import ASSIGNMENTS_DIR, SOLUTIONS_DIR


def validate(console: Console, track: str = "M2") -> int:
    solutions, skeletons = grade([SOLUTIONS_DIR, ASSIGNMENTS_DIR], track=track)
    problems = []
    for q in solutions.questions:
        if q.status == "graded" and q.points != q.max:
            problems.append(f"solutions lose points on Q{q.id}: {first_failure(q)}")
    for q in skeletons.questions:
        if q.points != 0:
            problems.append(f"skeletons score {q.points:g} on Q{q.id}")
    graded = [q.id for q in solutions.questions if q.status == "graded"]
    console.print(f"graded questions: {', '.join(graded) or 'none'}")
    console.print(f"solutions: {solutions.total:g}/{solutions.max:g}   "
                  f"skeletons: {skeletons.total:g}/{skeletons.max:g}")
    for line in problems:
        console.print(f"[red]{line}[/red]")
    console.print("[green]valid[/green]" if not problems else "[red]not valid[/red]")
    return 1 if problems else 0
