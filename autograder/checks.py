"""The one comparison API of the hidden suites and the public checks: every message has one form.

    <what was checked> on <input shapes and notable values>: <what went wrong>
      expected: <a few numbers>   got: <a few numbers>
      max abs error 3.1e-01, max rel error 1.0e+00 (tolerance: rel 1e-04, abs 1e-06)
      hint: <the misconception, when the student's result matches a known mistaken formula>

Values: assert_close (arrays, numbers, tensors), assert_dict_close (dicts of them),
assert_gradient (a gradient that may be missing), as_parts (a tuple of n results), as_array,
strict_result (numpy's floating-point errors as failures with a hint).
Bounds: assert_within (a statistic inside a derived interval). Anything else: assert_true.
A failure raises Mismatch; a hidden suite's own broken invariant raises SuiteError, which stops
grading instead of costing a student points (plugin.py).

A hint is added only when the student's result matches what a known mistaken formula gives on
the same input (`mistakes`: hint -> mistaken value), never because a particular check failed.
Hints name no question: the grader adds the question of the test ("(Q1.3)").

Tolerances accept a correct implementation that computes in float32 internally (relative error
about 1e-6 after a few hundred operations) and reject real bugs (relative errors near 1).
This module needs numpy only: the public checks ship it to students as it is.
"""
from __future__ import annotations

import zlib
from typing import Mapping

import numpy as np

RTOL = 1e-4
ATOL = 1e-6      # scaled by the largest expected magnitude when that is above 1


class Mismatch(AssertionError):
    """A graded check failed; the message is written for the student."""


class SuiteError(RuntimeError):
    """A hidden suite's own invariant broke (its generator, its reference): nobody can be graded
    fairly with it, so grading stops."""


def case_rng(*key) -> np.random.Generator:
    """A generator seeded from `key` (e.g. ("mlp.linear", 3)): same inputs on every run."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def describe_inputs(inputs: Mapping[str, object]) -> str:
    """'x (4, 3), W (5, 3), lr=0.1' — shapes of arrays, values of small things."""
    parts = []
    for name, value in inputs.items():
        shape = getattr(value, "shape", None)
        if shape is not None and len(shape) > 0:
            parts.append(f"{name} {tuple(shape)}")
        elif isinstance(value, dict):
            parts.append(f"{name} {{{', '.join(value)}}}")
        else:
            parts.append(f"{name}={_short(value)}")
    return ", ".join(parts)


def describe_call(function: str, args=(), kwargs: Mapping[str, object] = {}) -> str:
    """'linear(array (4, 3), array (5, 3), array (5,))': what a student function was called on,
    for the message of an exception it raised."""
    def one(value) -> str:
        shape = getattr(value, "shape", None)
        if shape is not None and len(shape) > 0:
            return f"{'tensor' if hasattr(value, 'detach') else 'array'} {tuple(shape)}"
        if isinstance(value, dict):
            return "{" + ", ".join(map(str, value)) + "}"
        if isinstance(value, (list, tuple)) and len(value) > 3:
            return f"{type(value).__name__} of {len(value)}"
        return _short(value)
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return f"{function}({', '.join(parts)})"


def _head(check: str, where: str) -> str:
    return f"{check} on {where}" if where else check


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _numbers(a: np.ndarray, n: int = 4) -> str:
    flat = np.asarray(a, dtype=np.float64).ravel()
    shown = ", ".join(f"{v:.6g}" for v in flat[:n])
    return f"[{shown}{', ...' if flat.size > n else ''}]" if np.ndim(a) else shown


def as_array(got, check: str, where: str) -> np.ndarray:
    """The student's result as a float64 array, or Mismatch if it is not numeric data."""
    if hasattr(got, "detach") and hasattr(got, "numpy"):   # a torch tensor
        got = got.detach().numpy()
    if isinstance(got, (bool, np.bool_)) or got is None or isinstance(got, (str, dict, tuple)):
        raise Mismatch(f"{_head(check, where)}: expected numbers, got {type(got).__name__} {_short(got)}")
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Mismatch(f"{_head(check, where)}: expected numbers, got {type(got).__name__}") from None
    return array


