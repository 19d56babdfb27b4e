"""The files the grader writes (result files, reports, feedback): their names and how they are written.

A submission id becomes a file name with `safe_name`; every text file is written whole or not at
all by `write_atomic`, with the mode any new file gets from the user's umask (0644 under the
usual umask 022, 0640 under 027), like the charts matplotlib writes beside them.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def safe_name(submission_id: str) -> str:
    """A file name for a submission id: letters, digits and -_.@ kept, the rest as _."""
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in submission_id) or "_"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file.

    The temporary file is created with mode 0666 and the kernel applies the umask, as it does
    for any file a program creates (tempfile.mkstemp would make it 0600 whatever the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
