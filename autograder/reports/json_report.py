"""The JSON report of the CLI contract: one object per submission, a list for several."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from autograder.scoring import SubmissionScore


def write(scores: list[SubmissionScore], path: Path) -> None:
    """Write one object for a single submission, else a list; atomically (rename)."""
    data = scores[0].to_json() if len(scores) == 1 else [s.to_json() for s in scores]
    write_atomic(path, json.dumps(data, indent=1))


def safe_name(submission_id: str) -> str:
    """A file name for a submission id: letters, digits and -_.@ kept, the rest as _."""
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in submission_id) or "_"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
