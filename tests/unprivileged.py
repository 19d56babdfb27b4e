"""Run this interpreter, with the kit, as an unprivileged user: the kit's tests of non-root mode.

    result = run_as_nobody([sys.executable, "script.py", ...], cwd=workdir)

The interpreter may live where that user cannot go (root's private home, a clone under /root):
the launcher (this file, run as root: `python unprivileged.py UID -- ARGV...`) enters a mount
namespace of its own, puts every folder the interpreter and the kit need back at its own path
inside a world-readable tmpfs over the first ancestor the user could not enter, drops to the
user, and execs ARGV. Nothing is copied, and the paths are the grader's own, so that root and
non-root runs differ in nothing but the user. Only the launched process sees these mounts.
"""
from __future__ import annotations

import ctypes
import os
import site
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

NOBODY = 65534
REPO = Path(__file__).resolve().parents[1]
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 4096, 16384, 1 << 18


def needed_paths() -> list[str]:
    """What the kit run by this interpreter reads: the prefixes, the site folders, the kit."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(REPO), *site.getsitepackages()}
    return sorted(os.path.realpath(p) for p in paths if os.path.isdir(p))


def closed_ancestor(path: str) -> str | None:
    """The first folder on the way to `path` that others may not enter, or None."""
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        mode = os.stat(current).st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return current
    return None


def usable() -> str | None:
    """None when tests can run as an unprivileged user here, else why not."""
    if os.geteuid() != 0:
        return "the tests do not run as root: they run as an unprivileged user already"
    return None


def run_as_nobody(argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 1200,
                  uid: int = NOBODY) -> subprocess.CompletedProcess:
    """Run `argv` as `uid` (cwd must be a folder that user may use), capturing its output."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
                   "LANG": os.environ.get("LANG", "C.UTF-8"),
                   "PYTHONPATH": str(REPO), **(env or {})}
    if os.environ.get("LD_LIBRARY_PATH"):
        environment["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return subprocess.run([sys.executable, __file__, str(uid), "--", *argv], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=timeout)


def shared_folder(prefix: str) -> Path:
    """A fresh folder any user may write to (for the unprivileged run's inputs and outputs)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    folder.chmod(0o777)
    return folder


def _launch(uid: int, argv: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source, target, fstype, flags, data=None):
        encode = lambda s: None if s is None else str(s).encode()          # noqa: E731
        if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)):
            error = ctypes.get_errno()
            raise OSError(error, f"mount {source} on {target}: {os.strerror(error)}")

    if libc.unshare(CLONE_NEWNS):
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    wanted = needed_paths()
    covers = {closed_ancestor(p) for p in wanted} - {None}
    stage = tempfile.mkdtemp(prefix="dlexam-unprivileged-")
    staged = []
    for index, path in enumerate(p for p in wanted if any(p.startswith(c + "/") or p == c
                                                          for c in covers)):
        place = os.path.join(stage, str(index))
        os.mkdir(place)
        mount(path, place, None, MS_BIND | MS_REC)
        staged.append((place, path))
    for cover in sorted(covers, key=len):
        mount("tmpfs", cover, "tmpfs", 0, "mode=0755")
    for place, path in staged:
        os.makedirs(path, exist_ok=True)
        mount(place, path, None, MS_BIND | MS_REC)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    _launch(int(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:])
