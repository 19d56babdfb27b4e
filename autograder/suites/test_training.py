"""Q2.1–Q2.3 — overfitting, divergence, perceptron vs hinge loss, against torch.

(Q2.4–Q2.6 are in test_training_activations.py, Q2.7–Q2.8 in test_training_optim.py.)

Every test reads: seeded inputs -> the reference (@reference, from torch where torch has it;
early stopping's answers worked out by hand) -> the student's result (submission.call, which
also fails a call that modifies its inputs) -> checks.* with the hints of
autograder/mistakes/training.py, each shown only when the student's result matches that
mistake's value.

Bugs these checks catch, each named where it is caught:
- early_stopping: returning the best epoch of the whole curve (ignoring patience); a non-strict
  new minimum (<=, so a tie moves the best epoch); stopping one epoch late (e - best > patience);
  testing the stopping rule before recording the epoch's new minimum; returning the epoch where
  training stopped instead of the best one.
- l2_grad: leaving the biases out; weight_decay / 2 or 2 * weight_decay; subtracting the penalty;
  the penalty's gradient alone, or the penalty itself; modifying grads in place.
- dropout: not inverted (out = x * mask); p used as the keep probability (keep fraction p, or out
  divided by p); a boolean mask; global random state (np.random.*) or a fixed seed instead of
  `rng` (same seed, different masks / different seeds, same mask); dropout or a (1 - p) scaling
  applied with train=False; modifying x in place.
- max_stable_lr: 1 / lambda_max, lambda_max / 2, 2 / lambda_min, 2 / max(diag H), 2 / trace.
- clip_grad_norm: clipping each tensor separately; returning the norm after clipping; rescaling
  to max_norm even when the norm is below it; the sum of per-tensor norms, or the squared norm;
  the factor inverted; clipping by value; clipping in place as torch's clip_grad_norm_ does
  (inputs must not change).
- perceptron_loss / hinge_loss: a sum over the batch; the sign; per-example losses; the best
  wrong class in the perceptron; the max over all classes in the hinge (gold included); a sum
  of per-class hinges (Weston-Watkins) instead of the max; no clamp at 0; a squared hinge; the
  margin ignored.
- perceptron_loss_grad / hinge_loss_grad: `d[rows, argmax] = 1; d[rows, y] = -1` (gives -1
  instead of 0 when the gold class wins); not divided by B; the opposite sign; one of the two
  terms missing; a hinge gradient on rows whose hinge is inactive; the rival taken over all
  classes; the Weston-Watkins gradient; scores modified in place.
"""
import functools
import math

import numpy as np
import pytest
import torch

from autograder.checks import (as_parts, assert_close, assert_dict_close, assert_true,
                               case_rng)
from autograder.mistakes import training as mistakes
from autograder.references import reference

MODULE = "training"
DELTA = 1e-9   # a correct implementation fails a statistical check with probability <= DELTA


# ---------------------------------------------------------------------------------------------
# Q2.1 — early stopping
# ---------------------------------------------------------------------------------------------

# (dev_losses, patience, best epoch): hand-built curves, the expected answer worked out by hand
# from the contract (a new minimum is strictly lower; stop at the first e with
# e - best >= patience).
EARLY_STOPPING_CASES = [
    # new minimum at 2; epochs 3, 4, 5 do not beat it; 5 - 2 = 3 -> stop at 5, keep 2
    # (not the 0.5 at 7)
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.5], 3, 2),
    # 0.5 repeated is not a new minimum: best stays 1, stop at 4, keep 1 (not 3, not the 0.4 at 5)
    ([1.0, 0.5, 0.5, 0.5, 0.6, 0.4], 3, 1),
    # best 1, 3 - 1 = 2 >= 2 -> stop at 3, before the 0.1 at epoch 4
    ([1.0, 0.9, 1.1, 1.2, 0.1], 2, 1),
    # never stops (patience 10 > length): the best overall, the last epoch
    ([3.0, 2.0, 1.0, 2.0, 1.5, 0.5], 10, 5),
    # rising from the start: 2 - 0 = 2 -> stop at 2, keep 0
    ([0.5, 0.6, 0.7, 0.8, 0.1], 2, 0),
    # epoch 3 is a new minimum, which resets the count before the stopping rule is tested
    ([1.0, 1.1, 1.2, 0.5, 0.6, 0.7], 3, 3),
    # the 0.5 at 3 only ties the minimum of epoch 1: stop at 4, keep 1 (a non-strict minimum
    # alone gives 3 here)
    ([1.0, 0.5, 0.7, 0.5, 0.8, 0.9, 0.95], 3, 1),
    # stop at 3 = 1 + patience, keep 1; stopping one epoch late alone gives 4 here (the 0.7)
    ([1.0, 0.8, 0.9, 0.85, 0.7, 0.95, 0.96, 0.97, 0.1], 2, 1),
]


