"""Probes for the training suites (run inside the sandboxed child).

A numpy Generator, a generator of minibatches, an optimiser's opaque state and a callable
activation cannot cross the boundary: these drivers build or consume them here, in the child,
and send back plain data only. They hold no reference value: they only call the student's code.
"""
from __future__ import annotations

import collections.abc
import copy

import numpy as np
import numpy.random  # noqa: F401  (numpy 2 imports it lazily)

from autograder.probes.base import probe, read_only, same, student_function


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
    leaves the child. params and grads are passed read-only (base.read_only): an update written
    into them fails in the student's code. Per step the result holds:
    - "params": the new params (as returned),
    - "params_modified", "grads_modified": whether the call changed the dicts passed in,
    - "pure": whether two calls on (copies of) the same old state give the same params — False
      when the first call changed the state passed in (None when the state cannot be copied).
    """
    step = student_function(module, function)
    state = None
    trajectory = []
    for grads in grads_seq:
        params, grads = read_only(params), read_only(grads)
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
