"""What runs in a sandbox, forked from a warm parent: a keeper, an init, a child per question.

For one submission (and one flavour: numpy or torch) the warm parent forks the keeper, which
gives the submission its namespaces and forks the init, PID 1 of them:
- user namespace (when the grader is not root: root in there, powerless outside), then new
  mount, PID, IPC and network namespaces: the submission sees no process outside, reaches no
  network, and its SysV and POSIX objects, mounts and processes die with its init;
- the keeper only waits for the init; killing the keeper kills the init (PR_SET_PDEATHSIG), and
  the kernel then kills everything in the PID namespace.

The init confines itself before any student code exists:
- its own root (filesystem.py): the interpreter and libraries read-only, the submission
  read-only, a small private /tmp, nothing else; tight IPC limits in its IPC namespace;
- no privilege: when the grader is root, a uid and gid of its own (uid_base + the keeper's pid:
  no other process on the machine has it) with no groups, in a user namespace of its own (its
  kernel keys die with it); otherwise no capability left in its user namespace; no new
  privileges; not dumpable (a child cannot read or trace it); the processes limit for all;
then it serves the grader on its control socket, and never runs student code itself:
- "child" (with a socket and an output file): fork a fresh child for one question. The child
  gets its stdout and stderr on a pipe the init drains into the output file (the first
  `output_bytes` kept, the rest counted and dropped: printing never fails, never blocks for
  long; the file starts with two 8-byte counts, kept and printed), a process group, CPU and data
  limits, and the first place in any out-of-memory kill; then it answers probe requests.
- "end": the question is over. The init kills every other process of the namespace, empties
  /tmp and /dev/shm and removes every SysV IPC object: nothing a question's code left reaches
  the next question, not even of the same submission. It answers once done.
The init exits when the grader closes its control socket.

With `isolate` false (the grader's --unsafe-no-sandbox) there are no namespaces and no root of
its own: the init is a plain process (a uid of its own when the grader is root), and "end" kills
the question child's process group.
"""
from __future__ import annotations

import json
import os
import resource
import selectors
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


def run_keeper(spec: dict, control: socket.socket, view: filesystem.View) -> None:
    """The keeper: give the submission its namespaces, fork its init, wait for it; never
    returns."""
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        keeper = os.getpid()
        if spec["isolate"]:
            if os.geteuid() != 0:
                # The warm parent is not dumpable, which makes /proc/self root's: a user
                # namespace's maps could not be written. The init is made non-dumpable again.
                namespaces.prctl(namespaces.PR_SET_DUMPABLE, 1)
                namespaces.enter_user_namespace()
            namespaces.unshare(namespaces.ISOLATED)
        init = os.fork()
    except BaseException as error:
        _report_sandbox_error(control, error)
    if init == 0:
        try:
            confine(spec, control, view, keeper)
        except BaseException as error:
            _report_sandbox_error(control, error)
        try:
            codec.send(control, {"ready": True})
            Init(spec, control, view).serve()
        finally:
            os._exit(0)
    control.close()
    signal.signal(signal.SIGTERM, lambda *_: _kill(init))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        try:
            os.waitpid(init, 0)
            break
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    os._exit(0)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _report_sandbox_error(sock: socket.socket, error: BaseException) -> None:
    codec.send(sock, {"error": {"type": "SandboxError", "where": "sandbox",
                                "message": f"{type(error).__name__}: {error}"}})
    os._exit(70)


