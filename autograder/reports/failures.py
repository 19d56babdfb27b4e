"""What a failed check's message says, read back so that reports can group alike failures.

Messages have the form of checks.py: a first line (what was checked, on what, what went wrong),
indented detail lines, and `hint:` lines naming a known misconception. A failure is, in order:
- not attempted, when the student's code raised NotImplementedError (a stub left as it was);
- a misconception, when the message has hints (the hints are its key);
- raised, when the student's code raised another exception (its text is the key: the same
  exception at the same line, whatever the inputs of the check);
- failed otherwise (its first line is the key).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MISCONCEPTION, NOT_ATTEMPTED, RAISED, FAILED = "misconception", "not attempted", "raised", "failed"

# "...: NotImplementedError: Q1.1: implement linear (mlp.py, line 33)": how the isolation layer
# words an exception of student code, after the call it interrupted.
_RAISED = re.compile(r"(?:^|: )((?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt|StopIteration): .*)")
_HINT = "hint:"


@dataclass(frozen=True)
class Failure:
    kind: str       # MISCONCEPTION, NOT_ATTEMPTED, RAISED or FAILED
    key: str        # alike failures share it: the hints, the exception, or the first line


def hints(message: str) -> list[str]:
    """The hint lines of a message, without their "hint:" prefix."""
    return [line.strip()[len(_HINT):].strip() for line in message.splitlines()[1:]
            if line.strip().startswith(_HINT)]


def without_hints(message: str) -> str:
    """The message without its hint lines."""
    return "\n".join(line for line in message.splitlines() if not line.strip().startswith(_HINT))


def check_name(test_name: str) -> str:
    """The test function of a test: "test_mlp.py::test_linear[3]" -> "test_mlp.py::test_linear"."""
    return test_name.split("[")[0]


def first_line(message: str) -> str:
    return message.splitlines()[0] if message.strip() else "failed"


def classify(message: str) -> Failure:
    found = _RAISED.search(first_line(message))
    raised = found.group(1) if found else ""
    if raised.startswith("NotImplementedError:"):   # a stub, even where a suite adds a hint
        return Failure(NOT_ATTEMPTED, raised)
    named = hints(message)
    if named:
        return Failure(MISCONCEPTION, " — or: ".join(named))
    return Failure(RAISED, raised) if raised else Failure(FAILED, first_line(message))
