"""Q5.3 — GAN losses from logits, against F.binary_cross_entropy_with_logits (torch, float64).

References, computed here:
    discriminator_loss(r, f)          = BCEwithlogits(r, 1) + BCEwithlogits(f, 0)
    generator_loss_saturating(f)      = -BCEwithlogits(f, 0)   (= mean log(1 - sigmoid(f)))
    generator_loss_nonsaturating(f)   =  BCEwithlogits(f, 1)   (= -mean log sigmoid(f))
each a mean over all entries. Gradients of the student's losses come from the probe
`call_with_grads` (autograder/probes/generative.py), which runs autograd in the child on fresh
leaf tensors; the references are torch's autograd here.

Bugs these checks catch, each named where it is caught (hints name them too):
- discriminator_loss: swapped labels (real -> 0, fake -> 1), a sign error, sums instead of means,
  one mean over real and fake together, the two terms averaged; naive log(1 - sigmoid(fake))
  (inf at fake logits +100, nan gradient); clamped probabilities (zero gradient at ±100);
- generator_loss_saturating: written as the non-saturating loss (its gradient then does not
  vanish where D rejects the fakes), the sign, a sum; naive log(1 - sigmoid) (-inf at +100);
- generator_loss_nonsaturating: written as the saturating loss (its gradient then vanishes at
  fake logits -20 .. -30), the sign, D's loss on fakes -mean log(1 - sigmoid) instead, a sum;
- any loss: a result cut from the graph (.item(), numpy, detach), inputs modified in place.
Naive -log(sigmoid(l)) in the non-saturating loss is exact in float64 at l = -100 (sigmoid(-100)
= 3.7e-44 does not underflow) and within the contract's ±100, so it is not graded as a bug.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import (Mismatch, as_array, assert_close, assert_unchanged, case_rng,
                               describe_inputs)

MODULE = "gan"
FUNCTIONS = ["discriminator_loss", "generator_loss_saturating", "generator_loss_nonsaturating"]


def T(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


REFERENCES = {
    "discriminator_loss": lambda r, f: bce(r, 1.0) + bce(f, 0.0),
    "generator_loss_saturating": lambda f: -bce(f, 0.0),
    "generator_loss_nonsaturating": lambda f: bce(f, 1.0),
}


PROBABILITY_BCE = ("the loss went through probabilities (sigmoid, then a clamped log or "
                   "F.binary_cross_entropy): its gradient is 0 once sigmoid rounds to 0 or 1; "
                   "work with logits, F.logsigmoid or F.binary_cross_entropy_with_logits (Q5.3)")


def prob_bce(logits, target: float):
    """BCE computed on sigmoid(logits): torch clamps its log at -100, so the value is right at
    ±100 but the gradient is 0 there."""
    return F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, target))


def mistakes(function, *args):
    """What known mistaken formulas return on the same logits (for hints)."""
    if function == "discriminator_loss":
        r, f = args
        both = torch.cat([r.reshape(-1), f.reshape(-1)])
        targets = torch.cat([torch.ones(r.numel()), torch.zeros(f.numel())]).to(r.dtype)
        return {
            "swapped labels: real examples are labelled 1 and generated ones 0 (Q5.3)":
                bce(r, 0.0) + bce(f, 1.0),
            "sign error: the loss is -mean log sigmoid(real) - mean log(1 - sigmoid(fake)), "
            "which is >= 0 (Q5.3)": -(bce(r, 1.0) + bce(f, 0.0)),
            "summed instead of averaged: each term is a mean over its logits (Q5.3)":
                bce(r, 1.0) * r.numel() + bce(f, 0.0) * f.numel(),
            "one mean over real and fake logits together: the loss is the SUM of the two means "
            "(Q5.3)": F.binary_cross_entropy_with_logits(both, targets),
            "averaged the two terms: the loss is their sum (Q5.3)":
                (bce(r, 1.0) + bce(f, 0.0)) / 2,
            PROBABILITY_BCE: prob_bce(r, 1.0) + prob_bce(f, 0.0),
        }
    (f,) = args
    if function == "generator_loss_saturating":
        return {
            "this is the non-saturating loss -mean log sigmoid(l): the saturating (minimax) loss "
            "is mean log(1 - sigmoid(l)) (Q5.3)": bce(f, 1.0),
            "sign error: the saturating loss is mean log(1 - sigmoid(l)), which is <= 0 (Q5.3)":
                bce(f, 0.0),
            "summed instead of averaged (Q5.3)": -bce(f, 0.0) * f.numel(),
            PROBABILITY_BCE: -prob_bce(f, 0.0),
        }
    return {
        "this is the saturating loss mean log(1 - sigmoid(l)): the non-saturating loss is "
        "-mean log sigmoid(l) (Q5.3)": -bce(f, 0.0),
        "sign error: the non-saturating loss is -mean log sigmoid(l), which is >= 0 (Q5.3)":
            -bce(f, 1.0),
        "this is D's loss on the fakes, -mean log(1 - sigmoid(l)): the generator wants "
        "sigmoid(l) near 1 (Q5.3)": bce(f, 0.0),
        "summed instead of averaged (Q5.3)": bce(f, 1.0) * f.numel(),
        PROBABILITY_BCE: prob_bce(f, 1.0),
    }


RANDOM_SHAPES = [((8,), (6,)), ((4, 3), (5, 1)), ((1,), (2, 2, 2))]


@functools.cache
def random_case(case):
    """Real and fake logits of different shapes and sizes, spread N(0, 3)."""
    real_shape, fake_shape = RANDOM_SHAPES[case]
    rng = case_rng("gan.random", case)
    return T(rng.normal(0, 3, real_shape)), T(rng.normal(0, 3, fake_shape))


@functools.cache
def extreme_case():
    """Logits at ±100 on both sides (sigmoid rounds to exactly 0 or 1), a few moderate ones."""
    rng = case_rng("gan.extreme")
    real = rng.choice([-100.0, 100.0], 6)
    fake = rng.choice([-100.0, 100.0], (2, 4))
    real[:2] = [-100.0, 100.0]
    fake[0, :3] = [100.0, -100.0, 0.7]
    return T(real), T(fake)


@functools.cache
def rejected_case():
    """D confidently rejects every fake: logits between -30 and -20 (sigmoid 1e-13 .. 2e-9)."""
    return T(case_rng("gan.rejected").uniform(-30, -20, 10))


def args_for(function, real, fake):
    return (real, fake) if function == "discriminator_loss" else (fake,)


def describe(function, args):
    names = ["real_logits", "fake_logits"] if function == "discriminator_loss" else ["fake_logits"]
    return dict(zip(names, args))


def signature(function):
    return (f"{function}(real_logits, fake_logits)" if function == "discriminator_loss"
            else f"{function}(fake_logits)")


@functools.cache
def reference_grads(function, case):
    """The value and the gradients w.r.t. every input of 0.8 * loss, by autograd."""
    real, fake = extreme_case() if case == "extreme" else (
        (None, rejected_case()) if case == "rejected" else random_case(case))
    args = [a.clone().requires_grad_(True) for a in args_for(function, real, fake)]
    value = REFERENCES[function](*args)
    grads = torch.autograd.grad(0.8 * value, args)
    wrong = {hint: torch.autograd.grad(0.8 * w_value, args, allow_unused=True)
             for hint, w_value in _differentiable_mistakes(function, args).items()}
    return [a.detach() for a in args], value.detach(), grads, wrong


def _differentiable_mistakes(function, args):
    return {hint: value for hint, value in mistakes(function, *args).items()
            if isinstance(value, torch.Tensor) and value.requires_grad}


def check_grads(submission, function, case, check):
    args, _, expected, wrong = reference_grads(function, case)
    weight = torch.tensor(0.8, dtype=torch.float64)
    reply = submission.probe("call_with_grads", MODULE, function, list(args),
                             list(range(len(args))), [weight], module=MODULE)
    if reply["reason"] is not None:
        raise Mismatch(f"{check}: cannot back-propagate through the loss: {reply['reason']}\n"
                       f"  hint: build the loss with torch operations (no .item(), no numpy) so "
                       f"that autograd can differentiate it (Q5.3)")
    names = list(describe(function, args))
    for i, (got, want, name) in enumerate(zip(reply["grads"], expected, names)):
        if got is None:
            raise Mismatch(f"{check}: no gradient reached {name}\n  hint: {name} was detached "
                           f"or not used through torch operations (Q5.3)")
        hints = {h: g[i] for h, g in wrong.items() if g[i] is not None}
        assert_close(got, want, check=f"{check}: gradient w.r.t. {name}",
                     inputs=describe(function, args), mistakes=hints)


@pytest.mark.question("5.3", weight=3)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("case", range(len(RANDOM_SHAPES)))
def test_loss_values(submission, function, case):
    """Each loss on random logits of several shapes (real and fake of different sizes) equals
    the BCE-with-logits formula. Fails: swapped labels, signs, sums, one joint mean, the
    saturating and non-saturating losses exchanged."""
    args = args_for(function, *random_case(case))
    got = submission.call(MODULE, function, *args)
    assert_close(got, REFERENCES[function](*args), check=signature(function),
                 inputs=describe(function, args), mistakes=mistakes(function, *args))


@pytest.mark.question("5.3", weight=3)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_extreme_logits(submission, function):
    """At logits ±100 the loss is exact and finite and so is its gradient (torch's values).
    Fails: log(1 - sigmoid(l)) (-inf at l = 100, nan gradient), clamped probabilities
    (log(1e-7) = -16 instead of -100, zero gradient), and the mistakes of test_loss_values."""
    args, expected, _, _ = reference_grads(function, "extreme")
    check = f"{signature(function)} with logits at ±100"
    got = as_array(submission.call(MODULE, function, *args), check,
                   describe_inputs(describe(function, args)))
    # Checked apart: assert_close's relative tolerance cannot tell an infinite result.
    if not np.isfinite(got).all():
        raise Mismatch(f"{check} on {describe_inputs(describe(function, args))}: non-finite "
                       f"result\n  expected: {expected.item():.6g}   got: {got}\n"
                       f"  hint: log(sigmoid(l)) or log(1 - sigmoid(l)) is -inf once sigmoid "
                       f"rounds to 0 or 1: use F.logsigmoid(l), and log(1 - sigmoid(l)) = "
                       f"logsigmoid(-l) (Q5.3)")
    assert_close(got, expected, check=check, inputs=describe(function, args),
                 mistakes=mistakes(function, *args))
    check_grads(submission, function, "extreme", check)


@pytest.mark.question("5.3", weight=1.5)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("case", [0, 1])
def test_gradients(submission, function, case):
    """The gradient of 0.8 * loss w.r.t. each logit tensor equals torch's autograd (e.g.
    0.8 (sigmoid(r) - 1) / n_real for D's real logits). Fails: a loss cut from the graph, swapped
    labels, sums, the losses exchanged."""
    check_grads(submission, function, case, f"{signature(function)}, back-propagating 0.8 * loss")


@pytest.mark.question("5.3", weight=2)
@pytest.mark.parametrize("function", ["generator_loss_saturating", "generator_loss_nonsaturating"])
def test_generator_gradient_when_fakes_rejected(submission, function):
    """D rejects every fake (logits -30 .. -20). The saturating loss's gradient vanishes there
    (0.8 sigmoid(l) / n < 2e-9 per logit): the generator learns nothing. The non-saturating
    loss's does not (about -0.8 / n per logit). Compared with torch's autograd. Fails: one loss
    written as the other, a loss cut from the graph."""
    behaviour = ("its gradient vanishes" if function == "generator_loss_saturating"
                 else "its gradient stays about -1/n per logit")
    check_grads(submission, function, "rejected",
                f"{function}(fake_logits) where D confidently rejects the fakes (logits -30 .. "
                f"-20): {behaviour}; back-propagating 0.8 * loss")


@pytest.mark.question("5.3", weight=0.5)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_inputs_not_modified(submission, function):
    """The logits are unchanged after the call. Fails: fake_logits.neg_(), in-place sigmoid."""
    args = args_for(function, *random_case(1))
    _, after, _ = submission.call_with_inputs(MODULE, function, *args)
    names = list(describe(function, args))
    assert_unchanged(dict(zip(names, args)), dict(zip(names, after)), check=signature(function))
