"""The process that runs your Parts 1-4 modules for the public checks, as the grader runs them.

The grader runs each numpy-only module in a process of its own where `import torch` gives a
stand-in (autograder/isolation/torch_stub/): importing torch works, so an unused import costs
nothing, but using it raises TorchNotAllowed and the check fails. The public checks start this
script the same way:

    python runner.py STUB_FOLDER YOUR_FOLDER TESTS_FOLDER

(STUB_FOLDER is empty when the course lets parts 1-4 use torch). It answers one request per
line on stdin, {"probe": name, "args": [...], "kwargs": {...}}, with one line on stdout,
{"ok": value} or {"error": {"type", "where", "message", "line"}}, in the grader's own format
(autograder/isolation/codec.py: numbers, strings, lists, tuples, dicts, numpy arrays). The
probes are the grader's (autograder/probes/: base.py calls your function with its arrays and
dicts read-only and compares the other inputs after the call, with a seeded rng where the
function samples; training.py collects minibatches and runs optimiser steps) and the public
checks' own (tests/drivers.py: graphs of your Var). Between questions your modules are
imported anew ("forget"), as each question gets a fresh process in the grader. What your code
prints goes to stderr: pytest shows it under the check.
"""
import importlib
import json
import os
import sys
import traceback


def describe(error: BaseException, student_folder: str) -> dict:
    """What went wrong, as the grader's child describes it: the exception's class and message,
    and the last line of your code it went through."""
    from autograder.probes.base import ImportFailed

    where = "call"
    if isinstance(error, ImportFailed):
        where, error = "import", error.cause
    frames = traceback.extract_tb(error.__traceback__)
    yours = [f for f in frames if os.path.dirname(os.path.abspath(f.filename)) == student_folder]
    line = f"{os.path.basename(yours[-1].filename)}, line {yours[-1].lineno}" if yours else ""
    try:
        message = str(error)[:2000]
    except Exception:
        message = "<unprintable exception>"
    return {"type": type(error).__name__, "where": where, "message": message, "line": line}


def forget(student_folder: str) -> None:
    """Drop your modules from sys.modules: the next check imports them anew, as the grader's
    fresh process for each question does (without paying a new process)."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path and os.path.dirname(os.path.abspath(path)) == student_folder:
            del sys.modules[name]


def serve(student_folder: str, tests_folder: str) -> None:
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)   # your code reads nothing, as in the grader
    os.dup2(2, 1)                                   # and what it prints goes to stderr
    sys.stdin, sys.stdout = open(os.devnull), sys.stderr
    codec = importlib.import_module("autograder.isolation.codec")
    probes = importlib.import_module("autograder.probes.base")
    importlib.import_module("autograder.probes.training")
    sys.path.insert(0, tests_folder)
    importlib.import_module("drivers")
    sys.path.remove(tests_folder)
    probes.PROBES["forget"] = lambda: forget(student_folder)
    for line in requests:
        try:
            request = codec.decode_value(json.loads(line))
            value = probes.PROBES[request["probe"]](*request["args"], **request["kwargs"])
            reply = codec.encode_value({"ok": value})
        except codec.UnsupportedType as error:
            reply = codec.encode_value({"error": {
                "type": "UnsupportedType", "where": "return",
                "message": f"unsupported return type: {error}", "line": ""}})
        except BaseException as error:  # SystemExit and KeyboardInterrupt from your code too
            reply = codec.encode_value({"error": describe(error, student_folder)})
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()


if __name__ == "__main__":
    stub, student, tests = sys.argv[1:4]
    # sys.path[0] is this script's folder (support/, which holds autograder/): the stand-in for
    # torch and your folder go first, support/ after them
    support = sys.path[0]
    sys.path[0:1] = ([stub] if stub else []) + [os.path.abspath(student), support]
    serve(os.path.abspath(student), os.path.abspath(tests))