def assert_close(got, expected, *, check: str, inputs: Mapping[str, object],
                 rtol: float = RTOL, atol: float = ATOL,
                 mistakes: Mapping[str, object] = {}) -> None:
    """Fail with a student-readable message unless `got` matches `expected` elementwise.

    `expected` is computed by the grader (from torch). `mistakes` maps a hint (naming the
    misconception and the exam question) to what that mistaken formula returns on the same
    input; the hint of the formula `got` matches is added to the message (when several
    mistaken formulas give that same result on this input, all of their hints, joined by
    " — or: ", since the result alone cannot tell them apart).
    """
    where = describe_inputs(inputs)
    want = np.asarray(expected, dtype=np.float64)
    have = as_array(got, check, where)
    if have.shape != want.shape:
        raise Mismatch(f"{_head(check, where)}: expected shape {want.shape}, got shape {have.shape}"
                       + _hint(have, mistakes, rtol, atol))
    scale = max(1.0, float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0)))
    tolerance = atol * scale + rtol * np.abs(want)
    ok = _close(have, want, tolerance)
    if ok.all():
        return
    finite = np.isfinite(have) & np.isfinite(want)
    abs_err = np.abs(have - want)[finite]
    nonzero = want[finite] != 0     # a relative error means nothing where 0 is expected
    rel_err = abs_err[nonzero] / np.abs(want[finite][nonzero])
    bad = int((~ok).sum())
    what = "non-finite values" if not np.isfinite(have).all() and np.isfinite(want).all() else "values differ"
    message = (
        f"{_head(check, where)}: {what} ({bad} of {want.size} entries)\n"
        f"  expected: {_numbers(want)}   got: {_numbers(have)}\n"
        f"  max abs error {abs_err.max(initial=0):.2e}, max rel error "
        f"{f'{rel_err.max():.2e}' if rel_err.size else 'n/a (0 expected)'} "
        f"(tolerance: rel {rtol:.0e}, abs {atol * scale:.0e})"
    )
    raise Mismatch(message + _hint(have, mistakes, rtol, atol))


