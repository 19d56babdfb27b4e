"""What runs inside a sandboxed child, forked from the warm parent: confinement, then probes.

The child confines itself before it reads a single byte of student code:
- its own session and process group (the grader kills the whole group);
- resource limits: CPU seconds, data memory (RLIMIT_DATA: RLIMIT_AS would break torch's large
  virtual reservations), processes, file size, open files, no core dumps;
- the first victim of any out-of-memory kill (oom_score_adj 1000);
- when started as root: the warm parent's cgroup, inherited (memory and tasks of the child and
  its subprocesses together), no network (the warm parent's empty network namespace), a chroot
  into the scratch folder that holds only the submission's modules, and an unprivileged uid/gid
  with no groups;
- no file descriptor but its socket and stdio; stdout and stderr go to a capped file the grader
  reads; stdin is /dev/null.
Then it answers probe requests on its socket until the grader closes it.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import sys
import traceback

from autograder.isolation import codec

PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4


def run(spec: dict, sock: socket.socket, output_fd: int) -> None:
    """Confine this process as `spec` says, then serve probe requests; never returns."""
    try:
        confine(spec, sock, output_fd)
    except BaseException as error:  # the grader reports this as a sandbox failure
        codec.send(sock, {"error": {"type": "SandboxError", "where": "sandbox",
                                    "message": f"{type(error).__name__}: {error}"}})
        os._exit(70)
    try:   # whatever student code did to this interpreter: never back into the warm parent's loop
        codec.send(sock, {"ready": True})
        serve(sock)
    finally:
        os._exit(0)


def confine(spec: dict, sock: socket.socket, output_fd: int) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(devnull)
    os.close(output_fd)
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    with open("/proc/self/oom_score_adj", "w") as f:   # not the warm parent's -1000: first to go
        f.write("1000")
    limits = spec["limits"]
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    _limit(resource.RLIMIT_DATA, limits["data_bytes"])
    _limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    workdir = spec["workdir"]
    if spec["drop_to"] is not None:
        os.chroot(workdir)
        os.chdir("/")
        uid, gid = spec["drop_to"]
        _limit(resource.RLIMIT_NPROC, limits["processes"])
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        sys.path.insert(0, "/")
    else:
        os.chdir(workdir)
        _limit(resource.RLIMIT_NPROC, limits["processes"] + _processes_of(os.getuid()))
        sys.path.insert(0, workdir)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _processes_of(uid: int) -> int:
    """How many processes this uid runs now (RLIMIT_NPROC counts them all, not only ours)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def serve(sock: socket.socket) -> None:
    """Answer {"probe", "args", "kwargs"} requests with {"ok": value} or {"error": {...}}."""
    from autograder.probes import PROBES

    while True:
        try:
            request = codec.receive(sock)
        except EOFError:
            return
        try:
            probe = PROBES[request["probe"]]
            reply = {"ok": probe(*request["args"], **request["kwargs"])}
            codec.send(sock, reply)
            continue
        except codec.UnsupportedType as error:
            reply = {"error": {"type": "UnsupportedType", "where": "return",
                               "message": f"unsupported return type: {error}"}}
        except BaseException as error:  # SystemExit and KeyboardInterrupt from student code too
            reply = {"error": describe(error)}
        codec.send(sock, reply)


def describe(error: BaseException) -> dict:
    """Plain-data description of an exception raised by student code or a probe.

    The exception is the student's object: its class name, message and traceback may be
    anything (a metaclass's __name__, a __str__ that raises or returns a str subclass), so
    each is checked to be a plain str, and any failure gives a generic description.
    """
    from autograder.probes.base import ImportFailed

    where = "call"
    if isinstance(error, ImportFailed):
        where, error = "import", error.cause
    try:
        name = type.__dict__["__name__"].__get__(type(error))   # not a metaclass's override
        message = str(error)
        message = str.__getitem__(message, slice(0, 2000)) if isinstance(message, str) else ""
        frames = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__),
                                                lookup_lines=False)
        student = [f for f in frames if type(f.filename) is str
                   and os.path.dirname(f.filename) == sys.path[0]]
        line = (f"{os.path.basename(student[-1].filename)}, line {student[-1].lineno}"
                if student else "")
    except BaseException:
        return {"type": "Exception", "where": where, "message": "<unprintable exception>",
                "line": ""}
    return {"type": str(name), "where": where, "message": message, "line": line}

