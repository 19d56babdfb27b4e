"""What runs in a sandboxed child, forked from the warm parent: a keeper and a worker.

The warm parent forks the keeper. The keeper gives the worker its namespaces, forks it, then
only relays its output and waits for it:
- user namespace (when the grader is not root: root in there, powerless outside), then new
  mount, PID, IPC and network namespaces; the worker is PID 1 of its own PID namespace, so
  everything it starts dies with it, and it can see or signal no process outside;
- the worker's stdout and stderr are a pipe the keeper drains into the grader's output file:
  the first `output_bytes` are kept, the rest counted and dropped, so printing never fails and
  never blocks for long (the file starts with two 8-byte counts: kept, printed);
- the grader stops a child by sending the keeper SIGTERM: the keeper kills the worker (and so
  its whole PID namespace) and exits once it is gone.

The worker confines itself before it reads a single byte of student code:
- killed if the keeper dies (PR_SET_PDEATHSIG);
- its own root (filesystem.py): the interpreter and libraries read-only, its submission
  read-only, a small private /tmp, nothing else; tight IPC limits in its IPC namespace;
- resource limits: CPU seconds, data memory (RLIMIT_DATA: RLIMIT_AS would break torch's large
  virtual reservations), processes, file size, open files, no core dumps; the first victim of
  any out-of-memory kill; when the grader is root, the warm parent's cgroup (memory and tasks
  of all its processes together);
- no privilege: when the grader is root, a uid and gid of its own (uid_base + the keeper's pid:
  no other process on the machine has it) with no groups, in a user namespace of its own (its
  kernel keys die with it); otherwise no capability left in its user namespace; no new
  privileges; not dumpable;
- no file descriptor but its socket and stdio; stdin is /dev/null.
Then it answers probe requests on its socket until the grader closes it.

With `isolate` false (the grader's --unsafe-no-sandbox) the worker gets the resource limits, a
process group and the output relay, and nothing else.
"""
from __future__ import annotations

import os
import resource
import signal
import socket
import struct
import sys
import traceback

from autograder.isolation import codec, filesystem, namespaces
from autograder.probes import substitution

HEADER = struct.Struct(">QQ")     # the output file: bytes kept, bytes printed; then the bytes
IPC_LIMITS = {"shmmax": 64 << 20, "shmall": (64 << 20) // 4096, "shmmni": 16,
              "msgmni": 16, "msgmnb": 1 << 16, "sem": "32 256 32 16"}


def run(spec: dict, sock: socket.socket, output_fd: int, view: filesystem.View) -> None:
    """The keeper: set up the worker's namespaces, fork it, relay its output; never returns."""
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        keeper = os.getpid()
        if spec["isolate"]:
            if os.geteuid() != 0:
                # The warm parent is not dumpable, which makes /proc/self root's: a user
                # namespace's maps could not be written. The worker is made non-dumpable again.
                namespaces.prctl(namespaces.PR_SET_DUMPABLE, 1)
                namespaces.enter_user_namespace()
            namespaces.unshare(namespaces.ISOLATED)
        read, write = os.pipe()
        worker = os.fork()
    except BaseException as error:
        _report_sandbox_error(sock, error)
    if worker == 0:
        os.close(read)
        os.close(output_fd)
        try:
            confine(spec, sock, write, view, keeper)
        except BaseException as error:
            _report_sandbox_error(sock, error)
        try:   # whatever student code did to this interpreter: never back into the warm parent
            codec.send(sock, {"ready": True})
            serve(sock, spec["stand_ins"])
        finally:
            os._exit(0)
    sock.close()
    os.close(write)
    signal.signal(signal.SIGTERM, lambda *_: _kill(worker, spec["isolate"]))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    relay(read, output_fd, spec["limits"]["output_bytes"])
    _kill(worker, spec["isolate"])
    while True:
        try:
            os.waitpid(worker, 0)
            break
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    os._exit(0)