@pytest.mark.question("2.1", weight=3)
@pytest.mark.parametrize("case", range(len(EARLY_STOPPING_CASES)))
def test_early_stopping_on_hand_built_curves(submission, case):
    """The best epoch at the moment training stops. Fails: patience ignored, a tie taken as a
    new minimum, one epoch late, the rule tested before the minimum is recorded, the stopping
    epoch returned."""
    losses, patience, best = EARLY_STOPPING_CASES[case]
    got = submission.call(MODULE, "early_stopping", list(losses), patience)
    assert_close(got, best, check=f"early_stopping({losses}, patience={patience})",
                 inputs={"epochs": len(losses)},
                 mistakes=mistakes.early_stopping(losses, patience, best))


# ---------------------------------------------------------------------------------------------
# Q2.1 — L2 regularisation (weight decay)
# ---------------------------------------------------------------------------------------------

@functools.cache
def l2_inputs(case: int):
    rng = case_rng("training.l2_grad", case)
    shapes = {"W1": (4, 3), "b1": (4,), "W2": (2, 4), "b2": (2,)}
    params = {k: rng.normal(0, 1, s) for k, s in shapes.items()}
    grads = {k: rng.normal(0, 1, s) for k, s in shapes.items()}
    return params, grads, [0.1, 0.01, 0.5][case]


@reference
def l2_reference(case: int):
    """(the gradient torch.optim.SGD(lr=1, weight_decay=wd) follows, p_old - p_new; the values
    of its mistakes)."""
    params, grads, wd = l2_inputs(case)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    torch.optim.SGD(list(tensors.values()), lr=1.0, weight_decay=wd).step()
    expected = {k: params[k] - t.detach().numpy() for k, t in tensors.items()}
    return expected, mistakes.l2_grad(params, grads, wd, expected)


@pytest.mark.question("2.1", weight=3)
@pytest.mark.parametrize("case", range(3))
def test_l2_grad_matches_sgd_weight_decay(submission, case):
    """grads + wd · params, the gradient torch.optim.SGD(weight_decay) follows. Fails: biases
    left out, wd / 2, 2 wd, the penalty subtracted, alone, or not differentiated, grads changed
    in place."""
    params, grads, wd = l2_inputs(case)
    expected, wrong = l2_reference(case)
    got = submission.call(MODULE, "l2_grad", params, grads, wd)
    assert_dict_close(got, expected, check=f"l2_grad(params, grads, {wd})",
                      inputs={"weight_decay": wd}, mistakes=wrong)


# ---------------------------------------------------------------------------------------------
# Q2.1 — inverted dropout: the law, never the exact mask
# ---------------------------------------------------------------------------------------------

# (shape, p): small arrays of several shapes, then 40000 elements for a tight kept fraction
DROPOUT_CASES = [((5, 7), 0.3), ((3, 4, 6), 0.6), ((200,), 0.1), ((8, 9), 0.0),
                 ((200, 200), 0.2), ((200, 200), 0.7), ((200, 200), 0.0)]


@functools.cache
def dropout_x(shape: tuple, case: int) -> np.ndarray:
    return case_rng("training.dropout", shape, case).normal(0, 1, shape)


def dropout_call(submission, x: np.ndarray, p: float, seed: int, train: bool = True):
    """(out, mask, check) of dropout(x, p, default_rng(seed), train): a tuple of two arrays of
    x's shape, the mask of float64 0.0 / 1.0."""
    check = f"dropout(x, p={p}, rng{'' if train else ', train=False'})"
    result = submission.call_seeded(MODULE, "dropout", seed, x, p,
                                    **({} if train else {"train": False}))
    out, mask = as_parts(result, 2, check)
    for name, value in (("out", out), ("mask", mask)):
        assert_true(isinstance(value, np.ndarray) and value.shape == x.shape,
                    f"{check}: {name} should be an array of x's shape {x.shape}, got "
                    f"{getattr(value, 'shape', type(value).__name__)}")
    assert_true(mask.dtype == np.float64,
                f"{check}: mask should hold float64 0.0/1.0 keep indicators, got dtype "
                f"{mask.dtype}")
    assert_true(bool(np.isin(mask, (0.0, 1.0)).all()),
                f"{check}: mask should hold only 0.0 (dropped) and 1.0 (kept), got values such "
                f"as {np.unique(mask)[:4]}")
    return out, mask, check


