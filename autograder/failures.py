"""How a failure of student code is worded, wherever it is checked: by the grader (plugin.py,
isolation/sandbox.py) and by the public checks of the student bundle, which ships this module.

    StudentCodeError          the student's code gave no usable answer (kind, message, type)
    error_from(reply)         the StudentCodeError of a child's error reply
    in_call(error, where)     the same failure, named after the call it happened in
    modified_inputs(where, names)   the failure of a call that changed its inputs
    failure_message(error, question)  the text a student reads for a failed check

Standard library and checks.py only: the bundle runs it without the rest of the kit.
"""
from __future__ import annotations

from autograder.checks import Mismatch
from autograder.text import printable

MESSAGE_LIMIT = 1500        # characters of a failed check's message that are kept
# The kinds of StudentCodeError a call's own failure has (the others are the machinery's).
CALL_FAILURES = ("raised", "timeout", "died", "unsupported", "budget")


class StudentCodeError(Exception):
    """Student code did not give a usable answer; `kind` says how, the message says what.

    kinds: "raised" (an exception in student code), "import" (the module failed to import),
    "timeout", "budget" (not run: a time budget was used up), "died" (the process ended: exit,
    crash, killed by a limit), "unsupported" (a return value that may not cross the boundary),
    "protocol" (garbage on the socket), "missing" (the module was not submitted).
    `type` is the name of the student's exception class for "raised" and "import" (the child's
    word, printable, at most 100 characters), else "".
    """

    def __init__(self, kind: str, message: str, type: str = ""):
        super().__init__(message)
        self.kind = kind
        self.type = type


def error_from(error: dict) -> StudentCodeError:
    """The StudentCodeError of an error reply {"type", "where", "message", "line"}; every field
    is the child's word, so each is checked and cut."""
    def text_of(key: str, limit: int) -> str:
        value = error.get(key)
        return value[:limit] if type(value) is str else ""

    kind = {"import": "import", "return": "unsupported", "sandbox": "died"}.get(
        text_of("where", 20), "raised")
    name = printable(text_of("type", 100)) or "Exception"
    text = f"{name}: {text_of('message', 2000)}".strip()
    if text_of("line", 200):
        text += f" ({text_of('line', 200)})"
    if kind == "import":
        text = "your module could not be imported: " + text
    return StudentCodeError(kind, printable(text), name if kind in ("raised", "import") else "")


def in_call(error: StudentCodeError, where: str) -> StudentCodeError:
    """`error`, raised by the call `where` describes, as the student reads it: the call first,
    and what writing into a read-only input means when that is what failed."""
    return StudentCodeError(error.kind, f"{where}: {error}{_input_written(error)}", error.type)


def _input_written(error: StudentCodeError) -> str:
    """Calls pass arrays and dicts read-only, so writing into one fails in the student's code."""
    if (error.type == "ValueError" and "read-only" in str(error)) or (
            error.type == "TypeError" and "it must not be changed" in str(error)):
        return ("\n  your function modifies one of its inputs in place: functions must not change "
                "their inputs (work on a copy, or build a new array or dict)")
    return ""


def modified_inputs(where: str, names: list[str]) -> Mismatch:
    """The failure of a call that changed the inputs `names`."""
    names_text = ", ".join(printable(name)[:40] for name in names)
    return Mismatch(f"{where}: modified its input {names_text} in place\n  functions must not "
                    f"change their inputs: work on a copy, or build a new array or dict")


def failure_message(error: BaseException, question: str) -> str:
    """The student-facing text of a failed check: the check's own message, printable and cut,
    every hint line ending with the question the check grades."""
    if isinstance(error, (StudentCodeError, Mismatch)):
        text = str(error) or "failed"
    else:
        text = f"unexpected result ({type(error).__name__}: {error})"
    text = "\n".join(f"{line} (Q{question})" if line.lstrip().startswith("hint: ")
                     and "(Q" not in line else line for line in text.split("\n"))
    text = printable(text)   # messages quote student values: no terminal escapes
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " ..."
