"""What a failed check says, read back so that reports can group alike failures.

Messages have the form of checks.py: a first line (what was checked, on what, what went wrong),
indented detail lines, and `hint:` lines naming a known misconception; a test whose student code
raised carries the exception's class (TestResult.error_type) and its first line ends with
"<class>: <message> (<file>, line <n>)"; a check that wraps the exception in its own message
(under np.errstate, say) leaves error_type empty, so the class is also read from the text.
A failure is, in order:
- not attempted, when the student's code raised NotImplementedError (a stub left as it was);
- a misconception, when the message has hints (the hints are its key);
- raised, when the student's code raised another exception (the key is its class and the line
  it was raised at, whatever its message says about the inputs of the check);
- failed otherwise (the key is the check: its test function, whatever the case).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MISCONCEPTION, NOT_ATTEMPTED, RAISED, FAILED = "misconception", "not attempted", "raised", "failed"
_HINT = "hint:"
# "...: NotImplementedError: Q1.1: implement linear (mlp.py, line 33)", after the interrupted call
_RAISED = re.compile(r"(?:^|: )((\w*(?:Error|Exception|Exit|Interrupt|StopIteration)): .*)")
_WHERE = re.compile(r"\([^()]+\.py, line \d+\)$")   # "(mlp.py, line 33)"


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


def classify(test) -> Failure:
    """The failure of a failed TestResult (its message and error_type)."""
    line = first_line(test.message)
    error_type, raised = test.error_type, line
    if error_type and f"{error_type}: " in line:
        raised = line[line.index(f"{error_type}: "):]   # without the call it interrupted
    elif found := _RAISED.search(line):
        raised, error_type = found.group(1), found.group(2)
    if error_type == "NotImplementedError":   # a stub, even where a suite adds a hint
        return Failure(NOT_ATTEMPTED, raised)
    named = hints(test.message)
    if named:
        return Failure(MISCONCEPTION, " — or: ".join(named))
    if error_type:
        where = _WHERE.search(raised)
        return Failure(RAISED, f"{error_type} {where.group(0)}" if where else raised)
    return Failure(FAILED, check_name(test.name))
