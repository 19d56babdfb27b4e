"""A warm parent: a fresh interpreter that imports numpy (and, for Part 5, torch) and the probes
once, then forks one sandboxed child per request, so no child pays interpreter start-up.

There are two flavours. "numpy" serves the numpy-only parts: it never imports torch, and puts
the stand-in of torch_stub/ in its place (children of this flavour cannot even see the real
torch's files, see filesystem.py). "torch" serves Part 5 and has torch loaded.

It never loads a hidden suite, a reference value or the rubric: a child forked from it has none
of them in memory. It is started by sandbox.WarmParent with one end of a Unix socket pair as its
control channel. Each request on that channel is a submission's JSON spec plus one file
descriptor passed with SCM_RIGHTS: the control socket of that submission's init. The reply is
the pid of the keeper it forks (see child.py). As a child subreaper it inherits, and reaps, any
init whose keeper died.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import struct
import sys

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
PRELOADED_STDLIB = (
    "abc", "bisect", "collections", "contextlib", "copy", "dataclasses", "enum", "functools",
    "heapq", "inspect", "itertools", "math", "numbers", "operator", "random", "re", "statistics",
    "string", "time", "types", "typing", "warnings",
)
PROBES = {"numpy": ("base", "training", "autodiff", "substitution"),
          "torch": ("base", "training", "autodiff", "substitution", "generative")}
TORCH_STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_stub")


def preload(flavour: str) -> None:
    """Import what children use, so that their first call costs nothing extra."""
    for name in PRELOADED_STDLIB:
        importlib.import_module(name)
    if flavour == "numpy":   # `import torch` in a child gives the stand-in, never torch
        sys.path.insert(0, TORCH_STUB)
        importlib.import_module("torch")
        sys.path.remove(TORCH_STUB)
    import numpy

    numpy.zeros(1) @ numpy.zeros(1)
    if flavour == "torch":
        import torch
        import torch.distributions  # noqa: F401  (lazy in torch; probes and students use it)
        import torch.nn.functional  # noqa: F401

        torch.set_num_threads(1)
        torch.zeros(2, 2) @ torch.zeros(2, 2)
    for name in PROBES[flavour]:
        importlib.import_module(f"autograder.probes.{name}")
    importlib.import_module("autograder.isolation.child")
    gc.collect()
    gc.freeze()   # children's garbage collections skip these objects: fewer copy-on-write pages


def main(control_fd: int, flavour: str, hide: list[str]) -> None:
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]   # `python -m` put the working folder first: children import from theirs
    from autograder.isolation import filesystem

    # Before preload: the real torch is located (to be hidden) before its stand-in takes its name.
    view = filesystem.python_view(hide=tuple(hide), torch_visible=flavour == "torch")
    preload(flavour)
    from autograder.isolation import child
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)   # no process of this user may read our memory
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
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        except OSError:
            break
        if not message:
            break
        spec = json.loads(message)
        try:
            pid = os.fork()
        except OSError:   # no memory or no process left: the grader fails that test only
            pid = -1
        if pid == 0:
            try:
                control.close()
                child.run_keeper(spec, socket.socket(fileno=fds[0]), view)
            finally:
                os._exit(70)   # never back into this loop
        for fd in fds:
            os.close(fd)
        control.sendall(struct.pack(">i", pid))
    # Nothing to flush or clean: skip the interpreter's teardown (with torch loaded and the heap
    # frozen it takes about half a second, which every grading run would wait for).
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
