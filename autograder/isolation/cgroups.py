"""One memory and process budget for all the processes of a child together: a cgroup (root only).

RLIMIT_DATA bounds one process's heap, but not shared anonymous mappings (mmap(-1, n) is
MAP_SHARED), nor a child's subprocesses, each with a budget of its own. A cgroup bounds them
all: the memory they hold together (the kernel's OOM killer ends one of them, never the grader)
and how many tasks they run. The grader creates one cgroup per warm parent and moves the warm
parent into it once it is ready: every child is forked inside it, and so are its subprocesses
and orphans, which do not outlive it long (children run one at a time and orphans are swept).
The warm parent's memory, allocated before the move, stays outside the budget; it protects
itself from the OOM killer. (Moving each child instead costs a few milliseconds per child.)

cgroup v1 (a hierarchy per controller, /sys/fs/cgroup/memory and /sys/fs/cgroup/pids) and v2
(one hierarchy where the grader's own cgroup delegates memory and pids) are both handled;
elsewhere `Cgroup.create` returns None and reports list the protection as missing.
"""
from __future__ import annotations

import functools
import itertools
import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
_names = itertools.count()


class Cgroup:
    """The directories of one cgroup (one per controller with cgroup v1)."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    def add(self, pid: int) -> None:
        """Move the process `pid` (not its existing memory) into this cgroup."""
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(str(pid))

    @classmethod
    def create(cls, memory_bytes: int, processes: int) -> "Cgroup | None":
        """A fresh cgroup with these limits, or None where the machine does not allow one.

        `processes` counts every task in it: the warm parent's included.
        """
        if os.geteuid() != 0:
            return None
        name = f"dlexam-{os.getpid()}-{next(_names)}"
        for layout in (_v1, _v2):
            made = []
            try:
                for directory, values in layout(memory_bytes, processes) or []:
                    _remove_stale(directory)
                    directory = directory / name
                    directory.mkdir()
                    made.append(directory)
                    for file, value in values.items():
                        if (directory / file).exists():
                            (directory / file).write_text(str(value))
                if made:
                    return cls(made)
            except OSError:
                cls(made).remove()
        return None

    def remove(self) -> None:
        """Remove the directories once their processes are gone (retried briefly while busy)."""
        for directory in self.dirs:
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:   # EBUSY: a killed process is not reaped yet
                    time.sleep(0.02)


def _remove_stale(parent: Path) -> None:
    """Remove the empty cgroups of graders that ended without removing theirs."""
    for directory in parent.glob("dlexam-*-*"):
        pid = directory.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                directory.rmdir()
            except OSError:   # still holds a process: not stale
                pass


def _v1(memory_bytes: int, processes: int):
    memory, pids = ROOT / "memory", ROOT / "pids"
    if not ((memory / "memory.limit_in_bytes").exists() and (pids / "cgroup.procs").exists()):
        return None
    # memsw (memory + swap) exists only with swap accounting; it must not be below the limit
    return [(memory, {"memory.limit_in_bytes": memory_bytes,
                      "memory.memsw.limit_in_bytes": memory_bytes}),
            (pids, {"pids.max": processes})]


def _v2(memory_bytes: int, processes: int):
    base = _own_v2_cgroup()
    if base is None:
        return None
    wanted = {"memory", "pids"}
    if not wanted <= set((base / "cgroup.subtree_control").read_text().split()):
        try:   # allowed in the root cgroup, or where the grader's cgroup holds no process
            (base / "cgroup.subtree_control").write_text("+memory +pids")
        except OSError:
            return None
    return [(base, {"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": processes})]


def _own_v2_cgroup() -> Path | None:
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        own = [line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines()
               if line.startswith("0::")]
    except OSError:
        return None
    points = [line.split()[1] for line in mounts if line.split()[2:3] == ["cgroup2"]]
    if not points or not own:
        return None
    base = Path(points[0]) / own[0].lstrip("/")
    try:
        controllers = set((base / "cgroup.controllers").read_text().split())
    except OSError:
        return None
    return base if {"memory", "pids"} <= controllers else None


@functools.cache
def available() -> bool:
    """Whether children of this machine's grader get a cgroup (tried once, then removed)."""
    group = Cgroup.create(1 << 30, 8)
    if group is None:
        return False
    group.remove()
    return True
