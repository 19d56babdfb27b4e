"""Intake: turn a submitted folder or .zip into a scratch folder holding only the exam's modules.

Only files named like a rubric module (mlp.py, training.py, ...) are taken, from the folder
itself or from one sub-folder (students often zip a folder). Nothing else is copied: no
conftest.py, no pytest.ini, no sitecustomize.py, no numpy.py, no package. Whatever else a
submission holds (a .git folder, __pycache__, notebooks, data) is passed over unread. Links are
refused (symbolic and hard: a hard link could hand the grader, which may run as root, a file its
author cannot read). An archive's size is bounded before anything is parsed, from its
end-of-central-directory record (entry count and directory size); then it is read entry by
entry without extracting anything but module files, each with bounds on size and compression
ratio. An entry over a bound is refused alone: the other modules of the archive are still taken.
Every refusal or oddity is a line in `problems`; a submission with problems is still graded on
whatever modules it does have.
"""
from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.text import printable
from autograder.torch_imports import torch_imports

MAX_MODULE_BYTES = 1024 * 1024
MAX_ARCHIVE_ENTRIES = 65_535              # a whole project folder with its .git fits
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024    # the central directory parsed in the grader
MAX_FOLDER_ENTRIES = 100_000              # files and folders walked in a submitted folder
MAX_COMPRESSION_RATIO = 200
MAX_DEPTH = 2                              # module files at most one folder down
MAX_PROBLEMS = 30                          # lines of problems kept in a report
MAX_PROBLEM_CHARS = 300


@dataclass
class Submission:
    """One submission after intake. `workdir` holds exactly the accepted module files."""
    id: str
    source: Path
    workdir: Path
    modules: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    imports_torch: dict[str, str] = field(default_factory=dict)   # module -> where it does


def submission_id(path: Path) -> str:
    name = printable(path.name)   # it is shown in reports
    return name[:-4] if name.lower().endswith(".zip") else name


def take(path: Path, workdir: Path, modules: list[str]) -> Submission:
    """Copy the expected modules of the folder or zip at `path` into the empty `workdir`."""
    path = Path(path)
    sub = Submission(submission_id(path), path, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o755)
    wanted = {f"{m}.py": m for m in modules}
    try:
        if path.is_symlink():
            sub.problems.append(f"{path.name}: a link, not a submission; refused")
            files = {}
        elif path.is_dir():
            files = _from_folder(path, wanted, sub.problems)
        elif path.is_file() and zipfile.is_zipfile(path):
            files = _from_zip(path, wanted, sub.problems)
        elif path.exists():
            sub.problems.append(f"{path.name}: neither a folder nor a .zip archive")
            files = {}
        else:
            sub.problems.append(f"{path}: no such file or folder")
            files = {}
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as error:
        sub.problems.append(f"{path.name}: could not be read ({error})")
        files = {}
    sub.problems = _bounded(sub.problems)
    for filename in sorted(files, key=lambda f: modules.index(wanted[f])):
        target = workdir / filename
        target.write_bytes(files[filename])
        os.chmod(target, 0o644)
        sub.modules.append(wanted[filename])
        where = torch_imports(files[filename])
        if where:
            sub.imports_torch[wanted[filename]] = where
    missing = [f"{m}.py" for m in modules if m not in sub.modules]
    if not sub.modules:
        sub.problems.append("no exam module found (expected " + ", ".join(wanted) + ")")
    elif missing:
        sub.problems.append("missing: " + ", ".join(missing))
    return sub


def _bounded(problems: list[str]) -> list[str]:
    """Problem lines quote names the student chose (an archive may hold 2000 entries with
    64 KB names, escape sequences, markup): each line is made printable and cut, and only the
    first MAX_PROBLEMS lines are kept, so a report stays small and readable. A long line loses
    its middle: the name's start and the reason at its end are kept."""
    half = MAX_PROBLEM_CHARS // 2
    lines = [printable(f"{line[:half]} ... {line[-half:]}" if len(line) > 2 * half else line)
             for line in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"... and {len(problems) - MAX_PROBLEMS} more problems of the same kind")
    return lines


def _choose(candidates: dict[str, list[tuple[PurePosixPath, object]]], problems: list[str]):
    """For each module name, the shallowest candidate; report ambiguity."""
    chosen = {}
    for filename, found in candidates.items():
        found.sort(key=lambda item: (len(item[0].parts), str(item[0])))
        chosen[filename] = found[0][1]
        if len(found) > 1:
            problems.append(f"several {filename} found; took {found[0][0]}, ignored "
                            + ", ".join(str(p) for p, _ in found[1:]))
    return chosen


