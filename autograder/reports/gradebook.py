"""The CSV gradebook: one row per submission, a column per question in exam order.

The last column says how its code was isolated: "namespaces", or "own uid" / "none" when it was
graded with --unsafe-no-sandbox. A submission with no grade (status "no submission") has empty point cells, never 0. Cells a
student controls (the submission id, a status quoting a problem) stay on one line and cannot
become spreadsheet formulas: one that starts with = + - @, a tab or a carriage return gets a
leading single quote, as OWASP recommends for CSV injection.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder import rubric as rubric_module
from autograder.output_files import write_atomic
from autograder.scoring import SubmissionScore

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """`value` on one line, as a spreadsheet shows it, never as a formula."""
    value = " ".join(value.splitlines())   # a bare \r would end the row: csv quotes only \n
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def columns(track: str) -> list[str]:
    rubric = rubric_module.load()
    return (["submission"] + [f"Q{q.id}" for q in rubric.questions_in(track)]
            + [f"part{p}" for p in rubric.tracks[track].parts] + ["total", "max", "on20", "status", "sandbox"])


def row(score: SubmissionScore) -> list[str]:
    rubric = rubric_module.load()
    points = {q.id: f"{q.points:g}" for q in score.questions}
    parts = {p: f"{part['points']:g}" for p, part in score.parts.items()}
    graded = score.total is not None
    return ([score.submission] + [points.get(q.id, "") for q in rubric.questions_in(score.track)]
            + [parts.get(str(p), "") for p in rubric.tracks[score.track].parts]
            + [f"{score.total:g}" if graded else "", f"{score.max:g}",
               f"{score.on20:g}" if graded else "", score.status, score.sandbox if graded else ""])


def write(scores: list[SubmissionScore], path: Path) -> None:
    """Write the gradebook of `scores` (at least one, all on the same track)."""
    tracks = sorted({s.track for s in scores})
    if len(tracks) != 1:
        raise ValueError(f"a gradebook holds the results of one track, got {tracks or 'none'}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(tracks[0]))
    for s in scores:
        writer.writerow([cell(value) for value in row(s)])
    write_atomic(path, out.getvalue())
