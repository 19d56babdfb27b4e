"""The one place where the grader reaches student code: sandboxed children of warm parents.

    with Sandbox(Limits()) as sandbox:           # one per grading process
        child = sandbox.spawn(Path("scratch/sub0"), torch=False)   # a fresh child, one question
        child.call("call", "mlp", "linear", x, W, b)   # -> value, or raises StudentCodeError
        child.close()                 # its processes, files and IPC objects are gone
        sandbox.release(Path("scratch/sub0"))     # the submission's namespaces are gone

A submission gets namespaces of its own per flavour, forked from a warm parent (zygote.py):
"numpy" for the numpy-only parts (torch is not there at all), "torch" for Part 5 (a Box: a
keeper and an init, child.py). Each question gets a fresh child of the box's init, and nothing
of it survives the question. The recipe is the same whether the grader is root (then each
submission also gets a uid no other process has) or not (then a user namespace makes it root
of nothing). Where the machine refuses namespaces, a Sandbox refuses to start unless it is asked
for `isolate=False` (`--unsafe-no-sandbox`), and every report then says so.

Values go both ways through `codec` (plain data only, never pickle). The grader process never
imports a submission: whatever student code does, it does in a child that the grader can kill.
"""
from __future__ import annotations

import functools
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.isolation import cgroups, codec, namespaces
from autograder.failures import StudentCodeError, error_from
from autograder.isolation.child import HEADER
from autograder.isolation.stand_in_worker import StandInRefused, StandInWorker
from autograder.text import printable

