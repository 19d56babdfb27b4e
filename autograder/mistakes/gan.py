"""Mistaken formulas of gan.py (Part 5): what each known mistake returns, for hints.

One function per student function, taking that function's own inputs (torch tensors of logits)
and `expected` (torch's loss on them) and returning {hint: the loss the mistaken formula gives
on those inputs}, as tensors that keep their autograd graph: differentiating a mistaken loss
gives the gradient that mistake produces, so the same catalogue names mistakes seen only in
gradients (a value right at logits ±100 with a zero gradient there). A grader or a public check
shows a hint only when the student's result matches its value.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

STABLE = ("use F.logsigmoid(l), and log(1 - sigmoid(l)) = logsigmoid(-l) (or "
          "F.binary_cross_entropy_with_logits)")
NAIVE = ("log(sigmoid(l)) or log(1 - sigmoid(l)) is -inf once sigmoid(l) rounds to 0 or 1 "
         "(|l| of a few tens): " + STABLE)
THROUGH_PROBABILITIES = ("the loss went through probabilities (sigmoid, then "
                         "F.binary_cross_entropy or a clamped log): its gradient is 0 once "
                         "sigmoid(l) rounds to 0 or 1; " + STABLE)


def _bce(logits, target: float, reduction: str = "mean"):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target),
                                              reduction=reduction)


def _through_probabilities(logits, target: float):
    """BCE on sigmoid(l): torch clamps its log at -100, right values at ±100, zero gradients."""
    return F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, target))


def _clamped(logits, target: float, eps: float):
    p = torch.sigmoid(logits).clamp(eps, 1 - eps)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


def _per_row_sum(losses):
    """Summed over every axis but the first, then averaged: a per-example habit."""
    return losses.reshape(len(losses), -1).sum(1).mean() if losses.dim() > 1 else None


def _clamped_mistakes(terms) -> dict:
    """terms: [(logits, target)], the BCE terms of a loss, each a mean."""
    return {f"probabilities clamped to [{eps:g}, 1 - {eps:g}] before the log: the loss is wrong "
            f"once |logit| > {abs(torch.logit(torch.tensor(eps, dtype=torch.float64))):.0f}; "
            + STABLE: sum(_clamped(l, t, eps) for l, t in terms)
            for eps in (1e-7, 1e-8, 1e-10, 1e-12)}


def discriminator_loss(real_logits, fake_logits, expected) -> dict:
    r, f = real_logits, fake_logits
    both = torch.cat([r.reshape(-1), f.reshape(-1)])
    found = {
        "swapped labels: real examples are labelled 1 and generated ones 0":
            _bce(r, 0.0) + _bce(f, 1.0),
        "generated examples labelled 1 too: their target is 0, the loss has log(1 - sigmoid)":
            _bce(r, 1.0) + _bce(f, 1.0),
        "real examples labelled 0 too: their target is 1, the loss has log sigmoid(real)":
            _bce(r, 0.0) + _bce(f, 0.0),
        "sign error: the loss is -mean log sigmoid(real) - mean log(1 - sigmoid(fake)), which "
        "is >= 0": -expected,
        "summed instead of averaged: each term is a mean over its logits":
            _bce(r, 1.0, "sum") + _bce(f, 0.0, "sum"),
        "one mean over real and fake logits together: the loss is the SUM of the two means":
            F.binary_cross_entropy_with_logits(both, torch.cat([torch.ones_like(r.reshape(-1)),
                                                                torch.zeros_like(f.reshape(-1))])),
        "averaged the two terms: the loss is their sum": expected / 2,
        "the fake term is missing: add mean BCE(fake_logits, 0)": _bce(r, 1.0),
        "the real term is missing: add mean BCE(real_logits, 1)": _bce(f, 0.0),
        NAIVE: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),
        THROUGH_PROBABILITIES: _through_probabilities(r, 1.0) + _through_probabilities(f, 0.0),
        **_clamped_mistakes([(r, 1.0), (f, 0.0)]),
    }
    rows = [_per_row_sum(_bce(r, 1.0, "none")), _per_row_sum(_bce(f, 0.0, "none"))]
    if all(v is not None for v in rows):
        found["summed over all axes but the first, then averaged: each term is the mean over "
              "every logit"] = rows[0] + rows[1]
    return found


def generator_loss_saturating(fake_logits, expected) -> dict:
    f = fake_logits
    found = {
        "this is the non-saturating loss -mean log sigmoid(l): the saturating (minimax) loss is "
        "mean log(1 - sigmoid(l))": _bce(f, 1.0),
        "sign error: the saturating loss is mean log(1 - sigmoid(l)), which is <= 0": -expected,
        "log sigmoid(l) instead of log(1 - sigmoid(l)): the minimax generator minimises "
        "mean log(1 - D(G(z)))": -_bce(f, 1.0),
        "summed instead of averaged": expected * f.numel(),
        "per-logit losses returned: the loss is their mean, a 0-d tensor": -_bce(f, 0.0, "none"),
        NAIVE: torch.log(1 - torch.sigmoid(f)).mean(),
        THROUGH_PROBABILITIES: -_through_probabilities(f, 0.0),
        **{hint: -value for hint, value in _clamped_mistakes([(f, 0.0)]).items()},
    }
    rows = _per_row_sum(-_bce(f, 0.0, "none"))
    if rows is not None:
        found["summed over all axes but the first, then averaged: the loss is the mean over "
              "every logit"] = rows
    return found


def generator_loss_nonsaturating(fake_logits, expected) -> dict:
    f = fake_logits
    found = {
        "this is the saturating loss mean log(1 - sigmoid(l)): the non-saturating loss is "
        "-mean log sigmoid(l)": -_bce(f, 0.0),
        "sign error: the non-saturating loss is -mean log sigmoid(l), which is >= 0": -expected,
        "this is D's loss on the fakes, -mean log(1 - sigmoid(l)): the generator wants "
        "sigmoid(l) near 1": _bce(f, 0.0),
        "summed instead of averaged": expected * f.numel(),
        "per-logit losses returned: the loss is their mean, a 0-d tensor": _bce(f, 1.0, "none"),
        THROUGH_PROBABILITIES: _through_probabilities(f, 1.0),
        **_clamped_mistakes([(f, 1.0)]),
    }
    rows = _per_row_sum(_bce(f, 1.0, "none"))
    if rows is not None:
        found["summed over all axes but the first, then averaged: the loss is the mean over "
              "every logit"] = rows
    return found
