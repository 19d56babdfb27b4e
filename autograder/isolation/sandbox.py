"""The one place where the grader reaches student code: sandboxed children of a warm parent.

    parent = WarmParent()                      # one per grading process; starts the zygote
    child = parent.spawn(Path("scratch/alice"))  # a fresh confined child for that folder
    child.call("call", "mlp", "linear", x, W, b, timeout=10)   # -> value, or raises StudentCodeError
    child.close()                              # kills its whole process group
    parent.close()

Values go both ways through `codec` (plain data only, never pickle). The grader process never
imports a submission: whatever student code does, it does in a child that the grader can kill.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.isolation import cgroups, codec

KIT_PARENT = str(Path(__file__).resolve().parents[2])
OUTPUT_SHOWN = 2000
# The warm parent starts from a clean environment: children are its forks, and the grader's
# variables (tokens, paths, a course's secrets) must not be in their memory. Kept: the locale,
# PATH, and the numerical libraries' settings, so that children compute like the grader.
ENV_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
ENV_KEPT_PREFIXES = ("OMP_", "MKL_", "OPENBLAS_", "KMP_", "GOMP_", "NVPL_")
# What a child says reaches reports and terminals: no control characters (escape sequences could
# rewrite a terminal's table) and no lone surrogates (they cannot be written as UTF-8).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class Limits:
    """Resource limits of every child (per child, not per call, except `call_seconds`)."""
    call_seconds: float = 10.0          # wall clock for one probe call
    cpu_seconds: int = 120              # RLIMIT_CPU for the child's whole life
    data_bytes: int = 2 * 1024 ** 3     # RLIMIT_DATA: heap and anonymous mappings
    file_bytes: int = 8 * 1024 ** 2     # RLIMIT_FSIZE: largest file the child may write
    open_files: int = 256
    processes: int = 32                 # RLIMIT_NPROC for the sandbox user; the cgroup's tasks
    memory_bytes: int = 4 * 1024 ** 3   # the cgroup: a child and its subprocesses together


class StudentCodeError(Exception):
    """Student code did not give a usable answer; `kind` says how, the message says what.

    kinds: "raised" (an exception in student code), "import" (the module failed to import),
    "timeout", "died" (the process ended: exit, crash, killed by a limit), "unsupported"
    (a return value that may not cross the boundary), "protocol" (garbage on the socket).
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


DEFAULT_SANDBOX_UID = 65534   # nobody; parallel workers take the uids just below it


def sandbox_user(uid: int | None = None) -> tuple[int, int] | None:
    """The uid/gid children drop to when the grader runs as root, else None.

    Each parallel worker takes its own uid, so the per-user process limit of one worker's
    students never starves another's.
    """
    if os.geteuid() != 0:
        return None
    uid = DEFAULT_SANDBOX_UID if uid is None else uid
    return uid, uid


def protections() -> dict[str, bool]:
    """Which protections children get on this machine; reports list the missing ones."""
    root = os.geteuid() == 0
    return {"resource limits": True, "process-group kill": True, "orphan sweep": True,
            "clean environment": True,
            "unprivileged user": root, "chroot to the submission": root, "no network": root,
            "memory and process cgroup": cgroups.available()}


def clean_env() -> dict[str, str]:
    """The warm parent's environment (see ENV_KEPT)."""
    env = {k: v for k, v in os.environ.items() if k in ENV_KEPT or k.startswith(ENV_KEPT_PREFIXES)}
    # One thread, and one hash seed: a student's set of strings iterates in the same order on
    # every run (scores must not depend on the run).
    env.update(PYTHONPATH=KIT_PARENT, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               PYTHONHASHSEED="0", HOME="/")
    return env


def printable(text: str) -> str:
    """`text` without control characters (newline and tab kept) or lone surrogates."""
    return _UNPRINTABLE.sub("\N{REPLACEMENT CHARACTER}", text)


