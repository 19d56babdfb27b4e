"""The JSON report of the CLI contract: one object per submission, a list for several."""
from __future__ import annotations

import json
from pathlib import Path

from autograder.output_files import write_atomic
from autograder.scoring import SubmissionScore


def write(scores: list[SubmissionScore], path: Path) -> None:
    """Write one object for a single submission, else a list; atomically (rename)."""
    data = scores[0].to_json() if len(scores) == 1 else [s.to_json() for s in scores]
    write_atomic(path, json.dumps(data, indent=1))

