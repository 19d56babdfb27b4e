"""`dlexam check`: a student's public tests, run on their own modules, with a point estimate.

This runs the student's own code in this process, on the student's own machine: it is a study
aid, not grading. The estimate weighs public tests like hidden ones (same rubric, same scoring),
but the hidden suites check more cases, so the final grade can be lower.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.console import Console

from autograder import rubric as rubric_module
from autograder.reports import table
from autograder.scoring import TestResult, score_submission


class EstimatePlugin:
    """Collects one TestResult per public test, from its `question` marker."""

    def __init__(self, part: int | None):
        self.rubric = rubric_module.load()
        self.part = part
        self.results: list[TestResult] = []

    def pytest_collection_modifyitems(self, config, items):
        kept = [i for i in items if self.part is None or self._part(i) == self.part]
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept

    def _part(self, item) -> int | None:
        marker = item.get_closest_marker("question")
        return self.rubric.question(marker.args[0]).part if marker else None

    def pytest_runtest_logreport(self, report):
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        marker = next((m for m in report.user_properties if m[0] == "question"), None)
        if marker:
            self.results.append(TestResult(marker[1], report.nodeid, 1.0, report.passed,
                                           report.longreprtext.splitlines()[-1] if report.failed else ""))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        marker = item.get_closest_marker("question")
        if marker:
            item.user_properties.append(("question", marker.args[0]))


def run_public_checks(folder: Path, part: int | None, console: Console) -> int:
    folder = Path(folder).resolve()
    tests = folder / "tests"
    if not tests.is_dir():
        console.print(f"[red]no tests/ folder in {folder}: run this in your assignment folder[/red]")
        return 2
    plugin = EstimatePlugin(part)
    sys.path.insert(0, str(folder))
    pytest.main([str(tests), "-q", "-p", "no:cacheprovider", "--rootdir", str(folder)],
                plugins=[plugin])
    rubric = plugin.rubric
    graded = {r.question for r in plugin.results}
    score = score_submission(rubric, "M2", folder.name, plugin.results, graded, {}, [], [])
    if part is not None:
        score.questions = [q for q in score.questions if q.part == part]
    table.render(score, console)
    console.print("This is an estimate from the public checks; the hidden suites test more cases.")
    return 0
