"""References the hidden suites compute with torch, computed once per kit and torch version.

    @reference
    def linear_expected(case: int) -> np.ndarray:
        x, W, b = linear_inputs(case)
        return F.linear(*map(torch.from_numpy, (x, W, b))).numpy()

A function decorated with `reference` is memoised in memory and in a store on disk, keyed by its
qualified name and its arguments. The store belongs to one version of the grading package and
of torch and numpy (a digest of all three names its file), so a change to any suite, probe or
rubric, or another torch, starts a fresh store: a stored value is always what the current suites
would compute. A grader writes what it computed when it closes (`save`); the next cold grader
loads it instead of running torch. The autograder zip ships a store built in advance.

Arguments must be ints, floats, strings, bools, None or tuples of those; values plain data
(numpy arrays, numbers, strings, and lists, tuples and dicts of them), never tensors.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path

from autograder.isolation import codec

PACKAGE = Path(__file__).resolve().parent
_ARGUMENT_TYPES = (int, float, str, bool, type(None))


@functools.cache
def package_digest() -> str:
    """A digest of every source and data file of the grading package (not its caches)."""
    digest = hashlib.sha256()
    for file in sorted(PACKAGE.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
            digest.update(str(file.relative_to(PACKAGE)).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def store_path() -> Path:
    """$DLEXAM_REFERENCES, or a file in the user's cache folder named for this kit and torch."""
    if os.environ.get("DLEXAM_REFERENCES"):
        return Path(os.environ["DLEXAM_REFERENCES"])
    versions = "|".join(importlib.metadata.version(d) for d in ("torch", "numpy"))
    key = hashlib.sha256(f"{package_digest()}|{versions}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dlexam" / f"references-{key}.json"


class _Store:
    def __init__(self):
        self.loaded: dict[str, object] | None = None   # key -> encoded value
        self.added = 0

    def entries(self) -> dict[str, object]:
        if self.loaded is None:
            try:
                self.loaded = json.loads(store_path().read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.loaded = {}
        return self.loaded


_store = _Store()


def reference(function):
    """Memoise `function` in memory and in the store on disk (see the module docstring)."""
    name = f"{function.__module__.rsplit('.', 1)[-1]}.{function.__qualname__}"

    @functools.cache
    def memoised(*args):
        if not all(_plain_argument(a) for a in args):
            raise TypeError(f"{name}: reference arguments must be numbers, strings or tuples")
        key = f"{name}{args!r}"
        entries = _store.entries()
        if key in entries:
            return codec.decode_value(entries[key])
        value = function(*args)
        entries[key] = codec.encode_value(value)
        _store.added += 1
        return codec.decode_value(entries[key])   # the same types a stored value comes back as

    functools.update_wrapper(memoised, function)
    return memoised


def _plain_argument(value) -> bool:
    if isinstance(value, tuple):
        return all(map(_plain_argument, value))
    return isinstance(value, _ARGUMENT_TYPES)


def save() -> None:
    """Write the store if this process computed anything new (atomically; a grader that cannot
    write its cache folder just computes again next time)."""
    if not _store.added:
        return
    path = store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".references-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_store.entries(), f)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
        _store.added = 0
    except OSError:
        pass
