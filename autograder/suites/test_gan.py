"""Q5.3 — GAN losses from logits, against F.binary_cross_entropy_with_logits (torch, float64).

References, computed here:
    discriminator_loss(r, f)          = BCEwithlogits(r, 1) + BCEwithlogits(f, 0)
    generator_loss_saturating(f)      = -BCEwithlogits(f, 0)   (= mean log(1 - sigmoid(f)))
    generator_loss_nonsaturating(f)   =  BCEwithlogits(f, 1)   (= -mean log sigmoid(f))
each a mean over all entries. Gradients of the student's losses come from the probe
`call_with_grads` (autograder/probes/generative.py), which runs autograd in the child on fresh
leaf tensors; the references and the gradients of each known mistake are torch's autograd here,
on the same weighted loss. Every test that looks at a gradient first compares the same call's
value: a gradient (vanishing or not) pays only with the loss right.

Hints come from autograder/mistakes/gan.py: the student's loss (or its gradient) equals what
that mistaken formula gives on the same logits. Naive -log(sigmoid(l)) in the non-saturating
loss is exact in float64 at l = -100 (sigmoid(-100) = 3.7e-44 does not underflow) and within the
contract's ±100, so it is not graded as a bug.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import assert_close, case_rng
from autograder.mistakes import gan as mistakes
from autograder.probes.generative import leaves_of
from autograder.references import reference
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

RANDOM_SHAPES = [((8,), (6,)), ((4, 3), (5, 1)), ((1,), (2, 2, 2))]


@functools.cache
def logits_of(case):
    """(real, fake) logits: random cases of different shapes and sizes spread N(0, 3);
    "extreme": ±100 on both sides (sigmoid rounds to exactly 0 or 1), a few moderate ones;
    "rejected": D confidently rejects every fake, logits -30 .. -20 (sigmoid 1e-13 .. 2e-9)."""
    if case == "extreme":
        rng = case_rng("gan.extreme")
        real = rng.choice([-100.0, 100.0], 6)
        fake = rng.choice([-100.0, 100.0], (2, 4))
        real[:2] = [-100.0, 100.0]
        fake[0, :3] = [100.0, -100.0, 0.7]
        return T(real), T(fake)
    if case == "rejected":
        return None, T(case_rng("gan.rejected").uniform(-30, -20, 10))
    real_shape, fake_shape = RANDOM_SHAPES[case]
    rng = case_rng("gan.random", case)
    return T(rng.normal(0, 3, real_shape)), T(rng.normal(0, 3, fake_shape))


def args_for(function, case) -> list:
    real, fake = logits_of(case)
    return [real, fake] if function == "discriminator_loss" else [fake]


def names_of(function) -> list:
    return ["real_logits", "fake_logits"] if function == "discriminator_loss" else ["fake_logits"]


@reference
def loss_reference(function: str, case) -> dict:
    """torch's loss, its gradients w.r.t. every logit tensor of WEIGHT * loss, and the same for
    each mistaken formula of mistakes/gan.py."""
    args, leaves = leaves_of(args_for(function, case), range(len(names_of(function))))
    return reference_of(REFERENCES[function], getattr(mistakes, function), args, leaves,
                        [torch.tensor(WEIGHT, dtype=torch.float64)])


def check_value(got, function, case, check):
    ref = loss_reference(function, case)
    args = args_for(function, case)
    assert_close(got, ref["value"], check=check, inputs=dict(zip(names_of(function), args)),
                 mistakes=ref["mistakes"])


def check_value_and_gradients(submission, function, case, check):
    """One call through call_with_grads: the loss, then its gradients, against torch's."""
    args = args_for(function, case)
    reply = call_student_with_grads(submission, MODULE, function, args, range(len(args)),
                                    [torch.tensor(WEIGHT, dtype=torch.float64)])
    check_value(reply["value"], function, case, check)
    assert_gradients(reply, loss_reference(function, case), names_of(function),
                     check=f"{check}, back-propagating {WEIGHT} * loss",
                     inputs=dict(zip(names_of(function), args)))


def signature(function) -> str:
    return f"{function}({', '.join(names_of(function))})"


@pytest.mark.question("5.3", weight=3)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("case", range(len(RANDOM_SHAPES)))
def test_loss_values(submission, function, case):
    """Each loss on random logits of several shapes (real and fake of different sizes) equals
    the BCE-with-logits formula. Fails: swapped labels (both, or one side), a sign error, sums
    instead of means (over everything, or per example then averaged), one joint mean of real
    and fake, the two terms averaged, a term missing, per-logit losses returned, the
    saturating and non-saturating losses exchanged, log sigmoid for log(1 - sigmoid), D's loss
    on the fakes as the generator's."""
    got = submission.call(MODULE, function, *args_for(function, case))
    check_value(got, function, case, signature(function))


@pytest.mark.question("5.3", weight=3)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_extreme_logits(submission, function):
    """At logits ±100 the loss is exact and finite and so is its gradient (torch's). Fails:
    log(sigmoid(l)) or log(1 - sigmoid(l)) (an infinite loss at ±100, nan gradients),
    probabilities clamped before the log (log(1e-7) = -16 instead of -100), a loss through
    F.binary_cross_entropy on sigmoid(l) (right value, zero gradient at ±100), and the mistakes
    of test_loss_values."""
    check_value_and_gradients(submission, function, "extreme",
                              f"{signature(function)} with logits at ±100")


@pytest.mark.question("5.3", weight=1.5)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("case", [0, 1])
def test_gradients(submission, function, case):
    """The loss and the gradient of 0.8 * loss w.r.t. each logit tensor equal torch's (e.g.
    0.8 (sigmoid(r) - 1) / n_real for D's real logits). Fails: a loss cut from the graph
    (.item(), numpy, detach), and the mistakes of test_loss_values."""
    check_value_and_gradients(submission, function, case, signature(function))


@pytest.mark.question("5.3", weight=2)
@pytest.mark.parametrize("function", ["generator_loss_saturating", "generator_loss_nonsaturating"])
def test_generator_gradient_when_fakes_rejected(submission, function):
    """D rejects every fake (logits -30 .. -20). The saturating loss's gradient vanishes there
    (0.8 sigmoid(l) / n < 2e-9 per logit): the generator learns nothing. The non-saturating
    loss's does not (about -0.8 / n per logit). The loss itself must match first, so a constant
    or a loss cut from the graph earns nothing. Fails: one loss written as the other, a loss
    cut from the graph, and the mistakes of test_loss_values."""
    behaviour = ("its gradient vanishes" if function == "generator_loss_saturating"
                 else "its gradient stays about -1/n per logit")
    check_value_and_gradients(submission, function, "rejected",
                              f"{signature(function)} where D confidently rejects the fakes "
                              f"(logits -30 .. -20): {behaviour}")
