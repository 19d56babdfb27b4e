"""`dlexam check`: a student's public checks, run on their own modules, with a point estimate.

The checks run as plain `pytest` runs them in the student's folder: the folder's conftest.py
registers the bundle's plugin (release/templates/public_checks.py), which runs the numpy-only
modules with the grader's stand-in for torch, shortens failures to the grader's messages, and
computes the estimate. This command prints the same estimate, from that same plugin, as a
table (pytest's own text estimate and torch note are left out, the table shows them). It runs
the student's code on the student's own machine: a study aid, not grading; the hidden suites
check more cases, so the final grade can be lower.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder import rubric as rubric_module
from autograder.release import bundle
from autograder.reports.table import pts


class CheckCommand:
    """Keeps only one part's checks, quiets the bundle plugin's own summary, and takes its
    estimate when the session ends."""

    def __init__(self, part: int | None):
        self.part = part
        self.public = None

    def pytest_sessionstart(self, session):
        public = session.config.pluginmanager.get_plugin("public-checks")
        if public is not None:
            public.quiet = True     # this command prints the summary, as a table

    def pytest_collection_modifyitems(self, config, items):
        public = config.pluginmanager.get_plugin("public-checks")
        if self.part is None or public is None:
            return
        part_of = {q["id"]: q["part"] for q in public.points["questions"]}
        kept = [i for i in items if (m := i.get_closest_marker("question"))
                and part_of.get(m.args[0]) == self.part]
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        self.public = session.config.pluginmanager.get_plugin("public-checks")


def run_public_checks(folder: Path, part: int | None, console: Console) -> int:
    folder = Path(folder).resolve()
    if not (folder / "tests").is_dir():
        console.print(f"[red]no tests/ folder in {escape(str(folder))}: run this in your "
                      f"assignment folder (the one `dlexam release` made)[/red]")
        return 2
    if (folder / "tests" / "support").is_dir():
        return _run(folder, part, console)
    # Not a released bundle (the kit's own assignments/, say): its modules and public tests,
    # with this kit's support files around them, in a copy.
    console.print(f"{escape(str(folder))} has no tests/support/: checking it with this kit's")
    with tempfile.TemporaryDirectory(prefix="dlexam-check-") as scratch:
        copy = Path(scratch)
        files = bundle.bundle_files(rubric_module.load())
        for name, text in files.items():
            if name.startswith("tests/support/") or name in ("conftest.py", "points.json",
                                                             "pytest.ini"):
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                (copy / name).write_text(text, encoding="utf-8")
        for path in [*folder.glob("*.py"), *(folder / "tests").glob("*.py")]:
            if path.name != "conftest.py":
                target = copy / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return _run(copy, part, console)


def _run(folder: Path, part: int | None, console: Console) -> int:
    command = CheckCommand(part)
    pytest.main([str(folder / "tests"), "-q", "-p", "no:cacheprovider", "--rootdir", str(folder)],
                plugins=[command])
    public = command.public
    if public is None:
        console.print("[red]the folder's conftest.py did not load the public checks: release "
                      "the bundle again with this kit[/red]")
        return 2
    render(public, console)
    return 0


def render(public, console: Console) -> None:
    """The plugin's estimate as a table, its totals, the torch notes, the hidden-suites line."""
    rows = public.estimate()
    if not rows:
        console.print("no public check ran")
        return
    table = Table(title="estimate on the exam's point scale", title_justify="left")
    table.add_column("Q", style="bold")
    table.add_column("title")
    table.add_column("points", justify="right")
    table.add_column("checks passed", justify="right")
    for r in rows:
        q = r["question"]
        style = ("green" if r["points"] == q["points"] else
                 "red" if r["points"] == 0 else "yellow")
        table.add_row(q["id"], escape(q["title"]) + (f"\n[red]{escape(r['note'])}[/red]"
                                                     if r["note"] else ""),
                      f"[{style}]{pts(r['points'])}/{pts(q['points'])}[/{style}]",
                      f"{r['passed']} of {r['run']}")
    console.print(table)
    for line in public.torch_notes():
        console.print(f"  [yellow]numpy-only rule:[/yellow] {escape(line)}")
    for points, maximum, what in public.totals(rows):
        console.print(f"  [bold]estimate {pts(points)}/{pts(maximum)}[/bold]  ({escape(what)})")
    console.print(f"  {escape(public.HIDDEN_SUITES)}")
