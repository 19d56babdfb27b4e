"""The CSV gradebook: one row per submission, a column per question in exam order."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.output_files import write_atomic
from autograder.scoring import SubmissionScore


def columns(scores: list[SubmissionScore]) -> list[str]:
    questions = [q.id for q in scores[0].questions] if scores else []
    parts = list(scores[0].parts) if scores else []
    return (["submission"] + [f"Q{q}" for q in questions] + [f"part{p}" for p in parts]
            + ["total", "max", "on20", "status"])


def write(scores: list[SubmissionScore], path: Path) -> None:
    """Write the gradebook; every submission must be graded on the same track."""
    tracks = {s.track for s in scores}
    if len(tracks) > 1:
        raise ValueError(f"one gradebook per track, got {sorted(tracks)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(scores))
    for s in scores:
        writer.writerow([s.submission] + [f"{q.points:g}" for q in s.questions]
                        + [f"{p['points']:g}" for p in s.parts.values()]
                        + [f"{s.total:g}", f"{s.max:g}", f"{s.on20:g}", s.status])
    write_atomic(path, out.getvalue())
