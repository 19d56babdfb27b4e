"""Public checks for gan.py (Q5.3): the GAN losses against F.binary_cross_entropy_with_logits.

Run `pytest tests/test_gan.py` in your folder. Each check reads: seeded logits -> torch's loss
(and its gradient, by autograd) -> your loss, called through the grader's probe (which also
back-propagates through it) -> the grader's comparison, with its hint when your loss or its
gradient is what a known mistake gives (autograder/mistakes/gan.py). The grader's hidden tests
use other inputs, and more of them.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import assert_close, case_rng
from autograder.mistakes import gan as mistakes
from autograder.probes.generative import leaves_of
from autograder.suites.generative_checks import (assert_gradients, call_student_with_grads,
                                                 reference_of)

MODULE = "gan"
FUNCTIONS = ["discriminator_loss", "generator_loss_saturating", "generator_loss_nonsaturating"]
WEIGHT = 0.8     # L = WEIGHT * loss: a gradient off by a factor shows


def T(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


REFERENCES = {
    "discriminator_loss": lambda r, f: bce(r, 1.0) + bce(f, 0.0),
    "generator_loss_saturating": lambda f: -bce(f, 0.0),
    "generator_loss_nonsaturating": lambda f: bce(f, 1.0),
}


@functools.cache
def logits_of(case):
    """(real, fake): random logits of std 3 (fake 2-D); "extreme": ±100 on both sides;
    "rejected": D confidently rejects every fake (logits -30 .. -20)."""
    if case == "extreme":
        return T([100.0, -100.0, 2.0, 100.0]), T([[-100.0, 100.0, 0.3], [100.0, 100.0, -100.0]])
    if case == "rejected":
        return None, T(np.linspace(-30.0, -20.0, 8))
    rng = case_rng("public", "gan.logits")
    return T(rng.normal(0, 3, 7)), T(rng.normal(0, 3, (3, 2)))


def args_for(function, case) -> list:
    real, fake = logits_of(case)
    return [real, fake] if function == "discriminator_loss" else [fake]


def names_of(function) -> list:
    return ["real_logits", "fake_logits"] if function == "discriminator_loss" else ["fake_logits"]


@functools.cache
def loss_reference(function: str, case) -> dict:
    """torch's loss, the gradients of WEIGHT * loss w.r.t. every logit tensor, and the same for
    each mistaken formula."""
    args, leaves = leaves_of(args_for(function, case), range(len(names_of(function))))
    return reference_of(REFERENCES[function], getattr(mistakes, function), args, leaves,
                        [torch.tensor(WEIGHT, dtype=torch.float64)])


def check_value_and_gradients(submission, function, case, check):
    args = args_for(function, case)
    reply = call_student_with_grads(submission, MODULE, function, args, range(len(args)),
                                    [torch.tensor(WEIGHT, dtype=torch.float64)])
    expected, inputs = loss_reference(function, case), dict(zip(names_of(function), args))
    assert_close(reply["value"], expected["value"], check=check, inputs=inputs,
                 mistakes=expected["mistakes"])
    assert_gradients(reply, expected, names_of(function), inputs=inputs,
                     check=f"{check}, back-propagating {WEIGHT} * loss")


def signature(function) -> str:
    return f"{function}({', '.join(names_of(function))})"


@pytest.mark.question("5.3", weight=3)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_loss_values(submission, function):
    got = submission.call(MODULE, function, *args_for(function, 0))
    expected = loss_reference(function, 0)
    assert_close(got, expected["value"], check=signature(function),
                 inputs=dict(zip(names_of(function), args_for(function, 0))),
                 mistakes=expected["mistakes"])


@pytest.mark.question("5.3", weight=3)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_extreme_logits(submission, function):
    """At logits ±100 the loss is exact and finite, and so is its gradient."""
    check_value_and_gradients(submission, function, "extreme",
                              f"{signature(function)} with logits at ±100")


@pytest.mark.question("5.3", weight=1.5)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_gradients(submission, function):
    check_value_and_gradients(submission, function, 0, signature(function))


@pytest.mark.question("5.3", weight=2)
@pytest.mark.parametrize("function", ["generator_loss_saturating", "generator_loss_nonsaturating"])
def test_generator_gradient_when_fakes_rejected(submission, function):
    """Where D rejects every fake, the saturating loss's gradient vanishes (the generator
    learns nothing) and the non-saturating loss's does not: torch's values and gradients."""
    behaviour = ("its gradient vanishes" if function == "generator_loss_saturating"
                 else "its gradient stays about -1/n per logit")
    check_value_and_gradients(submission, function, "rejected",
                              f"{signature(function)} where D confidently rejects the fakes "
                              f"(logits -30 .. -20): {behaviour}")
