"""Q3.1 — numerically stable softmax, log_softmax and logsumexp, against torch.

Every test reads: seeded inputs -> the torch reference (@reference) -> the student's result
(submission.call, which also fails a call that modifies z) -> checks.* with the hints of
autograder/mistakes/softmax.py, each shown only when the student's result matches that
mistake's value.

Bugs these checks catch, each named where it is caught:
- no max shift (exp overflows at 1e4: nan/inf, or a FloatingPointError under strict numpy);
  one shift for the whole array (a slice far below it underflows entirely);
- log(softmax(z)) for log_softmax (log of an underflowed 0 gives -inf at ±1e4);
- the wrong axis (normalising over axis 0, or ignoring `axis`), the whole array;
- logsumexp keeping the axis, forgetting to add the max back, the max alone, a mean of the
  exponentials;
- softmax not normalised or returning its log, log_softmax without the logsumexp, its sign, or
  returning the softmax; a sum without keepdims broadcast along the wrong axis;
- modifying the input in place (z -= z.max()).
"""
import functools

import numpy as np
import pytest
import torch

from autograder.checks import assert_close, case_rng, strict_result
from autograder.mistakes import softmax as mistakes
from autograder.references import reference

MODULE = "softmax"
FUNCTIONS = {
    "softmax": lambda z, axis: torch.softmax(z, dim=axis),
    "log_softmax": lambda z, axis: torch.log_softmax(z, dim=axis),
    "logsumexp": lambda z, axis: torch.logsumexp(z, dim=axis),
}


@functools.cache
def logits(kind: str, case: int):
    """(z, axis). "random": logits of std 3, shapes 1-D to 3-D, axes last, first and middle.
    "extreme": logits at ±1e4 — one huge winner per row, a row of equal huge negative values,
    mixed signs, 1-D."""
    if kind == "random":
        shape, axis = [((7,), -1), ((4, 6), -1), ((4, 6), 0), ((3, 5, 4), 1), ((2, 3, 5), -1)][case]
        return case_rng("softmax.random", case).normal(0, 3, shape), axis
    if case == 0:
        rng = case_rng("softmax.extreme")
        big = rng.normal(0, 1, (4, 5))
        big[np.arange(4), rng.integers(0, 5, 4)] = 1e4
        return big, -1
    return [np.full((2, 3), -1e4),
            np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]),
            np.array([1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4])][case - 1], -1


@reference
def softmax_reference(function: str, kind: str, case: int):
    """(torch's softmax, log_softmax or logsumexp of the logits, the values of its mistakes)."""
    z, axis = logits(kind, case)
    expected = FUNCTIONS[function](torch.from_numpy(z), axis).numpy()
    return expected, getattr(mistakes, function)(z, axis, expected)


@pytest.mark.question("3.1", weight=1)
@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("case", range(5))
def test_matches_torch_on_random_logits(submission, function, case):
    """Each function = torch's along `axis` (last, first, middle). Fails: another axis or the
    whole array, logsumexp's axis kept / max not added back / max alone / a mean, softmax not
    normalised, log_softmax without the logsumexp, the sign, a sum without keepdims."""
    z, axis = logits("random", case)
    expected, wrong = softmax_reference(function, "random", case)
    got = submission.call(MODULE, function, z, axis=axis)
    assert_close(got, expected, check=f"{function}(z, axis={axis})", inputs={"z": z},
                 mistakes=wrong)


@pytest.mark.question("3.1", weight=2)
@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("case", range(4))
def test_exact_at_extreme_logits(submission, function, case):
    """Exact at ±1e4 with no overflow, invalid or divide warning (the module's promise). Fails:
    no max shift (overflow), log(softmax(z)) (log of 0), one shift for the whole array."""
    z, axis = logits("extreme", case)
    expected, wrong = softmax_reference(function, "extreme", case)
    check = f"{function}(z, axis={axis}) with logits at ±1e4, under np.errstate(all='raise')"
    got = strict_result(lambda: submission.call_strict(MODULE, function, z, axis=axis),
                        check=check, hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"z": z}, mistakes=wrong)
