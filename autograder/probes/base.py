"""Probe registry and the generic probes: trusted drivers that run inside a sandboxed child.

A probe receives plain data from a hidden test, drives the student's module, and returns plain
data. It runs in the child, so it must not hold a reference value or a secret: it only calls.
"""
from __future__ import annotations

import importlib

PROBES: dict = {}


class ImportFailed(Exception):
    """The student's module raised while being imported (the cause says what)."""

    def __init__(self, module: str, cause: BaseException):
        super().__init__(f"{module}.py: {type(cause).__name__}: {cause}")
        self.cause = cause


def probe(function):
    """Register `function` under its name so a hidden test can run it in the child."""
    PROBES[function.__name__] = function
    return function


def student_module(name: str):
    """Import the student's module `name` (from the child's submission folder)."""
    try:
        return importlib.import_module(name)
    except BaseException as error:
        raise ImportFailed(name, error) from error


def student_function(module: str, function: str):
    found = getattr(student_module(module), function, None)
    if not callable(found):
        raise AttributeError(f"{module}.py has no function {function}()")
    return found


@probe
def import_module(module: str) -> None:
    """Import the student's module, alone: the grader learns whether importing it works."""
    student_module(module)


@probe
def call(module: str, function: str, *args, **kwargs):
    """The result of module.function(*args, **kwargs)."""
    return student_function(module, function)(*args, **kwargs)


@probe
def call_with_inputs(module: str, function: str, *args, **kwargs):
    """[result, args, kwargs] after the call, so the grader can see whether inputs changed."""
    result = student_function(module, function)(*args, **kwargs)
    return [result, list(args), kwargs]


@probe
def call_strict(module: str, function: str, *args, **kwargs):
    """Like `call`, but overflow, invalid and divide-by-zero raise (underflow is fine)."""
    import warnings

    import numpy as np

    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            return student_function(module, function)(*args, **kwargs)