def _kill(worker: int, isolated: bool) -> None:
    try:   # PID 1 of its namespace: all its processes go with it; else its process group
        (os.kill if isolated else os.killpg)(worker, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _report_sandbox_error(sock: socket.socket, error: BaseException) -> None:
    codec.send(sock, {"error": {"type": "SandboxError", "where": "sandbox",
                                "message": f"{type(error).__name__}: {error}"}})
    os._exit(70)


def relay(pipe: int, output_fd: int, keep: int) -> None:
    """Copy what the worker prints into the output file until the pipe closes: the first
    `keep` bytes after the header, then only the count."""
    kept = printed = 0
    os.pwrite(output_fd, HEADER.pack(0, 0), 0)
    while True:
        try:
            chunk = os.read(pipe, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            return
        if kept < keep:
            part = chunk[:keep - kept]
            os.pwrite(output_fd, part, HEADER.size + kept)
            kept += len(part)
        printed += len(chunk)
        os.pwrite(output_fd, HEADER.pack(kept, printed), 0)


def confine(spec: dict, sock: socket.socket, output: int, view: filesystem.View,
            keeper: int) -> None:
    limits = spec["limits"]
    if spec["isolate"]:
        namespaces.prctl(namespaces.PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(devnull)
    os.close(output)
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    if spec["isolate"]:
        for name, value in IPC_LIMITS.items():   # this IPC namespace's own limits
            with open(f"/proc/sys/kernel/{name}", "w") as f:
                f.write(str(value))
        filesystem.build_root(view, spec["mountpoint"], spec["workdir"], limits["tmp_bytes"])
        sys.path.insert(0, filesystem.SUBMISSION)
        os.environ.update(HOME="/tmp", TMPDIR="/tmp")
    else:
        os.chdir(spec["workdir"])
        sys.path.insert(0, spec["workdir"])
    with open("/proc/self/oom_score_adj", "w") as f:   # not the warm parent's -1000: first to go
        f.write("1000")
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    _limit(resource.RLIMIT_DATA, limits["data_bytes"])
    _limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    # RLIMIT_NPROC counts the processes of the real uid in the process's user namespace: a uid
    # of its own (root) or a user namespace of its own count only this child's processes.
    if os.geteuid() == 0 and spec["uid_base"] is not None:
        own = spec["uid_base"] + keeper
        _limit(resource.RLIMIT_NPROC, limits["processes"])
        os.setgroups([])
        os.setresgid(own, own, own)
        os.setresuid(own, own, own)
        if spec["isolate"]:   # what belongs to a user namespace (kernel keys) dies with the child
            namespaces.prctl(namespaces.PR_SET_DUMPABLE, 1)   # the uid change reset it
            namespaces.enter_user_namespace()
            namespaces.drop_capabilities()
    elif spec["isolate"]:
        _limit(resource.RLIMIT_NPROC, limits["processes"])
        namespaces.drop_capabilities()
    else:
        _limit(resource.RLIMIT_NPROC, limits["processes"] + _processes_of(os.getuid()))
    namespaces.prctl(namespaces.PR_SET_NO_NEW_PRIVS, 1)
    namespaces.prctl(namespaces.PR_SET_DUMPABLE, 0)


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


def serve(sock: socket.socket, stand_ins: dict) -> None:
    """Answer {"probe", "args", "kwargs", "stand_ins": bool} requests with {"ok": value} or
    {"error": {...}}. With "stand_ins", the functions named in `stand_ins` are replaced during
    the call (probes/substitution.py): each call of one sends {"stand_in", "kind", "payload"} and
    reads the grader's {"answer": ...} or {"refused": why} before the call goes on."""
    from autograder.probes.base import PROBES, writable_dicts

    def ask(name: str, kind: str, payload):
        try:
            codec.send(sock, {"stand_in": name, "kind": kind, "payload": writable_dicts(payload)})
        except codec.UnsupportedType as error:
            raise substitution.StandInError(f"the kit's {name.split('.')[1]} cannot take these "
                                            f"arguments ({error})") from None
        reply = codec.receive(sock)
        if "refused" in reply:
            raise substitution.StandInError(f"{name.split('.')[1]}: {reply['refused']}")
        return reply["answer"]

    while True:
        try:
            request = codec.receive(sock)
        except EOFError:
            return
        try:
            probe = PROBES[request["probe"]]
            offered = stand_ins if request.get("stand_ins") is True else {}
            with substitution.installed(offered, os.path.abspath(sys.path[0]), ask):
                value = probe(*request["args"], **request["kwargs"])
            codec.send(sock, {"ok": value})
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

