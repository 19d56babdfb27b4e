"""Gradescope's autograder results format (results.json): one test row per exam question.

https://gradescope-autograders.readthedocs.io/en/latest/specs/ — top-level `score`, `output`,
`tests`; each test has `name`, `number`, `score`, `max_score`, `status`, `output`,
`visibility`. Rows are held back until the grades are published by default
("after_published"), so students do not see hidden-test feedback before the staff does.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.output_files import write_atomic
from autograder.reports.table import pts
from autograder.scoring import SubmissionScore

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def results(score: SubmissionScore, visibility: str = "after_published") -> dict:
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}")
    tests = []
    for q in score.questions:
        failures = [f"{t.name}: {t.message}" for t in q.tests if not t.passed]
        output = "\n\n".join(q.notes + failures) or ("all checks passed" if q.status == "graded"
                                                      else q.status)
        tests.append({"name": f"Q{q.id} {q.title}", "number": q.id, "score": q.points,
                      "max_score": q.max, "status": "passed" if q.points == q.max else "failed",
                      "output": output, "visibility": visibility})
    summary = [f"Total {pts(score.total)}/{pts(score.max)} (on 20: {pts(score.on20)}), track {score.track}."]
    summary += [f"Submission: {p}" for p in score.problems]
    summary += [f"Warning: {w}" for w in score.warnings]
    return {"score": score.total, "output": "\n".join(summary), "visibility": visibility,
            "stdout_visibility": "hidden", "tests": tests}


def write(score: SubmissionScore, path: Path, visibility: str = "after_published") -> None:
    write_atomic(path, json.dumps(results(score, visibility), indent=1))