KIT_PARENT = str(Path(__file__).resolve().parents[2])
OUTPUT_SHOWN = 2000
# The warm parents start from a clean environment: children are their forks, and the grader's
# variables (tokens, paths, a course's secrets) must not be in their memory. Kept: the locale,
# PATH and LD_LIBRARY_PATH (the interpreter may need it to start), and the numerical
# libraries' settings, so that children compute like the grader.
ENV_KEPT = ("PATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
ENV_KEPT_PREFIXES = ("OMP_", "MKL_", "OPENBLAS_", "KMP_", "GOMP_", "NVPL_")
# Root gives each child the uid UID_BASE + its keeper's pid: a pid is unique among live
# processes, so no other child, run or service shares it.
UID_BASE = 1_000_000_000
SPAWN_SECONDS = 30
END_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    """What one submission's code may use. Times are wall clock; memory and processes are per
    child (one child serves one question)."""
    call_seconds: float = 10.0          # one call into the student's code
    question_seconds: float = 30.0      # all calls of one question, spawning included
    submission_seconds: float = 60.0    # all calls of one submission
    cpu_seconds: int = 120              # RLIMIT_CPU for a child's whole life
    data_bytes: int = 2 * 1024 ** 3     # RLIMIT_DATA: heap and anonymous mappings
    file_bytes: int = 8 * 1024 ** 2     # RLIMIT_FSIZE: the largest file a child may write
    tmp_bytes: int = 64 * 1024 ** 2     # its private /tmp (and /dev/shm)
    output_bytes: int = 64 * 1024       # what it prints that is kept; the rest is dropped
    open_files: int = 256
    processes: int = 32                 # RLIMIT_NPROC; the cgroup's tasks when root
    memory_bytes: int = 4 * 1024 ** 3   # the cgroup (root only): a child and its subprocesses


class SandboxError(RuntimeError):
    """The grader's own machinery failed (a warm parent could not start or keeps dying): no
    submission can be graded fairly, so grading stops instead of scoring anyone 0."""


@functools.cache
def why_not_isolated() -> str | None:
    """None when children get their namespaces on this machine, else why not (one line)."""
    return namespaces.why_unavailable()


def protections(isolate: bool) -> dict[str, bool]:
    """Which protections children get; reports list them."""
    isolated = isolate and why_not_isolated() is None
    root = os.geteuid() == 0
    return {
        "own PID, IPC, network and mount namespaces": isolated,
        "a root of its own: interpreter and libraries read-only, its submission, a private /tmp":
            isolated,
        "no privilege (a uid of its own)" if root else "no privilege (no capability)": isolated or root,
        "resource limits, time budgets, output cap": True,
        "memory and process cgroup": root and cgroups.available(),
    }


def clean_env() -> dict[str, str]:
    """The warm parents' environment (see ENV_KEPT)."""
    env = {k: v for k, v in os.environ.items() if k in ENV_KEPT or k.startswith(ENV_KEPT_PREFIXES)}
    # One thread, and one hash seed: a student's set of strings iterates in the same order on
    # every run (scores must not depend on the run).
    env.update(PYTHONPATH=KIT_PARENT, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               PYTHONHASHSEED="0", HOME="/")
    return env


class Sandbox:
    """Both warm parents of a grading process; the torch one warms up while the numpy one works."""

    def __init__(self, limits: Limits = Limits(), isolate: bool = True, hide: tuple[str, ...] = ()):
        if isolate and why_not_isolated():
            raise SandboxError(f"no sandbox: {why_not_isolated()}. Pass --unsafe-no-sandbox to "
                               f"grade anyway, without isolation (every report will say so)")
        self.limits = limits
        self.isolate = isolate
        self.answers = StandInWorker(limits.data_bytes)   # shared by both flavours
        self.parents = {flavour: WarmParent(limits, flavour, isolate, hide, self.answers)
                        for flavour in ("numpy", "torch")}
        self._boxes: dict[tuple[Path, str], Box] = {}

    @property
    def mode(self) -> str:
        """"namespaces"; or, without them, "own uid" (a root grader still gives every child a
        uid of its own) or "none" (children run as the grader's user)."""
        if self.isolate:
            return "namespaces"
        return "own uid" if os.geteuid() == 0 else "none"

    def spawn(self, workdir: Path, label: str = "child", torch: bool = False,
              stand_ins: dict[str, dict] | None = None) -> "Child":
        """A fresh child for one question of the submission in `workdir`, in that submission's
        box of the torch or the numpy flavour (made on first use); `stand_ins` names the
        stand-ins it may use, with what it must know of them (autograder/standins.py). A box
        that broke is replaced once."""
        key = (Path(workdir), "torch" if torch else "numpy")
        for attempt in (1, 2):
            box = self._boxes.get(key)
            if box is None or not box.alive:
                box = self._boxes[key] = self.parents[key[1]].box(workdir, label)
            try:
                return box.spawn(stand_ins or {})
            except SandboxError:
                box.kill()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def release(self, workdir: Path) -> None:
        """The submission in `workdir` is graded: its boxes and all they hold are gone."""
        for key in [k for k in self._boxes if k[0] == Path(workdir)]:
            self._boxes.pop(key).close()

    def close(self) -> None:
        for box in self._boxes.values():
            box.close()
        self._boxes.clear()
        for parent in self.parents.values():
            parent.close()
        self.answers.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WarmParent:
    """One zygote process (see zygote.py) and the control channel to it."""

    def __init__(self, limits: Limits = Limits(), flavour: str = "torch", isolate: bool = True,
                 hide: tuple[str, ...] = (), answers: StandInWorker | None = None):
        self.limits, self.flavour, self.isolate = limits, flavour, isolate
        # Where its children's stand-in requests are computed: the Sandbox's, shared by both
        # flavours, or one of its own.
        self._owns_answers = answers is None
        self.answers = answers or StandInWorker(limits.data_bytes)
        self._scratch = tempfile.TemporaryDirectory(prefix="dlexam-child-")   # 0700
        os.mkdir(self._mountpoint())
        # The warm parent is moved into it once ready: every child is forked inside, and so are
        # everything its students start (see cgroups.py).
        self.cgroup = (cgroups.Cgroup.create(limits.memory_bytes, limits.processes + 4)
                       if os.geteuid() == 0 else None)
        self._hide = [*hide, tempfile.gettempdir(), self._scratch.name]
        self._start()

    def _mountpoint(self) -> str:
        return os.path.join(self._scratch.name, "root")

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.isolation.zygote", str(theirs.fileno()),
             self.flavour, json.dumps(self._hide)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=clean_env(), cwd="/")
        theirs.close()
        self._control = ours
        self._ready = False

    def _wait_ready(self) -> None:
        if not self._ready:
            if self._control.recv(1) != b"R":
                raise SandboxError(f"the {self.flavour} warm parent failed to start (see its "
                                   f"error above)")
            if self.cgroup:
                self.cgroup.add(self.process.pid)
            self._ready = True

    def box(self, workdir: Path, label: str = "submission") -> "Box":
        """A box for the submission in `workdir`: its keeper and init, ready to fork children.

        A warm parent that died (killed from outside) is restarted once."""
        try:
            return self._box(workdir, label)
        except (SandboxError, OSError):
            if self.process.poll() is None:
                raise
        self._control.close()
        self._start()
        return self._box(workdir, label)

    def spawn(self, workdir: Path, label: str = "child",
              stand_ins: dict[str, dict] | None = None) -> "Child":
        """A child in a box of its own, closed with it (tests and one-off calls)."""
        child = self.box(workdir, label).spawn(stand_ins or {})
        child.owns_box = True
        return child

    def _box(self, workdir: Path, label: str) -> "Box":
        self._wait_ready()
        try:
            mode = os.stat(workdir).st_mode
        except OSError as error:
            raise SandboxError(f"a sandbox failed to start: {error}") from None
        if os.geteuid() == 0 and mode & 0o005 != 0o005:
            # the init drops to a uid of its own: the folder intake wrote must be open to it
            raise SandboxError(f"{workdir} is not readable by other users (intake makes it 0755)")
        ours, theirs = socket.socketpair()
        spec = {"workdir": str(Path(workdir).resolve()), "mountpoint": self._mountpoint(),
                "isolate": self.isolate, "limits": asdict(self.limits),
                "uid_base": UID_BASE if os.geteuid() == 0 else None}
        try:
            socket.send_fds(self._control, [json.dumps(spec).encode()], [theirs.fileno()])
        finally:
            theirs.close()
        (pid,) = struct.unpack(">i", _recv_exactly(self._control, 4))
        if pid < 0:   # fork failed in the warm parent (no memory, no process left)
            ours.close()
            raise SandboxError("could not start a process for a submission")
        box = Box(self, pid, ours, os.pidfd_open(pid), label)
        try:
            reply = codec.receive(ours, timeout=SPAWN_SECONDS)
        except (socket.timeout, EOFError, OSError, codec.ProtocolError):
            reply = {"error": {"message": "no answer"}}
        if type(reply) is not dict or "ready" not in reply:
            box.kill()
            message = reply.get("error", {}).get("message") if type(reply) is dict else reply
            raise SandboxError("a sandbox failed to start: " + printable(str(message)))
        return box

    def close(self) -> None:
        try:
            self._control.close()
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.cgroup:
            self.cgroup.remove()
        self._scratch.cleanup()
        if self._owns_answers:
            self.answers.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Box:
    """One submission's namespaces (for one flavour): its keeper's pid and pidfd, and the control
    socket of its init, which forks a child per question and cleans up after it (child.py)."""

    def __init__(self, parent: "WarmParent", keeper: int, control: socket.socket, pidfd: int,
                 label: str):
        self.parent, self.keeper, self.control, self.pidfd = parent, keeper, control, pidfd
        self.label = label
        self.alive = True

    def spawn(self, stand_ins: dict[str, dict]) -> "Child":
        """A fresh child for one question, that may use the stand-ins `stand_ins`."""
        if not self.alive:
            raise SandboxError("the submission's sandbox had already ended")
        ours, theirs = socket.socketpair()
        output = tempfile.TemporaryFile(dir=self.parent._scratch.name)
        try:
            socket.send_fds(self.control, [json.dumps({"op": "child", "stand_ins": stand_ins})
                                           .encode()], [theirs.fileno(), output.fileno()])
        except OSError:
            ours.close()
            output.close()
            raise SandboxError("the submission's sandbox ended") from None
        finally:
            theirs.close()
        child = Child(self, ours, output, set(stand_ins))
        child.wait_ready()
        return child

    def end_question(self) -> None:
        """Have the init kill what the question's child left and clean up; a box whose init does
        not answer in time is killed (the next question gets a new one)."""
        try:
            self.control.sendall(json.dumps({"op": "end"}).encode())
            reply = codec.receive(self.control, timeout=END_SECONDS)
        except (OSError, EOFError, socket.timeout, codec.ProtocolError):
            reply = None
        if type(reply) is not dict or reply.get("done") is not True:
            self.kill()

    def close(self) -> None:
        """The submission is done: the init exits when its control socket closes."""
        if self.alive:
            self.alive = False
            self.control.close()
            if not select.select([self.pidfd], [], [], END_SECONDS)[0]:
                _signal(self.pidfd, signal.SIGKILL)
                select.select([self.pidfd], [], [], END_SECONDS)
        self._forget()

    def kill(self) -> None:
        """End the box now. The keeper kills the init and waits for it, which the kernel lets
        happen only once every process of its PID namespace is gone; a keeper that does not
        end in time is killed (its init then dies, and the namespace with it, moments later)."""
        if self.alive:
            self.alive = False
            self.control.close()
            _signal(self.pidfd, signal.SIGTERM)
            if not select.select([self.pidfd], [], [], END_SECONDS)[0]:
                _signal(self.pidfd, signal.SIGKILL)
                select.select([self.pidfd], [], [], END_SECONDS)
        self._forget()

    def _forget(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


@dataclass
class Child:
    """One question's child: the socket to it, in its box."""
    box: Box
    sock: socket.socket
    output_file: object            # the init writes what the child prints here
    stand_ins: set = field(default_factory=set)   # names of those it was spawned with
    owns_box: bool = False         # the box ends with this child (WarmParent.spawn)
    alive: bool = True
    used_stand_ins: list = field(default_factory=list)
    printed: int = 0               # bytes the worker printed (all of them once closed)
    _last_output: str = ""         # what output() last read: kept once the file is closed

    def wait_ready(self) -> None:
        try:
            reply = self._receive(timeout=SPAWN_SECONDS, expected="ready")
        except StudentCodeError as error:   # before any student code ran: the grader's failure
            raise SandboxError(f"a sandboxed child failed to start: {error}") from None
        if "error" in reply:
            self.close()
            raise SandboxError("a sandboxed child failed to start: "
                               + printable(str(reply["error"].get("message"))))

    def call(self, probe: str, *args, timeout: float | None = None, stand_ins: bool = False,
             **kwargs):
        """Run a trusted probe in the child; return its plain-data result.

        With `stand_ins`, the child puts the stand-ins it was spawned with in place of the
        student's functions for this call, and this process answers their requests (computed
        by autograder/standins.py, never in the child); afterwards `used_stand_ins` lists those
        it answered. One deadline covers the whole call, answers included."""
        if not self.alive:
            raise StudentCodeError("died", "the process running your code had already ended")
        self.used_stand_ins = []
        limit = timeout or self.box.parent.limits.call_seconds
        deadline = time.monotonic() + limit
        message = {"probe": probe, "args": list(args), "kwargs": kwargs, "stand_ins": stand_ins}
        while True:
            try:
                codec.send(self.sock, message)
            except OSError:
                self.close()
                raise StudentCodeError("died", self._died_message()) from None
            reply = self._receive(deadline - time.monotonic(), expected="ok", limit=limit)
            if "stand_in" not in reply:
                break
            message = (self._answer(reply, deadline - time.monotonic()) if stand_ins
                       else {"refused": "not offered"})
        if "error" in reply:
            raise error_from(reply["error"])
        return reply["ok"]

    def _answer(self, request: dict, timeout: float) -> dict:
        """The grader's answer to a stand-in request of the child, computed by the stand-in
        worker within `timeout` seconds (its arguments are the child's word: any failure is a
        refusal the student's code sees as an error)."""
        name, kind = request.get("stand_in"), request.get("kind")
        if name not in self.stand_ins or type(kind) is not str:
            return {"refused": "not offered"}
        if name not in self.used_stand_ins:
            self.used_stand_ins.append(name)
        try:
            return {"answer": self.box.parent.answers.answer(name, kind, request.get("payload"),
                                                             timeout)}
        except StandInRefused as refusal:
            return {"refused": str(refusal)}

    def _receive(self, timeout: float, expected: str, limit: float | None = None) -> dict:
        """One reply, {expected: ...}, {"error": {...}} or a stand-in request, within `timeout`
        seconds in all (what is left of the call's `limit`, the figure a timeout reports)."""
        try:
            if timeout <= 0:
                raise socket.timeout
            reply = codec.receive(self.sock, timeout=timeout)
        except socket.timeout:
            self.close()
            raise StudentCodeError(
                "timeout", f"no answer within {limit or timeout:.3g} s (an endless loop, or far too "
                f"slow)"
            ) from None
        except (EOFError, OSError):
            self.close()
            raise StudentCodeError("died", self._died_message()) from None
        except codec.ProtocolError as error:
            self.close()
            raise StudentCodeError("protocol", f"unreadable answer from the child: {error}") from None
        stand_in = type(reply) is dict and reply.keys() == {"stand_in", "kind", "payload"}
        if not stand_in and (type(reply) is not dict or len(reply) != 1
                             or not ({expected, "error"} & reply.keys())
                             or ("error" in reply and type(reply["error"]) is not dict)):
            self.close()
            raise StudentCodeError("protocol", "unreadable answer from the child")
        return reply

    def _died_message(self) -> str:
        printed = self.output()
        tail = f"; it printed: {printed[-500:]!r}" if printed.strip() else ""
        return ("the process running your code ended (sys.exit, os._exit, a crash, or a "
                "resource limit: memory, CPU time, processes)" + tail)

    def output(self) -> str:
        """What the child printed (stdout and stderr), the first OUTPUT_SHOWN characters; also
        sets `printed`, the number of bytes it printed in all."""
        if self.output_file.closed:
            return self._last_output
        try:
            header = os.pread(self.output_file.fileno(), HEADER.size, 0)
            kept, self.printed = HEADER.unpack(header) if len(header) == HEADER.size else (0, 0)
            data = os.pread(self.output_file.fileno(), min(kept, OUTPUT_SHOWN * 4), HEADER.size)
        except OSError:
            return ""
        self._last_output = printable(data.decode("utf-8", "replace")[:OUTPUT_SHOWN])
        return self._last_output

    def close(self) -> None:
        """End the question: the init kills every process of it, and cleans up."""
        if not self.alive:
            return
        self.alive = False
        self.sock.close()
        if self.owns_box:
            self.box.kill()
        else:
            self.box.end_question()
        self.output()
        self.output_file.close()


def _signal(pidfd: int, sig: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SandboxError("the warm parent died")
        data += chunk
    return data