def _close(have: np.ndarray, want: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Elementwise closeness; an infinite or nan expectation must be matched exactly."""
    with np.errstate(invalid="ignore"):
        near = np.isfinite(want) & (np.abs(have - want) <= tolerance)
    same_special = (have == want) | (np.isnan(have) & np.isnan(want))
    return near | same_special


def matching_hints(got, mistakes, rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """The hints of `mistakes` (a mapping hint -> mistaken value, or a list of such pairs when
    one misconception has several formulas) whose mistaken value `got` matches (same shape,
    within tolerance; an infinite or nan mistaken value must be matched exactly)."""
    try:
        have = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        return []
    found = []
    for hint, wrong in (mistakes.items() if hasattr(mistakes, "items") else mistakes):
        if hasattr(wrong, "detach"):
            wrong = wrong.detach().numpy()
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape == have.shape and hint not in found:
            scale = max(1.0, float(np.max(np.abs(wrong[np.isfinite(wrong)]), initial=0.0)))
            if _close(have, wrong, atol * scale + rtol * np.abs(wrong)).all():
                found.append(hint)
    return found


def hint_line(hints: list[str]) -> str:
    """The message's hint line: one hint, or several mistakes that all give this result."""
    return f"\n  hint: {' — or: '.join(hints)}" if hints else ""


def _hint(have: np.ndarray, mistakes: Mapping[str, object], rtol: float, atol: float) -> str:
    return hint_line(matching_hints(have, mistakes, rtol, atol))


def assert_dict_close(got, expected: Mapping[str, object], *, check: str,
                      inputs: Mapping[str, object],
                      mistakes: Mapping[str, Mapping[str, object]] = {}) -> None:
    """Every key of `expected` present in the dict `got` and close to it.

    `mistakes` maps a hint to what the mistaken formula returns: a dict with some or all keys.
    The first wrong key is reported in full (with its hint), the other wrong keys are named.
    """
    where = describe_inputs(inputs)
    keys = ", ".join(expected)
    if not isinstance(got, dict):
        raise Mismatch(f"{_head(check, where)}: expected a dict with keys {keys}, "
                       f"got {type(got).__name__}")
    missing = [k for k in expected if k not in got]
    extra = [str(k) for k in got if k not in expected]
    if missing or extra:
        what = f"no key {', '.join(missing)}" if missing else f"extra keys {', '.join(extra)}"
        raise Mismatch(f"{_head(check, where)}: the result has {what} "
                       f"(expected keys {keys}, got {', '.join(map(str, got)) or 'none'})")
    failures = []
    for key in expected:
        try:
            assert_close(got[key], expected[key], check=f'{check}["{key}"]', inputs=inputs,
                         mistakes={hint: wrong[key] for hint, wrong in mistakes.items() if key in wrong})
        except Mismatch as error:
            failures.append((key, error))
    if failures:
        message = str(failures[0][1])
        if len(failures) > 1:
            message += "\n  also wrong: " + ", ".join(f'["{k}"]' for k, _ in failures[1:])
        raise Mismatch(message)


def assert_true(condition: bool, message: str) -> None:
    """Fail with `message` (same form as above) unless `condition` holds."""
    if not condition:
        raise Mismatch(message)


def strict_result(call, *, check: str, hints: Mapping[str, str]):
    """`call()` (a submission.call_strict), with a FloatingPointError the student's code raised
    turned into a Mismatch whose hint names the likely cause of that kind of error: `hints` maps
    "overflow", "divide" and "invalid" to a hint (a kind without one gets no hint)."""
    try:
        return call()
    except Exception as error:   # noqa: BLE001 - only the student's FloatingPointError is ours
        if getattr(error, "type", type(error).__name__) != "FloatingPointError":
            raise
        # numpy's words: "overflow encountered", "divide by zero encountered", "invalid value
        # encountered in divide" (an invalid value first: its text may name the divide)
        words = {"invalid": "invalid value", "divide": "divide by zero", "overflow": "overflow"}
        kind = next((k for k, text in words.items() if text in str(error)), "")
        raise Mismatch(f"{check}: {error}" + hint_line([hints[kind]] if kind in hints else [])
                       ) from None


def assert_within(value: float, low: float, high: float, *, check: str,
                  inputs: Mapping[str, object], what: str) -> None:
    """A statistic of the student's result inside [low, high], an interval derived in the
    test's docstring (a correct implementation falls outside with probability <= 1e-9)."""
    if not (low <= value <= high):   # a nan is outside too
        raise Mismatch(f"{_head(check, describe_inputs(inputs))}: {what} is {value:.6g}, "
                       f"outside [{low:.6g}, {high:.6g}]")


def as_parts(got, n: int, check: str) -> list:
    """The student's result as a list of `n` parts (a tuple or list of that length)."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        length = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise Mismatch(f"{check}: expected a tuple of {n} results, got "
                       f"{type(got).__name__}{length}")
    return list(got)


def assert_gradient(got, expected, *, name: str, check: str, inputs: Mapping[str, object],
                    mistakes: Mapping[str, object] = {}, where=None) -> None:
    """A gradient w.r.t. `name` (None when none reached it) against the expected one; `where`
    (a bool mask of expected's shape) restricts the comparison to some entries."""
    if got is None:
        raise Mismatch(f"{check}: no gradient reached {name} (got None); expected "
                       f"{_numbers(np.asarray(expected, dtype=np.float64))}")
    have = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    if where is not None and have.shape == want.shape:
        have, want = have[where], want[where]
        mistakes = {hint: np.asarray(value)[where] for hint, value in mistakes.items()
                    if np.shape(value) == where.shape}
    assert_close(have, want, check=f"{check}: gradient w.r.t. {name}", inputs=inputs,
                 mistakes=mistakes)
