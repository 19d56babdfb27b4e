"""Public checks for softmax.py (Q3.1): softmax, log_softmax and logsumexp against torch.

Run `pytest tests/test_softmax.py` in your folder. Each check reads: seeded inputs -> the torch
reference -> your result (run as the grader runs it) -> the grader's comparison, with its hint
when your result is what a known mistake gives (autograder/mistakes/softmax.py). The grader's
hidden tests use other inputs, and more of them.
"""
import functools

import numpy as np
import pytest
import torch

from autograder.checks import assert_close, case_rng, strict_result
from autograder.mistakes import softmax as mistakes

MODULE = "softmax"
FUNCTIONS = {
    "softmax": lambda z, axis: torch.softmax(z, dim=axis),
    "log_softmax": lambda z, axis: torch.log_softmax(z, dim=axis),
    "logsumexp": lambda z, axis: torch.logsumexp(z, dim=axis),
}
RANDOM = [((5, 5), -1), ((3, 4), 0), ((2, 4, 3), 1)]   # (shape, axis): last, first, middle


@functools.cache
def softmax_case(function: str, kind: str, case: int):
    """((z, axis), torch's value, the values of its known mistakes). "random": logits of std 3;
    "extreme": logits at ±1e4 (a huge winner per row and a row far below it)."""
    if kind == "random":
        shape, axis = RANDOM[case]
        z = case_rng("public", "softmax", case).normal(0, 3, shape)
    else:
        z, axis = np.array([[1e4, 0.5, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 3.0]]), -1
    expected = FUNCTIONS[function](torch.from_numpy(z), axis).numpy()
    return (z, axis), expected, getattr(mistakes, function)(z, axis, expected)


@pytest.mark.question("3.1")
@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("case", range(len(RANDOM)))
def test_matches_torch(submission, function, case):
    (z, axis), expected, wrong = softmax_case(function, "random", case)
    got = submission.call(MODULE, function, z, axis=axis)
    assert_close(got, expected, check=f"{function}(z, axis={axis})", inputs={"z": z},
                 mistakes=wrong)


@pytest.mark.question("3.1", weight=2)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_exact_at_extreme_logits(submission, function):
    (z, axis), expected, wrong = softmax_case(function, "extreme", 0)
    check = f"{function}(z, axis={axis}) with logits at ±1e4, under np.errstate(all='raise')"
    got = strict_result(lambda: submission.call_strict(MODULE, function, z, axis=axis),
                        check=check, hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"z": z}, mistakes=wrong)
