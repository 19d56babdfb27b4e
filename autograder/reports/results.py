"""Reading back the results folders `dlexam grade` writes (one JSON file per submission): one
folder, or several (the shards of a class graded on several machines).

Files that are not results (a --json list, anything else) are skipped; a result that
SubmissionScore.from_json cannot read is an error that names the file.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.scoring import SubmissionScore


def load(folders: list[Path]) -> list[SubmissionScore]:
    """Every result in `folders`, sorted by submission id.

    A submission found in two folders must hold the same fingerprint there (the same files
    graded by the same kit, e.g. a shard copied twice); ValueError otherwise, and for a folder
    that does not exist or a result file that cannot be read as one.
    """
    found: dict[str, tuple[Path, dict]] = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ValueError(f"{folder}: no such results folder")
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if not isinstance(data, dict) or "questions" not in data:
                continue
            seen = found.get(data.get("submission"))
            if seen and seen[1].get("fingerprint") != data.get("fingerprint"):
                raise ValueError(f"{data['submission']} has different results in {seen[0]} and "
                                 f"{path}: grade it once, or keep one of the two files")
            found[data.get("submission")] = (path, data)
    scores = []
    for path, data in found.values():
        try:
            scores.append(SubmissionScore.from_json(data))
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a result file of this dlexam ({error!r})") from None
    return sorted(scores, key=lambda s: s.submission)
