"""Putting stand-ins in place of student functions, in the child (see autograder/standins.py).

A child receives the sources of the stand-ins its question may use at spawn (`compiled` turns
them into functions); every probe call then runs inside `installed`, which replaces those
functions wherever the student bound them and puts the student's back afterwards. A stand-in
is used only for a call the contract's signature accepts: a call with arguments of the
student's own invention goes to the student's own function.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from typing import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def compiled(sources: dict[str, str]) -> dict[str, Callable]:
    """{"module.function": source} -> {"module.function": the function}."""
    found = {}
    for name, source in sources.items():
        namespace = {"np": np, "sliding_window_view": sliding_window_view}
        exec(compile(source, f"<stand-in {name}>", "exec"), namespace)
        found[name] = namespace[name.split(".")[1]]
    return found


class Calls:
    """The stand-ins that were called during one probe call (reported to the grader)."""

    def __init__(self):
        self.used: list[str] = []

    def note(self, name: str) -> None:
        if name not in self.used:
            self.used.append(name)


def _wrapper(name: str, stand_in: Callable, own: Callable, calls: Calls) -> Callable:
    signature = inspect.signature(stand_in)

    @functools.wraps(own)
    def call(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError:   # the student's own extension of the contract: their own function
            return own(*args, **kwargs)
        calls.note(name)
        return stand_in(*args, **kwargs)

    return call


@contextlib.contextmanager
def installed(stand_ins: dict[str, Callable], student_dir: str) -> Iterator[Calls]:
    """Replace, in every student module already imported (from the folder `student_dir`), each
    function of `stand_ins` (wherever the student bound it: `mlp.linear`, or `linear` imported
    into training.py) by a wrapper that runs its stand-in; everything is put back on exit."""
    calls = Calls()
    modules = [m for m in list(sys.modules.values())
               if isinstance(getattr(m, "__file__", None), str)
               and os.path.dirname(os.path.abspath(m.__file__)) == student_dir]
    owners = {m.__name__: m for m in modules}
    replaced = []
    for name, stand_in in stand_ins.items():
        module_name, function = name.split(".")
        owner = owners.get(module_name)
        own = getattr(owner, function, None) if owner is not None else None
        if not callable(own):
            continue
        wrapper = _wrapper(name, stand_in, own, calls)
        for module in modules:
            for attribute, value in list(vars(module).items()):
                if value is own:
                    replaced.append((module, attribute, value))
                    setattr(module, attribute, wrapper)
    try:
        yield calls
    finally:
        for module, attribute, value in reversed(replaced):
            setattr(module, attribute, value)