def drawn_mask(submission, x: np.ndarray, p: float, seed: int):
    """(out, mask, check) of one training-mode call, its mask keeping a fraction 1 - p of the
    elements within a Hoeffding bound.

    The N keep indicators are independent Bernoulli(1 - p), so P(|kept/N - (1 - p)| >= t) <=
    2 exp(-2 N t^2), which is DELTA = 1e-9 for t = sqrt(ln(2 / DELTA) / (2 N)) (0.0164 for
    N = 40000): a correct implementation fails with probability <= 1e-9 whatever the seed."""
    out, mask, check = dropout_call(submission, x, p, seed)
    t = math.sqrt(math.log(2 / DELTA) / (2 * x.size))
    assert_close(float(np.mean(mask)), 1 - p,
                 check=f"{check}: the fraction of elements kept (within {t:.3g}, a bound a "
                       f"correct implementation breaks with probability < 1e-9)",
                 inputs={"x": x}, rtol=0, atol=t,
                 mistakes=mistakes.dropout_kept_fraction(p, 1 - p))
    return out, mask, check


@pytest.mark.question("2.1", weight=3)
@pytest.mark.parametrize("case", range(len(DROPOUT_CASES)))
def test_dropout_is_inverted_masking(submission, case):
    """out = x * mask / (1 - p) with mask a float64 array of 0.0 / 1.0 keeping a fraction 1 - p
    (checked on the mask the student drew: which elements drop depends on how rng is called).
    Fails: not inverted, scaled by (1 - p) or 1/p, p as the keep probability (the fraction, on
    the 40000-element cases), a boolean mask, x changed in place; p = 0 keeps everything."""
    shape, p = DROPOUT_CASES[case]
    x = dropout_x(shape, case)
    out, mask, check = drawn_mask(submission, x, p, 1000 + case)
    expected = x * mask / (1 - p)   # the contract's formula, on the student's own mask
    assert_close(out, expected, check=f"{check}: out against x * mask / (1 - p) for the returned "
                                      f"mask", inputs={"x": x, "p": p},
                 mistakes=mistakes.dropout(x, p, mask, expected))


@pytest.mark.question("2.1", weight=0.5)
def test_dropout_draws_from_rng(submission):
    """Same seed -> the same mask; two seeds -> two masks; and each mask is a valid draw (0/1,
    a fraction 1 - p kept: so a constant never passes; `out` is graded above).

    With N = 400 independent keep indicators at p = 0.5, two masks drawn from different seeds
    are equal with probability (p^2 + (1-p)^2)^N = 2^-400: a correct implementation never fails.
    Fails: np.random.* global state (two calls with one seed differ), a fixed internal seed
    (two seeds agree)."""
    x = dropout_x((20, 20), 20)
    masks = [drawn_mask(submission, x, 0.5, seed)[1] for seed in (31, 31, 32)]
    check = "dropout(x, p=0.5, rng)"
    assert_true(np.array_equal(masks[0], masks[1]),
                f"{check}: two calls with rng = np.random.default_rng(31) gave different masks: "
                f"the mask must depend on `rng` only")
    assert_true(not np.array_equal(masks[0], masks[2]),
                f"{check}: rng = default_rng(31) and default_rng(32) gave the same mask: the "
                f"mask must be drawn from `rng`")


