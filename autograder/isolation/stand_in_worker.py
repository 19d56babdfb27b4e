"""Stand-in answers computed outside the grader's process, within a memory and a time budget.

A child's stand-in request carries arguments the student's code chose (autograder/standins.py):
their sizes bound the input, not the work. A broadcast of an (N, 1) by a (1, N) array, or a
convolution padded by thousands, asks for gigabytes or minutes. Computed in the grader, such a
request would stall every submission behind it or get the grader killed for memory. So the
grader forks a worker that computes the answers: its memory is limited (RLIMIT_DATA: what it
had at the fork plus `memory_bytes`), and each answer must come within the time left of the
call that asked. A request over either budget is refused (the student's code sees an error,
as if its own function had raised), the worker is killed, and the next request forks a new
one. Nothing else changes: the worker holds no state between requests.

    worker = StandInWorker(memory_bytes=2 * 1024 ** 3)
    value = worker.answer("mlp.linear", "value", [[x, W, b], {}], timeout=9.5)
    worker.close()

The worker is a fork of the grader (torch already imported, pages shared), made on the first
request; it closes every descriptor it inherited but its own socket.
"""
from __future__ import annotations

import os
import resource
import signal
import socket

from autograder import standins
from autograder.isolation import codec
from autograder.text import printable


class StandInRefused(Exception):
    """The worker could not answer: the arguments were wrong, or too costly."""


class StandInWorker:
    def __init__(self, memory_bytes: int):
        self.memory_bytes = memory_bytes
        self.pid: int | None = None
        self.sock: socket.socket | None = None

    def answer(self, name: str, kind: str, payload, timeout: float):
        """The stand-in `name`'s answer to a `kind` request on `payload`, within `timeout`
        seconds; StandInRefused with the reason otherwise."""
        if timeout <= 0:
            raise StandInRefused("no time left in this call")
        if self.pid is None:
            self._start()
        try:
            codec.send(self.sock, {"name": name, "kind": kind, "payload": payload})
            reply = codec.receive(self.sock, timeout=timeout)
        except socket.timeout:
            self.close()
            raise StandInRefused(f"computing {name} on these arguments takes more than "
                                 f"{timeout:.3g} s: more than any test needs") from None
        except (EOFError, OSError, codec.ProtocolError):
            self.close()
            raise StandInRefused(f"computing {name} on these arguments needs more memory "
                                 "than any test needs") from None
        if "refused" in reply:
            raise StandInRefused(reply["refused"])
        return reply["answer"]

    def _start(self) -> None:
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:   # the worker: never returns into the grader's code
            try:
                mine.close()
                _serve(theirs, self.memory_bytes)
            finally:
                os._exit(0)
        theirs.close()
        self.pid, self.sock = pid, mine

    def close(self) -> None:
        """Kill the worker (it holds nothing worth a clean exit); the next request forks anew."""
        if self.pid is None:
            return
        self.sock.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        self.pid = self.sock = None


def _serve(sock: socket.socket, memory_bytes: int) -> None:
    """Answer requests until the grader closes the socket."""
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the grader decides when the worker ends
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limit = _data_bytes() + memory_bytes
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    while True:
        try:
            request = codec.receive(sock)
        except (EOFError, OSError, codec.ProtocolError):
            return
        try:
            reply = {"answer": standins.answer(request["name"], request["kind"],
                                               request["payload"])}
        except MemoryError:
            reply = {"refused": f"computing {request['name']} on these arguments needs more "
                                "memory than any test needs"}
        except Exception as error:   # noqa: BLE001 - the arguments are the student's code's
            reply = {"refused": printable(f"{type(error).__name__}: {error}")[:500]}
        try:
            codec.send(sock, reply)
        except codec.UnsupportedType as error:
            codec.send(sock, {"refused": printable(str(error))[:500]})


def _data_bytes() -> int:
    """This process's data segment now (VmData), as RLIMIT_DATA counts it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0
