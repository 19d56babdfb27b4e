"""What a sandboxed child sees of the file system: its own root, built from read-only pieces.

    /usr /lib* /bin /sbin      the system, read-only (links where the host has links)
    <python prefixes, sys.path> the interpreter, the standard library, the installed packages,
                               read-only, at the paths the grader uses (lazy imports work)
    /submission                the student's accepted module files, read-only (the cwd)
    /tmp                       a small private tmpfs (HOME); /dev/shm likewise
    /dev                       null, zero, full, random, urandom
    /proc                      the child's own processes (it has its own PID namespace)

Hidden under an empty read-only tmpfs wherever they would otherwise show: this kit (its hidden
suites, its solutions if it is a source checkout), the grader's scratch folder, and, for the
numpy-only parts, the real torch (those children import a stand-in, see torch_stub/).
Nothing else of the host exists for the child: not other submissions, not the results, not
the grader's home or /proc.
"""
from __future__ import annotations

import importlib.util
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.isolation import namespaces

SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
DEVICES = ("null", "zero", "full", "random", "urandom")
KIT_PACKAGE = Path(__file__).resolve().parents[1]
SUBMISSION = "/submission"
SCRATCH = ("/tmp", "/dev/shm")   # a child's private tmpfs folders, emptied after each question
TMP_INODES = 65536   # files and folders in a child's /tmp (and /dev/shm): bounds the clean-up
PRIVATE = ("/", "/tmp", "/dev", "/dev/shm", "/proc", SUBMISSION)   # never bound from the host


@dataclass(frozen=True)
class View:
    """The pieces of a child's root: host paths bound at the same place, links, hidden paths."""
    binds: tuple[str, ...]
    links: tuple[tuple[str, str], ...]     # (path, what the link points to)
    hidden: tuple[str, ...]

    def kept_in(self, folder: str) -> frozenset[str]:
        """Names in `folder` that lead to a bind of this view (a virtual environment under
        /tmp): the clean-up after a question leaves them."""
        return frozenset(path[len(folder) + 1:].split("/")[0] for path in self.binds
                         if path.startswith(folder + "/"))


def python_view(hide: tuple[str, ...] = (), torch_visible: bool = True) -> View:
    """The view for children of this interpreter. `hide`: more host paths to keep out of sight
    (the hidden suites when they live elsewhere, the grader's scratch folder)."""
    binds, links = [], []
    for path in SYSTEM:
        if os.path.islink(path):
            links.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            binds.append(path)
    binds += [path for path in SYSTEM_FILES if os.path.isfile(path)]
    kit_parent = str(KIT_PACKAGE.parent)
    sites = set(site.getsitepackages() + [site.getusersitepackages()])
    for path in [sys.prefix, sys.base_prefix, sys.exec_prefix, *sites, *sys.path]:
        path = os.path.realpath(path) if path else ""
        if os.path.isdir(path) and (path != kit_parent or path in sites) and path not in PRIVATE:
            binds.append(path)
    binds = _outermost(binds)
    # A source checkout of the kit is hidden whole; an installed kit, its package only.
    secret = [str(KIT_PACKAGE) if kit_parent in sites else kit_parent, *hide]
    if not torch_visible:
        spec = importlib.util.find_spec("torch")
        if spec is not None and spec.submodule_search_locations:
            secret += list(spec.submodule_search_locations)
    hidden = [os.path.realpath(p) for p in secret if _inside(os.path.realpath(p), binds)]
    return View(tuple(binds), tuple(links), tuple(_outermost(hidden)))   # one tmpfs hides all below


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _outermost(paths: list[str]) -> list[str]:
    """The paths that are not inside another one of them, in order."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not _inside(path, kept):
            kept.append(path)
    return kept


def build_root(view: View, mountpoint: str, submission: str, tmp_bytes: int) -> None:
    """Make `mountpoint` (an empty folder) this process's new root as `view` describes, with the
    folder `submission` at /submission. Needs a private mount namespace in which this process
    may mount, and its own PID namespace (for /proc)."""
    ns = namespaces
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
    ns.mount("tmpfs", mountpoint, "tmpfs", ns.MS_NOSUID | ns.MS_NODEV, "size=1m,mode=0755")
    root = mountpoint.rstrip("/")
    # The private /tmp and /dev/shm first: an interpreter or a virtual environment that lives
    # under /tmp (a CI checkout) is then bound inside the child's own /tmp, read-only.
    for scratch in SCRATCH:
        os.makedirs(root + scratch)
        ns.mount("tmpfs", root + scratch, "tmpfs", ns.MS_NOSUID | ns.MS_NODEV,
                 f"size={tmp_bytes},nr_inodes={TMP_INODES},mode=1777")
    for path in view.binds:
        target = root + path
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        ns.bind_read_only(path, target)
    for path, points_to in view.links:
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        os.symlink(points_to, root + path)
    for path in view.hidden:
        ns.mount("tmpfs", root + path, "tmpfs", ns.MS_RDONLY | ns.MS_NOSUID | ns.MS_NODEV,
                 "size=4k,mode=0555")
    os.makedirs(root + SUBMISSION)
    ns.bind_read_only(submission, root + SUBMISSION)
    for device in DEVICES:
        open(f"{root}/dev/{device}", "w").close()
        ns.mount(f"/dev/{device}", f"{root}/dev/{device}", None, ns.MS_BIND)
    os.makedirs(root + "/proc")
    ns.mount("proc", root + "/proc", "proc", ns.MS_NOSUID | ns.MS_NODEV | ns.MS_NOEXEC)
    os.makedirs(root + "/.old-root")
    ns.pivot_root(root, root + "/.old-root")
    os.chdir("/")
    ns.detach("/.old-root")
    os.rmdir("/.old-root")
    ns.mount(None, "/", None, ns.MS_REMOUNT | ns.MS_BIND | ns.MS_RDONLY | ns.MS_NOSUID | ns.MS_NODEV)
    os.chdir(SUBMISSION)