def confine(spec: dict, control: socket.socket, view: filesystem.View, keeper: int) -> None:
    """The init's confinement (see the module docstring)."""
    limits = spec["limits"]
    if spec["isolate"]:
        namespaces.prctl(namespaces.PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    keep = control.fileno()
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
    _limit(resource.RLIMIT_CORE, 0)
    # No POSIX message queue: they live in the IPC namespace, which lasts the whole submission,
    # and nothing can list them to remove them after a question (SysV objects can be listed).
    _limit(resource.RLIMIT_MSGQUEUE, 0)
    _limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    # RLIMIT_NPROC counts the processes of the real uid in the process's user namespace: a uid
    # of its own (root) or a user namespace of its own count only this submission's processes.
    if os.geteuid() == 0 and spec["uid_base"] is not None:
        own = spec["uid_base"] + keeper
        _limit(resource.RLIMIT_NPROC, limits["processes"] + 1)
        os.setgroups([])
        os.setresgid(own, own, own)
        os.setresuid(own, own, own)
        if spec["isolate"]:   # what belongs to a user namespace (kernel keys) dies with it
            namespaces.prctl(namespaces.PR_SET_DUMPABLE, 1)   # the uid change reset it
            namespaces.enter_user_namespace()
            namespaces.drop_capabilities()
    elif spec["isolate"]:
        _limit(resource.RLIMIT_NPROC, limits["processes"] + 1)
        namespaces.drop_capabilities()
    else:
        _limit(resource.RLIMIT_NPROC, limits["processes"] + _processes_of(os.getuid()))
    namespaces.prctl(namespaces.PR_SET_NO_NEW_PRIVS, 1)
    namespaces.prctl(namespaces.PR_SET_DUMPABLE, 0)


class Init:
    """The init's service: a child per question, output relayed, everything cleaned after each
    question (see the module docstring)."""

    def __init__(self, spec: dict, control: socket.socket, view: filesystem.View):
        self.spec, self.control, self.view = spec, control, view
        self.limits = spec["limits"]
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ)
        self.child: int | None = None
        self.pipe: int | None = None
        self.output: int | None = None
        self.kept = self.printed = 0

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.control:
                    try:
                        message, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 2)
                    except OSError:
                        message, fds = b"", []
                    if not message:
                        self.end()
                        return
                    request = json.loads(message)
                    if request["op"] == "child":
                        self.end()
                        self.start(request["stand_ins"], *fds)
                    else:
                        self.end()
                        codec.send(self.control, {"done": True})
                elif key.fileobj == self.pipe:   # not a pipe an earlier event already closed
                    self.relay()
            self.reap()

    def start(self, stand_ins: dict, sock_fd: int, output_fd: int) -> None:
        """Fork the question's child, serving probes on the socket `sock_fd`."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                self.control.close()
                os.close(read)
                os.close(output_fd)
                question_child(self.limits, socket.socket(fileno=sock_fd), write, stand_ins)
            finally:
                os._exit(70)
        os.close(write)
        os.close(sock_fd)
        self.child, self.pipe, self.output = pid, read, output_fd
        self.kept = self.printed = 0
        os.pwrite(output_fd, HEADER.pack(0, 0), 0)
        self.selector.register(read, selectors.EVENT_READ)

    def relay(self) -> bool:
        """Copy what the child printed into the output file: the first `output_bytes` after
        the header, then only the count. False once the pipe is closed."""
        try:
            chunk = os.read(self.pipe, 1 << 16)
        except InterruptedError:
            return True
        if not chunk:
            self.selector.unregister(self.pipe)
            os.close(self.pipe)
            self.pipe = None
            return False
        keep = self.limits["output_bytes"]
        if self.kept < keep:
            part = chunk[:keep - self.kept]
            os.pwrite(self.output, part, HEADER.size + self.kept)
            self.kept += len(part)
        self.printed += len(chunk)
        os.pwrite(self.output, HEADER.pack(self.kept, self.printed), 0)
        return True

    def end(self) -> None:
        """The question is over: kill every process but this one, finish the output, clean."""
        if self.child is None:
            return
        if self.spec["isolate"]:
            _signal_all(signal.SIGKILL)     # PID 1 of its namespace: every process but itself
        else:
            try:
                os.killpg(self.child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while self.pipe is not None and self.relay():
            pass
        os.close(self.output)
        self.child = self.output = None
        self.reap(wait=self.spec["isolate"])
        if self.spec["isolate"]:
            for folder in filesystem.SCRATCH:
                _empty(folder, self.view.kept_in(folder))
            _remove_ipc_objects()

    def reap(self, wait: bool = False) -> None:
        """Collect ended processes (orphans land on the init); with `wait`, all of them."""
        while True:
            try:
                pid, _ = os.waitpid(-1, 0 if wait else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


def _signal_all(sig: int) -> None:
    try:
        os.kill(-1, sig)
    except ProcessLookupError:
        pass


MAX_CLEAN_STEPS = 1_000_000   # files and folders one clean-up removes at most


def _empty(folder: str, keep: frozenset[str] = frozenset()) -> None:
    """Remove everything in `folder` but the names in `keep`, however deep and whatever its
    modes: everything in it belongs to this uid, which may give a folder made unreadable
    (chmod 000) its rights back. One descriptor at a time, walking down by name and up by "..",
    so no depth exhausts descriptors, path length or the stack."""
    fd, depth = os.open(folder, os.O_RDONLY | os.O_DIRECTORY), 0
    try:
        for _ in range(MAX_CLEAN_STEPS):
            with os.scandir(fd) as entries:
                entry = next((e for e in entries if depth or e.name not in keep), None)
            if entry is not None and entry.is_dir(follow_symlinks=False):
                os.chmod(entry.name, 0o700, dir_fd=fd)
                below = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                dir_fd=fd)
                os.close(fd)
                fd, depth = below, depth + 1
            elif entry is not None:
                os.unlink(entry.name, dir_fd=fd)
            elif depth:   # an empty folder: up, and remove it
                inode = os.fstat(fd).st_ino
                above = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd, depth = above, depth - 1
                with os.scandir(fd) as entries:
                    name = next(e.name for e in entries if e.inode() == inode)
                os.rmdir(name, dir_fd=fd)
            else:
                return
    except (OSError, StopIteration):
        pass   # what is left stays in this submission's box, and dies with it
    finally:
        os.close(fd)


def _remove_ipc_objects() -> None:
    """Remove every SysV shared memory segment, semaphore set and message queue of this IPC
    namespace (the init owns them all: one uid runs the whole submission)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    removers = {"shm": libc.shmctl, "sem": libc.semctl, "msg": libc.msgctl}
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                ids = [int(line.split()[1]) for line in f.read().splitlines()[1:]]
        except OSError:
            continue
        for ipc_id in ids:
            if kind == "sem":
                remove(ipc_id, 0, 0)            # IPC_RMID
            else:
                remove(ipc_id, 0, None)


def question_child(limits: dict, sock: socket.socket, output: int, stand_ins: dict) -> None:
    """One question's child: its own process group, stdout and stderr into the init's pipe,
    its limits; then it serves probe requests until the grader closes its socket."""
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
        # The first to go in any OOM kill. /proc/self is root's while not dumpable: the child
        # is dumpable for this one write only, before any student code.
        namespaces.prctl(namespaces.PR_SET_DUMPABLE, 1)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
        namespaces.prctl(namespaces.PR_SET_DUMPABLE, 0)
        _limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
        _limit(resource.RLIMIT_DATA, limits["data_bytes"])
    except BaseException as error:
        _report_sandbox_error(sock, error)
    try:   # whatever student code does to this interpreter: never back into the init's loop
        codec.send(sock, {"ready": True})
        serve(sock, stand_ins)
    finally:
        os._exit(0)


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