@pytest.mark.question("2.1", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_dropout_is_identity_in_eval(submission, case):
    """train=False returns (x, ones). Fails: dropout applied, a (1 - p) or 1 / (1 - p) scaling."""
    shape, p = [((6, 5), 0.4), ((3, 2, 4), 0.8)][case]
    x = dropout_x(shape, 30 + case)
    out, mask, check = dropout_call(submission, x, p, 3000 + case, train=False)
    assert_close(out, x, check=f"{check}: out (evaluation mode is the identity)",
                 inputs={"x": x, "p": p}, mistakes=mistakes.dropout(x, p, mask, x, train=False))
    assert_close(mask, np.ones(shape), check=f"{check}: mask (all ones in evaluation)",
                 inputs={"x": x, "p": p})


# ---------------------------------------------------------------------------------------------
# Q2.2 — the largest stable learning rate on a quadratic, and gradient clipping
# ---------------------------------------------------------------------------------------------

@functools.cache
def spd_matrix(case: int) -> np.ndarray:
    """H = Q diag(lambda) Q^T, eigenvalues in [0.5, 20] (condition number <= 40)."""
    rng = case_rng("training.max_stable_lr", case)
    d = [2, 3, 5, 8, 1, 4][case]
    if case == 5:   # diagonal, its largest entry not first
        return np.diag(rng.uniform(0.5, 20, d))
    q, _ = np.linalg.qr(rng.normal(0, 1, (d, d)))
    lam = rng.uniform(0.5, 20, d)
    h = q @ np.diag(lam) @ q.T
    return (h + h.T) / 2


@reference
def max_stable_lr_reference(case: int):
    """(2 / the largest eigenvalue by torch.linalg.eigvalsh, the values of its mistakes)."""
    h = spd_matrix(case)
    expected = float(2 / torch.linalg.eigvalsh(torch.from_numpy(h))[-1])
    return expected, mistakes.max_stable_lr(h, expected)


@pytest.mark.question("2.2", weight=2)
@pytest.mark.parametrize("case", range(6))
def test_max_stable_lr_is_two_over_lambda_max(submission, case):
    """2 / lambda_max(H): one gradient step on 1/2 theta^T H theta multiplies the component
    along each eigenvector by (1 - lr lambda), so every component shrinks iff lr < 2 / lambda_max
    (at 1.01 x this rate the top component grows by 1.02 per step: gradient descent diverges).
    Fails: 1 / lambda_max, lambda_max / 2, the smallest eigenvalue, the largest diagonal entry
    (the diagonal case alone cannot tell), the trace; H changed in place."""
    h = spd_matrix(case)
    expected, wrong = max_stable_lr_reference(case)
    got = submission.call(MODULE, "max_stable_lr", h)
    assert_close(got, expected, check="max_stable_lr(H)", inputs={"H": h}, mistakes=wrong)


@functools.cache
def clip_inputs(case: int):
    """(grads, max_norm): clipped (x2), clipped at the smallest max_norm, and below the norm."""
    rng = case_rng("training.clip_grad_norm", case)
    shapes = {"W": (3, 4), "b": (3,), "V": (2, 2, 3)}
    grads = {k: rng.normal(0, 1, s) for k, s in shapes.items()}
    total = math.sqrt(sum(float(np.sum(g ** 2)) for g in grads.values()))
    max_norm = [1.0, 0.05, 2.0 * total, 0.5 * total][case]
    return grads, max_norm


@reference
def clip_reference(case: int):
    """((the gradients torch.nn.utils.clip_grad_norm_ leaves, the total norm it returns), the
    values of its mistakes)."""
    grads, max_norm = clip_inputs(case)
    tensors = {k: torch.zeros(v.shape, dtype=torch.float64, requires_grad=True)
               for k, v in grads.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    total = float(torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm))
    expected = ({k: t.grad.numpy().copy() for k, t in tensors.items()}, total)
    return expected, mistakes.clip_grad_norm(grads, max_norm, expected)


@pytest.mark.question("2.2", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_clip_grad_norm_matches_torch(submission, case):
    """(clipped grads, total norm before clipping) = torch.nn.utils.clip_grad_norm_'s. Fails:
    per-tensor clipping, the norm after clipping, a rescaling below max_norm, the sum of norms
    or the squared norm, the factor inverted, clipping by value, grads clipped in place (as
    torch's clip_grad_norm_ does: this one returns new arrays)."""
    grads, max_norm = clip_inputs(case)
    (clipped, total), wrong = clip_reference(case)
    check = f"clip_grad_norm(grads, max_norm={max_norm:.4g})"
    inputs = {"grads": grads, "max_norm": max_norm}
    got_clipped, got_total = as_parts(submission.call(MODULE, "clip_grad_norm", grads, max_norm),
                                      2, check)
    assert_close(got_total, total, check=f"{check}: total_norm", inputs=inputs,
                 mistakes={hint: value[1] for hint, value in wrong.items()})
    assert_dict_close(got_clipped, clipped, check=f"{check}: clipped grads", inputs=inputs,
                      mistakes={hint: value[0] for hint, value in wrong.items()})


# ---------------------------------------------------------------------------------------------
# Q2.3 — perceptron loss vs hinge loss
# ---------------------------------------------------------------------------------------------

MARGIN_CASES = [(6, 4, None), (9, 2, 0.5), (1, 5, 2.0), (12, 7, 1.0), (8, 3, 0.3)]
GAP = 1e-3


@functools.cache
def score_inputs(case: int):
    """(scores, y, margin): rows with the gold class winning by more than the margin, winning
    by less, and losing; every row at least GAP away from an argmax tie, a tie for the best wrong
    class and the hinge's kink (as the contract promises)."""
    b, k, margin = MARGIN_CASES[case]
    m = 1.0 if margin is None else margin
    rng = case_rng("training.scores", case)
    scores = np.empty((b, k))
    y = rng.integers(0, k, b)
    for i in range(b):
        while True:
            row = rng.normal(0, 1.5, k)
            kind = (i + case) % 3
            others = np.delete(row, y[i])
            if kind == 0:     # gold wins by more than the margin: hinge inactive
                row[y[i]] = others.max() + m + rng.uniform(0.1, 1.0)
            elif kind == 1:   # gold wins by less than the margin: perceptron 0, hinge active
                row[y[i]] = others.max() + rng.uniform(0.05, 0.95) * m
            rival = np.delete(row, y[i])
            top2 = np.sort(row)[-2:]
            rival2 = np.sort(rival)[-2:] if k > 2 else np.array([-np.inf, rival[0]])
            if (top2[1] - top2[0] >= GAP and rival2[1] - rival2[0] >= GAP
                    and abs(m + rival.max() - row[y[i]]) >= GAP):
                break
        scores[i] = row
    return scores, y, margin


@reference
def loss_reference(function: str, case: int):
    """(the loss, or its gradient w.r.t. the scores by torch autograd, of the contract's
    formula written in torch; the values of its mistakes)."""
    scores, y, margin = score_inputs(case)
    m = 1.0 if margin is None else margin
    s = torch.tensor(scores, requires_grad=True)
    labels = torch.from_numpy(y)
    gold = s.gather(1, labels[:, None])[:, 0]
    if function.startswith("perceptron"):
        loss = (s.max(dim=1).values - gold).mean()
    else:
        mask = torch.nn.functional.one_hot(labels, s.shape[1]).bool()
        rival = s.masked_fill(mask, -math.inf).max(dim=1).values
        loss = torch.clamp(m + rival - gold, min=0).mean()
    loss.backward()
    expected = s.grad.numpy().copy() if function.endswith("_grad") else float(loss.detach())
    extra = () if function.startswith("perceptron") else (m,)
    return expected, getattr(mistakes, function)(scores, y, *extra, expected)


def margin_args(function: str, margin) -> tuple:
    return () if margin is None or function.startswith("perceptron") else (margin,)


@pytest.mark.question("2.3", weight=2)
@pytest.mark.parametrize("function", ["perceptron_loss", "hinge_loss"])
@pytest.mark.parametrize("case", range(len(MARGIN_CASES)))
def test_losses_match_torch(submission, function, case):
    """The contract's formulas written in torch. Fails: a sum, the sign, per-example losses,
    the best wrong class for the perceptron, the gold class in the hinge's max, Weston-Watkins,
    no clamp, a squared hinge, the margin ignored."""
    scores, y, margin = score_inputs(case)
    expected, wrong = loss_reference(function, case)
    extra = margin_args(function, margin)
    got = submission.call(MODULE, function, scores, y, *extra)
    shown = f"{function}(scores, y{f', margin={margin}' if extra else ''})"
    assert_close(got, expected, check=shown, inputs={"scores": scores, "y": y}, mistakes=wrong)


@pytest.mark.question("2.3", weight=2)
@pytest.mark.parametrize("function", ["perceptron_loss_grad", "hinge_loss_grad"])
@pytest.mark.parametrize("case", range(len(MARGIN_CASES)))
def test_gradients_match_autograd(submission, function, case):
    """The (sub)gradients of the mean losses by torch autograd. Fails: +1/-1 assigned instead of
    added, not divided by B, the sign, a term missing, inactive rows counted, the gold class as
    rival, Weston-Watkins, the margin ignored, scores changed in place."""
    scores, y, margin = score_inputs(case)
    expected, wrong = loss_reference(function, case)
    extra = margin_args(function, margin)
    got = submission.call(MODULE, function, scores, y, *extra)
    shown = f"{function}(scores, y{f', margin={margin}' if extra else ''})"
    assert_close(got, expected, check=f"{shown} against torch autograd",
                 inputs={"scores": scores, "y": y}, mistakes=wrong)
