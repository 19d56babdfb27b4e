"""Probe registry and the generic probes: trusted drivers that run inside a sandboxed child.

A probe receives plain data from a hidden test, drives the student's module, and returns plain
data. It runs in the child, so it must not hold a reference value or a secret: it only calls.
What a probe measures in the child (that inputs were left unchanged, say) is the student's
process's word: the grader lets such a finding cost points, never earn them.
"""
from __future__ import annotations

import copy
import importlib
import inspect

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


def call_checked(function, args: list, kwargs: dict) -> dict:
    """{"value": function(*args, **kwargs), "modified": the names of the inputs it changed}.

    Arrays and dicts are passed read-only (see `read_only`): writing into one fails in the
    student's own code. What remains (lists, tensors) is copied before the call and compared
    after it; a name is the parameter's name in the student's signature when the call binds to
    it ("x", "params"), else its position."""
    args, kwargs = read_only(args), read_only(kwargs)
    before = copy.deepcopy((args, kwargs))
    value = writable_dicts(function(*args, **kwargs))   # returning an input is allowed
    names = _parameter_names(function, len(args))
    modified = [names[i] for i, (old, new) in enumerate(zip(before[0], args)) if not same(old, new)]
    modified += [k for k in kwargs if not same(before[1][k], kwargs[k])]
    return {"value": value, "modified": modified}


class ReadOnlyDict(dict):
    """A dict that refuses to be changed; its copies (copy, deepcopy, dict(d), {**d}) are
    ordinary dicts the student may change at will."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("this dict is an input of your function: it must not be changed "
                        "(build a new dict)")

    __setitem__ = __delitem__ = __ior__ = update = pop = popitem = clear = setdefault = _refuse

    def copy(self):
        return dict(self)

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}


def writable_dicts(value):
    """`value` with every ReadOnlyDict in it an ordinary dict (what crosses the boundary)."""
    if isinstance(value, ReadOnlyDict):
        return {key: writable_dicts(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(writable_dicts(item) for item in value)
    return value


def read_only(value):
    """`value` with every numpy array in it a view of immutable bytes (its WRITEABLE flag cannot
    be set again) and every dict a ReadOnlyDict; lists and tuples keep their type."""
    import numpy as np

    if type(value) is np.ndarray and not value.dtype.hasobject:
        return np.frombuffer(value.tobytes(), dtype=value.dtype).reshape(value.shape)
    if isinstance(value, dict) and type(value) in (dict, ReadOnlyDict):
        return ReadOnlyDict({key: read_only(item) for key, item in value.items()})
    if type(value) in (list, tuple):
        return type(value)(read_only(item) for item in value)
    return value


def _parameter_names(function, n: int) -> list[str]:
    try:
        positional = [p.name for p in inspect.signature(function).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        positional = []
    return [positional[i] if i < len(positional) else f"argument {i + 1}" for i in range(n)]


def same(a, b) -> bool:
    """Whether b still holds what a held: arrays, tensors (their autograd state too: a .grad set
    on the caller's tensor, or requires_grad switched, changes it), dicts, lists, tuples,
    numbers."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same, a, b))
    if hasattr(a, "detach"):    # a torch tensor (only Part 5 children have torch)
        return (hasattr(b, "detach") and a.shape == b.shape and bool(
            (a.detach() == b.detach()).logical_or(a.isnan() & b.isnan()).all())
            and a.requires_grad == b.requires_grad and (a.grad is None) == (b.grad is None))
    import numpy as np

    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return type(a) is type(b) and (a == b or (a != a and b != b))


@probe
def call(module: str, function: str, *args, **kwargs) -> dict:
    """module.function(*args, **kwargs), with the inputs it modified (see call_checked)."""
    return call_checked(student_function(module, function), list(args), kwargs)


@probe
def call_strict(module: str, function: str, *args, **kwargs) -> dict:
    """Like `call`, but overflow, invalid and divide-by-zero raise (underflow is fine)."""
    import warnings

    import numpy as np

    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            return call_checked(student_function(module, function), list(args), kwargs)


@probe
def call_seeded(module: str, function: str, seed: int, *args, **kwargs) -> dict:
    """function(args[0], args[1], rng, *args[2:], **kwargs) with rng = default_rng(seed), third
    as in the contract's dropout, glorot_uniform and minibatches: {"value", "modified"} as
    call_checked gives them, the rng (which a call advances) not counted as an input."""
    import numpy.random

    student = student_function(module, function)
    rng = numpy.random.default_rng(seed)

    def with_rng(*args, **kwargs):
        return student(*args[:2], rng, *args[2:], **kwargs)

    try:   # name the inputs as the student's signature does, without its rng
        parameters = list(inspect.signature(student).parameters.values())
        with_rng.__signature__ = inspect.Signature(parameters[:2] + parameters[3:])
    except (TypeError, ValueError):
        pass
    return call_checked(with_rng, list(args), kwargs)