class WarmParent:
    """The zygote process (see zygote.py) and the control channel to it."""

    def __init__(self, limits: Limits = Limits(), drop_to: tuple[int, int] | None = ...):
        self.limits = limits
        self.drop_to = sandbox_user() if drop_to is ... else drop_to
        self._outputs = tempfile.TemporaryDirectory(prefix="dlexam-out-")
        self.cgroup = (cgroups.Cgroup.create(limits.memory_bytes, limits.processes + 1)
                       if self.drop_to is not None else None)
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.isolation.zygote", str(theirs.fileno()),
             "cut-network" if self.drop_to is not None else "keep-network"],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=clean_env(), cwd="/")
        theirs.close()
        self._control = ours
        self._ready = False
        self._children: set[int] = set()

    def _wait_ready(self) -> None:
        if not self._ready:
            if self._control.recv(1) != b"R":
                raise RuntimeError("the warm parent failed to start (see its stderr above)")
            if self.cgroup:   # its children are forked inside (see cgroups.py)
                self.cgroup.add(self.process.pid)
            self._ready = True

    def spawn(self, workdir: Path, label: str = "child") -> "Child":
        """Fork a confined child whose only visible files are those in `workdir`.

        A warm parent that died (killed from outside, or by a child when the grader is not
        root and they share a user) is restarted once.
        """
        try:
            return self._spawn(workdir, label)
        except (RuntimeError, OSError):
            if self.process.poll() is None:
                raise
        self._control.close()
        self._start()
        return self._spawn(workdir, label)

    def _spawn(self, workdir: Path, label: str) -> "Child":
        self._wait_ready()
        ours, theirs = socket.socketpair()
        output_path = Path(self._outputs.name) / f"{label}-{time.monotonic_ns()}.txt"
        output_fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        spec = {"workdir": str(Path(workdir).resolve()), "drop_to": self.drop_to,
                "limits": self.limits.__dict__}
        request = json.dumps({"op": "spawn", "spec": spec}).encode()
        try:
            socket.send_fds(self._control, [request], [theirs.fileno(), output_fd])
        finally:
            theirs.close()
            os.close(output_fd)
        (pid,) = struct.unpack(">i", _recv_exactly(self._control, 4))
        if pid < 0:   # fork failed in the warm parent (no memory, no process left)
            ours.close()
            output_path.unlink(missing_ok=True)
            raise StudentCodeError("died", "could not start a process to run your code")
        self._children.add(pid)
        child = Child(self, pid, ours, output_path)
        child.pidfd = os.pidfd_open(pid)
        child.wait_ready()
        return child

    def sweep(self) -> None:
        """Kill processes that escaped a closed child (orphans re-parented to the zygote)."""
        request = json.dumps({"op": "sweep", "keep": sorted(self._children)}).encode()
        try:
            socket.send_fds(self._control, [request], [])
            _recv_exactly(self._control, 4)
        except (OSError, RuntimeError):
            if self.process.poll() is None:
                raise
            # The zygote is gone (spawn restarts it); orphans it held went to init. Only a
            # grader without root can lose it so: its children share its user and may kill it.

    def _forget(self, pid: int) -> None:
        self._children.discard(pid)

    def close(self) -> None:
        try:
            self._control.close()
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.cgroup:
            self.cgroup.remove()
        self._outputs.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Child:
    """One confined child process and the socket to it."""
    parent: WarmParent
    pid: int
    sock: socket.socket
    output_path: Path
    alive: bool = True
    calls: int = 0
    pidfd: int | None = None   # refers to this process only, even after its pid is reused

    def wait_ready(self) -> None:
        reply = self._receive(timeout=30, expected="ready")
        if "error" in reply:
            self.close()
            raise StudentCodeError("died", "sandbox failed to start: "
                                   + printable(str(reply["error"].get("message"))))

    def call(self, probe: str, *args, timeout: float | None = None, **kwargs):
        """Run a trusted probe in the child; return its plain-data result."""
        if not self.alive:
            raise StudentCodeError("died", "the process running your code had already ended")
        self.calls += 1
        try:
            codec.send(self.sock, {"probe": probe, "args": list(args), "kwargs": kwargs})
        except OSError:
            self.close()
            raise StudentCodeError("died", self._died_message()) from None
        reply = self._receive(timeout or self.parent.limits.call_seconds, expected="ok")
        if "error" in reply:
            raise _error_from(reply["error"])
        return reply["ok"]

    def _receive(self, timeout: float, expected: str) -> dict:
        """One reply, {expected: ...} or {"error": {...}}, within `timeout` seconds in all."""
        try:
            reply = codec.receive(self.sock, timeout=timeout)
        except socket.timeout:
            self.close()
            raise StudentCodeError(
                "timeout", f"no answer within {timeout:g} s (an endless loop, or far too slow)"
            ) from None
        except (EOFError, OSError):
            self.close()
            raise StudentCodeError("died", self._died_message()) from None
        except codec.ProtocolError as error:
            self.close()
            raise StudentCodeError("protocol", f"unreadable answer from the child: {error}") from None
        if (type(reply) is not dict or len(reply) != 1 or not ({expected, "error"} & reply.keys())
                or ("error" in reply and type(reply["error"]) is not dict)):
            self.close()
            raise StudentCodeError("protocol", "unreadable answer from the child")
        return reply

    def _died_message(self) -> str:
        printed = self.output()
        tail = f"; it printed: {printed[-500:]!r}" if printed.strip() else ""
        return ("the process running your code ended (sys.exit, os._exit, a crash, or a "
                "resource limit: memory, CPU time, file size)" + tail)

    def output(self) -> str:
        """What the child printed (stdout and stderr), the first OUTPUT_SHOWN characters."""
        try:
            with open(self.output_path, "rb") as f:
                return printable(f.read(OUTPUT_SHOWN).decode("utf-8", "replace"))
        except OSError:
            return ""

    def close(self) -> None:
        """Kill the child and its whole process group; sweep orphans that escaped it."""
        if not self.alive:
            return
        self.alive = False
        self.sock.close()
        if self.pidfd is not None:
            if not select.select([self.pidfd], [], [], 0)[0]:  # the group leader still runs
                _ignore_missing(os.killpg, self.pid, signal.SIGKILL)
                _ignore_missing(signal.pidfd_send_signal, self.pidfd, signal.SIGKILL)
                select.select([self.pidfd], [], [], 2.0)         # until it has really ended
            os.close(self.pidfd)
        self.parent._forget(self.pid)
        self.parent.sweep()
        self.output_path.unlink(missing_ok=True)   # up to file_bytes per child: not kept


def _ignore_missing(kill, target, sig) -> None:
    try:
        kill(target, sig)
    except ProcessLookupError:
        pass


def _error_from(error: dict) -> StudentCodeError:
    """The StudentCodeError for an error reply; every field is the child's word, so checked."""
    def field(key: str, limit: int) -> str:
        value = error.get(key)
        return value[:limit] if type(value) is str else ""

    kind = {"import": "import", "return": "unsupported", "sandbox": "died"}.get(
        field("where", 20), "raised")
    text = f"{field('type', 100) or 'Exception'}: {field('message', 2000)}".strip()
    if field("line", 200):
        text += f" ({field('line', 200)})"
    if kind == "import":
        text = "your module could not be imported: " + text
    return StudentCodeError(kind, printable(text))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the warm parent died")
        data += chunk
    return data
