"""Probes for the training suites (run inside the sandboxed child).

A numpy Generator, a generator of minibatches, an optimiser's opaque state and a callable
activation cannot cross the boundary: these drivers build or consume them here, in the child,
and send back plain data only. They hold no reference value: they only call the student's code.
"""
from __future__ import annotations

import collections.abc
import copy
import inspect
import warnings

import numpy as np
import numpy.random  # noqa: F401  (lazy in numpy 2: the chrooted child could not import it)

from autograder.probes.base import call_checked, probe, same, student_function


@probe
def call_seeded(module: str, function: str, seed: int, *args, **kwargs) -> dict:
    """function(args[0], args[1], rng, *args[2:], **kwargs) with rng = default_rng(seed), third
    as in the contract's dropout, glorot_uniform and minibatches: {"value", "modified"} as
    call_checked gives them, the rng (which a call advances) not counted as an input."""
    student = student_function(module, function)
    rng = np.random.default_rng(seed)

    def with_rng(*args, **kwargs):
        return student(*args[:2], rng, *args[2:], **kwargs)

    try:   # name the inputs as the student's signature does, without its rng
        parameters = list(inspect.signature(student).parameters.values())
        with_rng.__signature__ = inspect.Signature(parameters[:2] + parameters[3:])
    except (TypeError, ValueError):
        pass
    return call_checked(with_rng, list(args), kwargs)


@probe
def call_raising_all(module: str, function: str, *args, **kwargs):
    """function(*args, **kwargs) with every numpy floating-point warning raised, underflow
    included: the sigmoid's contract promises none (call_strict lets underflow pass)."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return student_function(module, function)(*args, **kwargs)


@probe
def run_minibatches(module: str, function: str, seed: int, n: int, batch_size: int,
                    shuffle: bool, cap: int):
    """Materialise function(n, batch_size, default_rng(seed), shuffle) into a list of arrays.

    Returns {"iterator": whether the call returned an iterator, "type": the name of its type,
    "batches": at most `cap` of them as numpy arrays, "exhausted": False when more than `cap`
    batches were on offer}.
    """
    rng = np.random.default_rng(seed)
    result = student_function(module, function)(n, batch_size, rng, shuffle)
    is_iterator = isinstance(result, collections.abc.Iterator)
    batches, exhausted = [], True
    for count, batch in enumerate(iter(result)):
        if count >= cap:
            exhausted = False
            break
        array = np.asarray(batch)
        if array.dtype.hasobject:
            raise TypeError(f"batch {count} is not an array of numbers ({type(batch).__name__})")
        batches.append(array)
    return {"iterator": is_iterator, "type": type(result).__name__[:40], "batches": batches,
            "exhausted": exhausted}


@probe
def run_optimiser(module: str, function: str, params: dict, grads_seq: list, *args, **kwargs):
    """Call function(params, grads, state, *args, **kwargs) -> (params, state) once per grads.

    The state is None at the first call, then whatever the previous call returned; it never
    leaves the child. Per step the result holds:
    - "params": the new params (as returned),
    - "params_modified", "grads_modified": whether the call changed the dicts passed in,
    - "pure": whether two calls on (copies of) the same old state give the same params — False
      when the first call changed the state passed in (None when the state cannot be copied).
    """
    step = student_function(module, function)
    state = None
    trajectory = []
    for grads in grads_seq:
        params_before, grads_before = copy.deepcopy(params), copy.deepcopy(grads)
        try:
            spare, replay = copy.deepcopy(state), True
        except Exception:
            spare, replay = None, False
        out = step(params, grads, state, *args, **kwargs)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"{function} must return (params, state), got {type(out).__name__}")
        new_params, new_state = out
        record = {"params": copy.deepcopy(new_params),
                  "params_modified": not same(params_before, params),
                  "grads_modified": not same(grads_before, grads),
                  "pure": None}
        if replay:
            first, _ = step(copy.deepcopy(params_before), copy.deepcopy(grads_before), spare,
                            *args, **kwargs)
            second, _ = step(copy.deepcopy(params_before), copy.deepcopy(grads_before), spare,
                             *args, **kwargs)
            record["pure"] = _same_numbers(first, second)
        trajectory.append(record)
        params, state = new_params, new_state
    return trajectory


def _same_numbers(a, b) -> bool:
    try:
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            np.array_equal(np.asarray(a[k], dtype=np.float64), np.asarray(b[k], dtype=np.float64))
            for k in a)
    except (TypeError, ValueError):
        return False


_ACTIVATIONS = {
    "softsign": lambda a: a / (1.0 + np.abs(a)),
    "sin": np.sin,
}


@probe
def activation_stds_callable(module: str, function: str, x, weights, name: str):
    """function(x, weights, act) with `act` a Python callable built here from its name."""
    return student_function(module, function)(x, weights, _ACTIVATIONS[name])
