"""Q3.1 — numerically stable softmax, log_softmax and logsumexp, against torch.

Bugs these checks catch, each named where it is caught:
- no max shift (exp overflows at 1e4: nan/inf, or a FloatingPointError under strict numpy);
- log(softmax(z)) for log_softmax (log of an underflowed 0 gives -inf at ±1e4);
- the wrong axis (normalising over axis 0, or ignoring `axis`);
- logsumexp keeping the axis, or forgetting to add the max back;
- log_softmax as log(softmax(z)) even with the max shift (log of an underflowed 0 at ±1e4);
- modifying the input in place (z -= z.max()).
"""
import functools

import numpy as np
import pytest
import torch

from autograder.checks import Mismatch, assert_close, assert_unchanged, case_rng
from autograder.isolation.sandbox import StudentCodeError

MODULE = "softmax"
FUNCTIONS = {
    "softmax": lambda z, axis: torch.softmax(z, dim=axis),
    "log_softmax": lambda z, axis: torch.log_softmax(z, dim=axis),
    "logsumexp": lambda z, axis: torch.logsumexp(z, dim=axis),
}


@functools.cache
def random_cases():
    """(z, axis) with moderate logits: shapes 1-D to 3-D, axes last, first and middle."""
    specs = [((7,), -1), ((4, 6), -1), ((4, 6), 0), ((3, 5, 4), 1), ((2, 3, 5), -1)]
    return [(case_rng("softmax.random", i).normal(0, 3, shape), axis)
            for i, (shape, axis) in enumerate(specs)]


@functools.cache
def extreme_cases():
    """Logits at ±1e4: one huge winner per row, a row of equal huge values, mixed signs."""
    rng = case_rng("softmax.extreme")
    big = rng.normal(0, 1, (4, 5))
    big[np.arange(4), rng.integers(0, 5, 4)] = 1e4
    return [
        (big, -1),
        (np.full((2, 3), -1e4), -1),
        (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]), -1),
        (np.array([1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4]), -1),
    ]


def reference(function: str, z: np.ndarray, axis: int) -> np.ndarray:
    return FUNCTIONS[function](torch.from_numpy(z), axis).numpy()


def mistakes_of(function: str, z: np.ndarray, axis: int) -> dict:
    """hint -> what a known mistaken formula gives on (z, axis); computed here, in the grader."""
    t = torch.from_numpy(z)
    lse = torch.logsumexp(t, dim=axis, keepdim=True).numpy()
    out = {}
    if function == "logsumexp":
        out["kept the reduced axis: logsumexp removes `axis` (keepdims=False), its result has "
            "z's shape without that axis (Q3.1)"] = lse
        out["log Σ exp(z − max) without adding the maximum back: logsumexp(z) = max + "
            "log Σ exp(z − max) (Q3.1)"] = (lse - z.max(axis=axis, keepdims=True)).squeeze(axis)
    return out


STRICT_HINTS = {
    "overflow": "exp overflows for large logits; subtract the maximum along the axis before "
                "exponentiating (Q3.1)",
    # divide (log of 0) or invalid (0/0, inf - inf): an exponential underflowed to 0 first
    "underflow": "an exponential underflowed to 0, then log(0) or 0/0 followed: subtract the "
                 "maximum along the axis before exponentiating, and never take log(softmax(z)): "
                 "log_softmax is (z − max) − logsumexp(z − max) (Q3.1)",
}


def naive(function: str, z: np.ndarray, axis: int) -> np.ndarray:
    """What the unshifted formula gives (for hints); computed here, in the grader."""
    with np.errstate(all="ignore"):
        e = np.exp(z)
        s = e.sum(axis=axis, keepdims=True)
        return {"softmax": e / s, "log_softmax": np.log(e / s),
                "logsumexp": np.log(s).squeeze(axis)}[function]


@pytest.mark.question("3.1", weight=1)
@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("case", range(5))
def test_matches_torch_on_random_logits(submission, function, case):
    z, axis = random_cases()[case]
    got = submission.call(MODULE, function, z, axis=axis)
    wrong_axis = 0 if axis != 0 else -1
    assert_close(got, reference(function, z, axis), check=f"{function}(z, axis={axis})",
                 inputs={"z": z}, mistakes={
                     f"{'reduced' if function == 'logsumexp' else 'normalised'} over axis "
                     f"{wrong_axis} instead of axis={axis} (Q3.1)":
                         reference(function, z, wrong_axis),
                     **mistakes_of(function, z, axis),
                 })


@pytest.mark.question("3.1", weight=2)
@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("case", range(4))
def test_exact_at_extreme_logits(submission, function, case):
    z, axis = extreme_cases()[case]
    check = f"{function}(z, axis={axis}) with logits at ±1e4, under np.errstate(all='raise')"
    try:
        got = submission.call_strict(MODULE, function, z, axis=axis)
    except StudentCodeError as error:
        if error.kind != "raised" or "FloatingPointError" not in str(error):
            raise
        cause = "overflow" if "overflow" in str(error) else "underflow"
        raise Mismatch(f"{check}: {error}\n  hint: {STRICT_HINTS[cause]}") from None
    with np.errstate(all="ignore"):
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        log_of_softmax = np.log(e / e.sum(axis=axis, keepdims=True))
    mistakes = {
        "exp overflowed: subtract the maximum along the axis before exponentiating (Q3.1)":
            naive(function, z, axis),
        **mistakes_of(function, z, axis),
    }
    if function == "log_softmax":
        mistakes[STRICT_HINTS["underflow"]] = log_of_softmax
    assert_close(got, reference(function, z, axis), check=check, inputs={"z": z},
                 mistakes=mistakes)


@pytest.mark.question("3.1", weight=1)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_input_not_modified(submission, function):
    z, axis = extreme_cases()[0]
    _, (z_after,), _ = submission.call_with_inputs(MODULE, function, z, axis=axis)
    assert_unchanged({"z": z}, {"z": z_after}, check=f"{function}(z, axis={axis})")