def _from_folder(folder: Path, wanted: dict[str, str], problems: list[str]) -> dict[str, bytes]:
    candidates: dict[str, list] = {}
    ignored = []
    walked = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        walked += len(dirs) + len(names)
        if walked > MAX_FOLDER_ENTRIES:
            problems.append(f"more than {MAX_FOLDER_ENTRIES} files: the rest was not looked at")
            break
        rel_root = PurePosixPath(Path(root).relative_to(folder).as_posix())
        depth = len(rel_root.parts) if str(rel_root) != "." else 0
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__"
                         and depth < MAX_DEPTH - 1)
        for name in sorted(names):
            full = Path(root) / name
            rel = PurePosixPath(full.relative_to(folder).as_posix())
            if name not in wanted:
                if name.endswith(".py") or name in ("pytest.ini", "setup.cfg", "pyproject.toml", "tox.ini"):
                    ignored.append(str(rel))
                continue
            refusal = _refusal(os.lstat(full))
            if refusal:
                problems.append(f"{rel}: {refusal}; refused")
            else:
                candidates.setdefault(name, []).append((rel, full))
    if ignored:
        problems.append("ignored (not exam modules): " + ", ".join(ignored[:20]))
    files = {}
    for name, path in _choose(candidates, problems).items():
        data = _read_regular(path)
        if isinstance(data, str):
            problems.append(f"{path.relative_to(folder).as_posix()}: {data}; refused")
        else:
            files[name] = data
    return files


def _refusal(info: os.stat_result) -> str:
    """Why a folder entry is not taken as a module, or ""."""
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        return "a link or special file"
    if info.st_nlink > 1:
        return "a hard link"
    if info.st_size > MAX_MODULE_BYTES:
        return f"{info.st_size} bytes, over the {MAX_MODULE_BYTES} limit"
    return ""


def _read_regular(path: Path) -> bytes | str:
    """The file's bytes, or why not: checked again on the open file (it may have been swapped)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        refusal = _refusal(os.fstat(fd))
        return refusal or f.read(MAX_MODULE_BYTES + 1)[:MAX_MODULE_BYTES]


def declared_size(archive: Path) -> tuple[int, int]:
    """(entries, central directory bytes) as the archive's end records declare them (zip64
    included), read from its last 64 KiB without parsing anything else."""
    with open(archive, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65_557))
        tail = f.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or len(tail) < end + 22:
            raise zipfile.BadZipFile("no end-of-central-directory record")
        entries, directory = struct.unpack("<10xH I", tail[end:end + 16])
        locator = end - 20
        if (entries == 0xFFFF or directory == 0xFFFFFFFF) and tail[locator:locator + 4] == b"PK\x06\x07":
            (record,) = struct.unpack("<8xQ", tail[locator:locator + 16])
            f.seek(record)
            head = f.read(56)
            if head[:4] != b"PK\x06\x06" or len(head) < 56:
                raise zipfile.BadZipFile("broken zip64 end record")
            entries, directory = struct.unpack("<32xQ Q", head[:48])
        return entries, directory


def _from_zip(archive: Path, wanted: dict[str, str], problems: list[str]) -> dict[str, bytes]:
    entries, directory = declared_size(archive)
    if entries > MAX_ARCHIVE_ENTRIES or directory > MAX_DIRECTORY_BYTES:
        raise ValueError(f"the archive declares {entries} entries in a {directory}-byte directory, "
                         f"over the bounds ({MAX_ARCHIVE_ENTRIES} entries, "
                         f"{MAX_DIRECTORY_BYTES} bytes): zip only your module files")
    with zipfile.ZipFile(archive) as z:
        entries = z.infolist()
        # Only module entries are ever decompressed, each at most MAX_MODULE_BYTES: other entries,
        # however large they claim to be, are never read.
        candidates: dict[str, list] = {}
        ignored = []
        for entry in entries:
            name = entry.filename
            path = PurePosixPath(name.replace("\\", "/"))
            if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
                problems.append(f"{name}: absolute path in archive; refused")
                continue
            if ".." in path.parts:
                problems.append(f"{name}: path escapes the archive; refused")
                continue
            if entry.is_dir() or path.parts[0] in ("__MACOSX",):
                continue
            if path.name not in wanted:
                if path.suffix == ".py":
                    ignored.append(name)
                continue
            mode = entry.external_attr >> 16
            if stat.S_ISLNK(mode):
                problems.append(f"{name}: a link; refused")
            elif len(path.parts) > MAX_DEPTH:
                problems.append(f"{name}: nested too deep; ignored")
            elif entry.file_size > MAX_MODULE_BYTES:
                problems.append(f"{name}: {entry.file_size} bytes, over the limit; refused")
            elif entry.compress_size and entry.file_size / entry.compress_size > MAX_COMPRESSION_RATIO:
                problems.append(f"{name}: compression ratio over {MAX_COMPRESSION_RATIO}; refused")
            else:
                candidates.setdefault(path.name, []).append((path, entry))
        if ignored:
            problems.append("ignored (not exam modules): " + ", ".join(ignored[:20]))
        files = {}
        for filename, entry in _choose(candidates, problems).items():
            try:
                with z.open(entry) as f:
                    data = f.read(MAX_MODULE_BYTES + 1)
            except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error,
                    EOFError, OSError) as error:   # encrypted, unknown method, corrupt
                problems.append(f"{entry.filename}: could not be read ({error}); refused")
                continue
            if len(data) > MAX_MODULE_BYTES:
                problems.append(f"{entry.filename}: larger than declared; refused")
                continue
            files[filename] = data
        return files
