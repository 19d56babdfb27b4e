"""The warm parent: a fresh interpreter that imports numpy, torch and the probes once, then forks
one sandboxed child per request, so no child pays interpreter or torch start-up.

It never loads a hidden suite, a reference value or the rubric: a child forked from it has none
of them in memory. It is started by sandbox.WarmParent with one end of a Unix socket pair as its
control channel (the fd number is its only argument). Each request on that channel is a JSON
spec plus two file descriptors passed with SCM_RIGHTS: the child's own socket and its output
file. The reply is the child's pid. As a child subreaper it inherits every orphan a child leaves
behind, so `sweep` can kill processes that escaped their process group.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import socket
import struct
import sys

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
SWEEP_SECONDS = 10
PRELOADED_STDLIB = (
    "abc", "bisect", "collections", "contextlib", "copy", "dataclasses", "enum", "functools",
    "heapq", "itertools", "math", "numbers", "operator", "random", "re", "statistics",
    "string", "time", "types", "typing", "warnings",
)


def preload() -> None:
    """Import everything a child may need: after chroot it cannot read library files."""
    import importlib

    for name in PRELOADED_STDLIB:
        importlib.import_module(name)
    import numpy
    import numpy.fft  # noqa: F401  (numpy 2 loads these lazily; a chrooted child could not)
    import numpy.linalg  # noqa: F401
    import numpy.random  # noqa: F401
    import torch
    import torch.distributions  # noqa: F401  (lazy in torch; probes and students use it)
    import torch.nn.functional  # noqa: F401
    import autograder.probes  # noqa: F401  (registers every probe)

    numpy.zeros(1) @ numpy.zeros(1)
    torch.set_num_threads(1)
    torch.zeros(2, 2) @ torch.zeros(2, 2)
    gc.collect()
    gc.freeze()   # children's garbage collections skip these objects: fewer copy-on-write pages


def main(control_fd: int, cut_network: bool) -> None:
    preload()
    if cut_network:   # one empty network namespace, inherited by every child
        if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:   # an out-of-memory kill takes a child, never us (only root may lower this)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
    except OSError:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the grader decides when we stop
    control = socket.socket(fileno=control_fd)
    try:
        control.sendall(b"R")
    except BrokenPipeError:   # the grader is already gone
        return
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            break
        if not message:
            break
        request = json.loads(message)
        if request["op"] == "sweep":
            sweep(set(request["keep"]))
            control.sendall(struct.pack(">i", 0))
            continue
        try:
            pid = os.fork()
        except OSError:   # no memory or no process left: the grader fails that test only
            pid = -1
        if pid == 0:
            try:
                control.close()
                from autograder.isolation import child

                child.run(request["spec"], socket.socket(fileno=fds[0]), fds[1])
            finally:
                os._exit(70)   # never back into this loop
        for fd in fds:
            os.close(fd)
        control.sendall(struct.pack(">i", pid))
    sweep(set())


def sweep(keep: set[int]) -> None:
    """Kill every descendant except the children in `keep` (orphans land on us as subreaper).

    Killing an orphan can orphan its own children, which then land on us too: repeat until a
    pass finds nothing (a killed process stays listed until it has really ended), for at most
    SWEEP_SECONDS.
    """
    import time

    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        orphans = [pid for pid, state in _children() if pid not in keep and state not in (b"Z", b"X")]
        if not orphans:
            return
        for pid in orphans:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.01)


def _children() -> list[tuple[int, bytes]]:
    """(pid, state) of this process's children, from /proc/self/task/*/children."""
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children", "rb") as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    found.append((pid, stat.read().rsplit(b")", 1)[1].split()[0]))
            except OSError:
                pass
    return found


if __name__ == "__main__":
    main(int(sys.argv[1]), cut_network=sys.argv[2] == "cut-network")
