"""Q2.1–Q2.3 — overfitting, divergence, perceptron vs hinge loss, against torch.

(Q2.4–Q2.6 are in test_training_activations.py, Q2.7–Q2.8 in test_training_optim.py.)

Bugs these checks catch, each named where it is caught:
- early_stopping: returning the best epoch of the whole curve (ignoring patience); a non-strict
  new minimum (<=, so a tie moves the best epoch); stopping one epoch late (e - best > patience);
  testing the stopping rule before recording the epoch's new minimum; returning the epoch where
  training stopped instead of the best one.
- l2_grad: leaving the biases out; weight_decay / 2 or 2 * weight_decay; subtracting the penalty;
  modifying grads in place.
- dropout: not inverted (out = x * mask); p used as the keep probability (keep fraction p, or out
  divided by p); a boolean mask; global random state (np.random.*) or a fixed seed instead of
  `rng` (same seed, different masks / different seeds, same mask); dropout or a (1 - p) scaling
  applied with train=False; modifying x in place.
- max_stable_lr: 1 / lambda_max, 2 / lambda_min, 2 / max(diag H); checked also by behaviour:
  gradient descent at 1.01 x the returned rate must diverge, at 0.99 x it must converge.
- clip_grad_norm: clipping each tensor separately; returning the norm after clipping; rescaling
  to max_norm even when the norm is below it; the sum of per-tensor norms, or the squared norm;
  clipping in place as torch's clip_grad_norm_ does (inputs must not change).
- perceptron_loss / hinge_loss: a sum over the batch; the max over all classes in the hinge
  (gold included); a sum of per-class hinges (Weston-Watkins) instead of the max; no clamp at 0.
- perceptron_loss_grad / hinge_loss_grad: `d[rows, argmax] = 1; d[rows, y] = -1` (gives -1
  instead of 0 when the gold class wins); not divided by B; the opposite sign; a hinge gradient
  on rows whose hinge is inactive; the rival taken over all classes; scores modified in place.
"""
import functools
import math

import numpy as np
import pytest
import torch

from autograder.checks import (as_array, assert_close, assert_dict_close, assert_true,
                               assert_unchanged, case_rng)

MODULE = "training"
DELTA = 1e-9   # a correct implementation fails a statistical check with probability <= DELTA


def seeded_call(submission, function, seed, *args, **kwargs):
    """[result, args after the call] of function(args[0], args[1], default_rng(seed), ...)."""
    return submission.probe("call_seeded", MODULE, function, seed, 2, *args, module=MODULE,
                            **kwargs)


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


def _early_stopping_variant(losses, patience, *, strict=True, late=False, check_first=False,
                            return_stop=False):
    """What a mistaken early stopping returns (for hints)."""
    best, stop = 0, len(losses) - 1
    for epoch, loss in enumerate(losses):
        if check_first and epoch - best >= patience:
            stop = epoch
            break
        if loss < losses[best] or (not strict and loss == losses[best]):
            best = epoch
        if not check_first and (epoch - best > patience if late else epoch - best >= patience):
            stop = epoch
            break
    return stop if return_stop else best


@pytest.mark.question("2.1", weight=3)
@pytest.mark.parametrize("case", range(len(EARLY_STOPPING_CASES)))
def test_early_stopping_on_hand_built_curves(submission, case):
    losses, patience, best = EARLY_STOPPING_CASES[case]
    got = submission.call(MODULE, "early_stopping", list(losses), patience)
    assert_close(got, best, check=f"early_stopping({losses}, patience={patience})",
                 inputs={"epochs": len(losses)}, mistakes={
        "returned the best epoch of the whole curve: training stops as soon as `patience` "
        "epochs pass without a new minimum (Q2.1)": int(np.argmin(losses)),
        "a loss equal to the minimum is not a new minimum: it must be strictly lower (Q2.1)":
            _early_stopping_variant(losses, patience, strict=False),
        "stopped one epoch late: stop at the first epoch e with e - best >= patience (Q2.1)":
            _early_stopping_variant(losses, patience, late=True),
        "tested the stopping rule before recording the epoch's loss: a new minimum at epoch e "
        "resets the count (Q2.1)": _early_stopping_variant(losses, patience, check_first=True),
        "returned the epoch where training stopped: return the best epoch, whose parameters "
        "are kept (Q2.1)": _early_stopping_variant(losses, patience, return_stop=True),
    })


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


@functools.cache
def reference_l2_grad(case: int) -> dict:
    """The gradient torch.optim.SGD(lr=1, weight_decay=wd) follows: p_old - p_new."""
    params, grads, wd = l2_inputs(case)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    torch.optim.SGD(list(tensors.values()), lr=1.0, weight_decay=wd).step()
    return {k: params[k] - t.detach().numpy() for k, t in tensors.items()}


@pytest.mark.question("2.1", weight=2.5)
@pytest.mark.parametrize("case", range(3))
def test_l2_grad_matches_sgd_weight_decay(submission, case):
    params, grads, wd = l2_inputs(case)
    got = submission.call(MODULE, "l2_grad", params, grads, wd)
    assert_dict_close(got, reference_l2_grad(case), check=f"l2_grad(params, grads, {wd})",
                      inputs={"weight_decay": wd}, mistakes={
        "the biases were left out: torch.optim.SGD(weight_decay) decays every parameter, "
        "biases included (Q2.1)": {k: grads[k] + (wd * params[k] if k[0] == "W" else 0)
                                   for k in params},
        "used weight_decay / 2: the gradient of (wd/2)||theta||^2 is wd * theta (Q2.1)":
            {k: grads[k] + wd / 2 * params[k] for k in params},
        "used 2 * weight_decay: the gradient of (wd/2)||theta||^2 is wd * theta (Q2.1)":
            {k: grads[k] + 2 * wd * params[k] for k in params},
        "subtracted the penalty's gradient: it is added, the step then subtracts it (Q2.1)":
            {k: grads[k] - wd * params[k] for k in params},
    })


@pytest.mark.question("2.1", weight=0.5)
def test_l2_grad_inputs_not_modified(submission):
    params, grads, wd = l2_inputs(0)
    _, (params_after, grads_after, _), _ = submission.call_with_inputs(
        MODULE, "l2_grad", params, grads, wd)
    assert_unchanged({"params": params, "grads": grads},
                     {"params": params_after, "grads": grads_after},
                     check=f"l2_grad(params, grads, {wd})")


# ---------------------------------------------------------------------------------------------
# Q2.1 — inverted dropout: the law, never the exact mask
# ---------------------------------------------------------------------------------------------

DROPOUT_LAW_CASES = [((5, 7), 0.3), ((3, 4, 6), 0.6), ((200,), 0.1), ((8, 9), 0.0)]


@functools.cache
def dropout_x(shape: tuple, case: int) -> np.ndarray:
    return case_rng("training.dropout", shape, case).normal(0, 1, shape)


def unpack_dropout(result, check: str, x: np.ndarray):
    """(out, mask) as arrays, or Mismatch."""
    assert_true(isinstance(result, (tuple, list)) and len(result) == 2,
                f"{check}: expected (out, mask), got {type(result).__name__}")
    out, mask = result
    for name, value in (("out", out), ("mask", mask)):
        assert_true(isinstance(value, np.ndarray) and value.shape == x.shape,
                    f"{check}: {name} should be an array of x's shape {x.shape}, got "
                    f"{getattr(value, 'shape', type(value).__name__)}")
    return out, mask


@pytest.mark.question("2.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(DROPOUT_LAW_CASES)))
def test_dropout_output_is_inverted_masking(submission, case):
    """out = x * mask / (1 - p), mask a float64 array of 0.0 / 1.0, x unchanged.

    Checked on the mask the student drew (which elements drop depends on how rng is called)."""
    shape, p = DROPOUT_LAW_CASES[case]
    x = dropout_x(shape, case)
    check = f"dropout(x, p={p}, rng)"
    result, (x_after, *_) = seeded_call(submission, "dropout", 1000 + case, x, p)
    out, mask = unpack_dropout(result, check, x)
    assert_true(mask.dtype == np.float64,
                f"{check}: mask should hold float64 0.0/1.0 keep indicators, got dtype "
                f"{mask.dtype} (Q2.1)")
    assert_true(bool(np.isin(mask, (0.0, 1.0)).all()),
                f"{check}: mask should hold only 0.0 (dropped) and 1.0 (kept), got values such "
                f"as {np.unique(mask)[:4]} (Q2.1)")
    mistakes = {
        "dropout is not inverted: the kept units must be scaled by 1 / (1 - p) in training, "
        "so that nothing changes at evaluation (Q2.1)": x * mask,
        "multiplied by (1 - p): inverted dropout divides the kept units by (1 - p) (Q2.1)":
            x * mask * (1 - p),
    }
    if p > 0:
        mistakes["divided by p: p is the probability of DROPPING an element, kept ones are "
                 "scaled by 1 / (1 - p) (Q2.1)"] = x * mask / p
    assert_close(out, x * mask / (1 - p), check=f"{check}: out against x * mask / (1 - p) for "
                 f"the returned mask", inputs={"x": x, "p": p}, mistakes=mistakes)
    assert_unchanged({"x": x}, {"x": x_after}, check=check)


KEEP_CASES = [0.2, 0.7, 0.0]
KEEP_SHAPE = (200, 200)


@pytest.mark.question("2.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(KEEP_CASES)))
def test_dropout_keeps_a_fraction_one_minus_p(submission, case):
    """The fraction of kept elements is 1 - p, within a Hoeffding bound.

    The N = 40000 keep indicators are independent Bernoulli(1 - p), so by Hoeffding's
    inequality P(|kept/N - (1 - p)| >= t) <= 2 exp(-2 N t^2). Setting this to DELTA = 1e-9:
    t = sqrt(ln(2 / DELTA) / (2 N)) = 0.0164. A correct implementation fails with probability
    <= 1e-9 whatever the seed; p used as the keep probability (fraction p instead of 1 - p, off
    by 0.6 and 0.4 here) fails for every seed, and p = 0 must keep everything.
    """
    p = KEEP_CASES[case]
    x = dropout_x(KEEP_SHAPE, 10 + case) + 3.0
    n = x.size
    t = math.sqrt(math.log(2 / DELTA) / (2 * n))
    check = f"dropout(x, p={p}, rng) on {n} elements"
    result, _ = seeded_call(submission, "dropout", 2000 + case, x, p)
    _, mask = unpack_dropout(result, check, x)
    kept = float(np.mean(np.asarray(mask, dtype=np.float64) != 0))
    hint = ""
    if p > 0 and abs(kept - p) < t:
        hint = ("\n  hint: p is the probability of DROPPING an element (as in torch): keep with "
                "probability 1 - p (Q2.1)")
    assert_true(abs(kept - (1 - p)) < t,
                f"{check}: kept a fraction {kept:.4f} of the elements, expected 1 - p = "
                f"{1 - p:.4f} "
                f"within {t:.4f} (a bound a correct implementation breaks with probability "
                f"< 1e-9){hint}")


@pytest.mark.question("2.1", weight=0.5)
def test_dropout_uses_rng(submission):
    """Same seed -> the same mask; two seeds -> two masks.

    With N = 400 independent keep indicators at p = 0.5, two masks drawn from different seeds
    are equal with probability (p^2 + (1-p)^2)^N = 2^-400: a correct implementation never fails.
    Fails: np.random.* global state (two calls with one seed differ), a fixed internal seed
    (two seeds agree)."""
    x = dropout_x((20, 20), 20)
    check = "dropout(x, p=0.5, rng)"
    masks = []
    for seed in (31, 31, 32):
        result, _ = seeded_call(submission, "dropout", seed, x, 0.5)
        masks.append(unpack_dropout(result, check, x)[1])
    assert_true(np.array_equal(masks[0], masks[1]),
                f"{check}: two calls with rng = np.random.default_rng(31) gave different masks; "
                f"draw the randomness from `rng` only, never from np.random.* (Q2.1)")
    assert_true(not np.array_equal(masks[0], masks[2]),
                f"{check}: rng = default_rng(31) and default_rng(32) gave the same mask; draw "
                f"the mask from the `rng` argument (Q2.1)")


@pytest.mark.question("2.1", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_dropout_is_identity_in_eval(submission, case):
    shape, p = [((6, 5), 0.4), ((3, 2, 4), 0.8)][case]
    x = dropout_x(shape, 30 + case)
    check = f"dropout(x, p={p}, rng, train=False)"
    result, _ = seeded_call(submission, "dropout", 3000 + case, x, p, train=False)
    out, mask = unpack_dropout(result, check, x)
    mistakes = {
        "scaled by (1 - p) at evaluation: with inverted dropout the scaling happens in "
        "training, evaluation is the identity (Q2.1)": x * (1 - p),
        "scaled by 1 / (1 - p) at evaluation: evaluation is the identity (Q2.1)": x / (1 - p),
    }
    if not np.all(mask == 1):   # the training-mode formula on the mask it returned
        mistakes["dropout was applied with train=False: in evaluation mode dropout is the "
                 "identity, out = x with a mask of ones (Q2.1)"] = x * mask / (1 - p)
    assert_close(out, x, check=f"{check}: out (evaluation mode is the identity)",
                 inputs={"x": x, "p": p}, mistakes=mistakes)
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


@functools.cache
def reference_max_stable_lr(case: int) -> float:
    return float(2 / torch.linalg.eigvalsh(torch.from_numpy(spd_matrix(case)))[-1])


@pytest.mark.question("2.2", weight=1.5)
@pytest.mark.parametrize("case", range(6))
def test_max_stable_lr_is_two_over_lambda_max(submission, case):
    h = spd_matrix(case)
    lam = np.linalg.eigvalsh(h)
    got = submission.call(MODULE, "max_stable_lr", h)
    assert_close(got, reference_max_stable_lr(case), check="max_stable_lr(H)", inputs={"H": h},
                 mistakes={
        "returned 1 / lambda_max: gradient descent converges for every lr < 2 / lambda_max, "
        "where |1 - lr * lambda| < 1 for all eigenvalues (Q2.2)": 1 / lam[-1],
        "used the smallest eigenvalue: the step must be stable along the steepest direction, "
        "lambda_max (Q2.2)": 2 / lam[0],
        "used the largest diagonal entry: it is not lambda_max unless H is diagonal (Q2.2)":
            2 / np.max(np.diag(h)),
    })


def gradient_descent_growth(h: np.ndarray, lrs: tuple, steps: int = 800) -> list:
    """||theta_K|| / ||theta_0|| after K steps of theta <- theta - lr * grad, on the loss
    1/2 theta^T H theta (gradient H theta, checked against torch autograd once), one column of
    iterates per learning rate; theta_0 has a unit component on the top eigenvector."""
    H = torch.from_numpy(h)
    _, vectors = torch.linalg.eigh(H)
    theta0 = vectors[:, -1] + 0.5
    probe = theta0.clone().requires_grad_()
    (grad,) = torch.autograd.grad(0.5 * probe @ H @ probe, probe)
    assert torch.allclose(grad, H @ theta0), "the gradient of 1/2 theta^T H theta is H theta"
    rates = torch.tensor(lrs, dtype=torch.float64)
    theta = theta0[:, None].repeat(1, len(lrs))
    for _ in range(steps):
        theta = theta - rates * (H @ theta)
    with torch.no_grad():
        growth = theta.norm(dim=0) / theta0.norm()
    return [float(g) if math.isfinite(float(g)) else math.inf for g in growth]


@pytest.mark.question("2.2", weight=0.5)
@pytest.mark.parametrize("case", [1, 3])
def test_gradient_descent_diverges_just_above_max_stable_lr(submission, case):
    """Behaviour: 800 steps of gradient descent on 1/2 theta^T H theta (torch autograd).

    At 1.01 x (2 / lambda_max) the top component is multiplied by |1 - 2.02| = 1.02 per step,
    1.02^800 > 1e6: it diverges. At 0.99 x every factor |1 - lr * lambda| <= max(0.98,
    1 - 1.98 / 40) < 1: it converges (0.98^800 < 1e-7). Also: H is left unchanged."""
    h = spd_matrix(case)
    got, (h_after,), _ = submission.call_with_inputs(MODULE, "max_stable_lr", h)
    assert_unchanged({"H": h}, {"H": h_after}, check="max_stable_lr(H)")
    value = as_array(got, "max_stable_lr(H)", f"H {h.shape}")
    assert_true(value.size == 1, f"max_stable_lr(H) on H {h.shape}: expected a float, got an "
                                 f"array of shape {value.shape}")
    lr = float(value.reshape(-1)[0])
    with np.errstate(all="ignore"):
        above, below = gradient_descent_growth(h, (1.01 * lr, 0.99 * lr))
    check = (f"gradient descent on 1/2 theta^T H theta, H {h.shape}, with lr = 1.01 x and "
             f"0.99 x max_stable_lr(H) = {lr:.6g}")
    assert_true(above > 1e6 and below < 1e-3,
                f"{check}: ||theta|| grew by a factor {above:.3g} at 1.01 x (it should diverge) "
                f"and {below:.3g} at 0.99 x (it should converge); the threshold is 2 / lambda_max "
                f"= {reference_max_stable_lr(case):.6g} (Q2.2)")


@functools.cache
def clip_inputs(case: int):
    """(grads, max_norm): clipped (x2), clipped at the smallest max_norm, and below the norm."""
    rng = case_rng("training.clip_grad_norm", case)
    shapes = {"W": (3, 4), "b": (3,), "V": (2, 2, 3)}
    grads = {k: rng.normal(0, 1, s) for k, s in shapes.items()}
    total = math.sqrt(sum(float(np.sum(g ** 2)) for g in grads.values()))
    max_norm = [1.0, 0.05, 2.0 * total, 0.5 * total][case]
    return grads, max_norm


@functools.cache
def reference_clip(case: int):
    grads, max_norm = clip_inputs(case)
    tensors = {k: torch.zeros(v.shape, dtype=torch.float64, requires_grad=True)
               for k, v in grads.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    total = torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm)
    return {k: t.grad.numpy().copy() for k, t in tensors.items()}, float(total)


@pytest.mark.question("2.2", weight=1.5)
@pytest.mark.parametrize("case", range(4))
def test_clip_grad_norm_matches_torch(submission, case):
    grads, max_norm = clip_inputs(case)
    expected, total = reference_clip(case)
    check = f"clip_grad_norm(grads, max_norm={max_norm:.4g})"
    inputs = {"grads": grads, "max_norm": max_norm}
    result = submission.call(MODULE, "clip_grad_norm", grads, max_norm)
    assert_true(isinstance(result, (tuple, list)) and len(result) == 2,
                f"{check}: expected (clipped_grads, total_norm), got {type(result).__name__}")
    clipped, got_total = result
    norms = {k: float(np.linalg.norm(g)) for k, g in grads.items()}
    assert_close(got_total, total, check=f"{check}: total_norm", inputs=inputs, mistakes={
        "returned the norm after clipping: total_norm is the global norm before clipping "
        "(Q2.2)": min(total, max_norm),
        "summed the per-tensor norms: the total norm is the L2 norm of all entries of all "
        "tensors together (Q2.2)": sum(norms.values()),
        "returned the squared norm: take the square root (Q2.2)": total ** 2,
    })
    assert_dict_close(clipped, expected, check=f"{check}: clipped grads", inputs=inputs,
                      mistakes={
        "clipped each tensor on its own norm: clip_grad_norm scales all gradients by one "
        "factor, max_norm / (global norm) (Q2.2)":
            {k: g * min(1.0, max_norm / norms[k]) for k, g in grads.items()},
        "rescaled to max_norm although the norm was below it: gradients are changed only when "
        "the total norm exceeds max_norm (Q2.2)":
            {k: g * max_norm / total for k, g in grads.items()},
    })


@pytest.mark.question("2.2", weight=0.5)
def test_clip_grad_norm_input_not_modified(submission):
    grads, max_norm = clip_inputs(0)
    _, (grads_after, _), _ = submission.call_with_inputs(MODULE, "clip_grad_norm", grads, max_norm)
    assert_unchanged({"grads": grads}, {"grads": grads_after},
                     check=f"clip_grad_norm(grads, max_norm={max_norm}) (unlike torch's in-place "
                           f"clip_grad_norm_, it returns new arrays)")


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


def margin_args(margin):
    return () if margin is None else (margin,)


def torch_losses(scores: np.ndarray, y: np.ndarray, margin):
    """(perceptron, hinge) losses and their gradients, from torch autograd."""
    m = 1.0 if margin is None else margin
    out = {}
    for name in ("perceptron", "hinge"):
        s = torch.tensor(scores, requires_grad=True)
        gold = s.gather(1, torch.from_numpy(y)[:, None])[:, 0]
        if name == "perceptron":
            loss = (s.max(dim=1).values - gold).mean()
        else:
            mask = torch.nn.functional.one_hot(torch.from_numpy(y), s.shape[1]).bool()
            rival = s.masked_fill(mask, -math.inf).max(dim=1).values
            loss = torch.clamp(m + rival - gold, min=0).mean()
        loss.backward()
        out[name] = (float(loss.detach()), s.grad.numpy().copy())
    return out


@functools.cache
def reference_losses(case: int):
    scores, y, margin = score_inputs(case)
    return torch_losses(scores, y, margin)


def mistaken_losses(scores, y, margin):
    """Losses and gradients of the usual mistaken formulas, in numpy."""
    m = 1.0 if margin is None else margin
    b = len(y)
    rows = np.arange(b)
    gold = scores[rows, y]
    others = scores.copy()
    others[rows, y] = -np.inf
    rival = others.argmax(axis=1)
    active = (m + others.max(axis=1) - gold > 0).astype(float)
    argmax = scores.argmax(axis=1)
    perceptron = scores.max(axis=1) - gold
    hinge = np.maximum(0, m + others.max(axis=1) - gold)
    ww = np.maximum(0, m + scores - gold[:, None])
    ww[rows, y] = 0
    hinge_all = np.maximum(0, m + scores.max(axis=1) - gold)
    assign = np.zeros_like(scores)
    assign[rows, argmax] = 1
    assign[rows, y] = -1
    always = np.zeros_like(scores)
    always[rows, rival] += 1
    always[rows, y] -= 1
    hinge_grad = always * active[:, None]
    rival_all = np.zeros_like(scores)
    act_all = (m + scores.max(axis=1) - gold > 0).astype(float)
    rival_all[rows, argmax] += act_all
    rival_all[rows, y] -= act_all
    perceptron_grad = np.zeros_like(scores)
    perceptron_grad[rows, argmax] += 1
    perceptron_grad[rows, y] -= 1
    return {
        "perceptron_loss": {
            "summed over the batch: the loss is the mean over the examples (Q2.3)":
                perceptron.sum(),
            "the opposite sign: the perceptron loss max_j s_j - s_y is >= 0 (Q2.3)":
                -perceptron.mean(),
        },
        "hinge_loss": {
            "summed over the batch: the loss is the mean over the examples (Q2.3)": hinge.sum(),
            "took the max over all classes, the gold one included: the hinge compares s_y with "
            "the best WRONG class, max over j != y (Q2.3)": hinge_all.mean(),
            "summed a hinge per wrong class (Weston-Watkins): this hinge loss uses the best "
            "wrong class only (Q2.3)": ww.sum(axis=1).mean(),
            "no clamp at 0: the hinge is max(0, margin + max_{j != y} s_j - s_y) (Q2.3)":
                (m + others.max(axis=1) - gold).mean(),
        },
        "perceptron_loss_grad": {
            "assigned +1 then -1 (d[rows, argmax] = 1; d[rows, y] = -1): when the gold class is "
            "the argmax the two cancel and the gradient is 0 (Q2.3)": assign / b,
            "not divided by B: the gradient of the MEAN loss is divided by the batch size (Q2.3)":
                perceptron_grad,
            "the opposite sign: +1 at the argmax, -1 at the gold class (Q2.3)":
                -perceptron_grad / b,
        },
        "hinge_loss_grad": {
            "a gradient on every row: rows whose hinge is inactive (the gold score beats every "
            "other by more than the margin) have gradient 0 (Q2.3)": always / b,
            "took the rival over all classes, the gold one included: it is the best WRONG class "
            "(Q2.3)": rival_all / b,
            "not divided by B: the gradient of the MEAN loss is divided by the batch size (Q2.3)":
                hinge_grad,
            "the opposite sign: +1 at the best wrong class, -1 at the gold class (Q2.3)":
                -hinge_grad / b,
        },
    }


def _signature(function, margin):
    tail = "" if margin is None or "perceptron" in function else f", margin={margin}"
    return f"{function}(scores, y{tail})"


@pytest.mark.question("2.3", weight=2)
@pytest.mark.parametrize("function", ["perceptron_loss", "hinge_loss"])
@pytest.mark.parametrize("case", range(len(MARGIN_CASES)))
def test_losses_match_torch(submission, function, case):
    scores, y, margin = score_inputs(case)
    extra = () if function == "perceptron_loss" else margin_args(margin)
    got = submission.call(MODULE, function, scores, y, *extra)
    expected = reference_losses(case)[function.split("_")[0]][0]
    assert_close(got, expected, check=_signature(function, margin),
                 inputs={"scores": scores, "y": y},
                 mistakes=mistaken_losses(scores, y, margin)[function])


@pytest.mark.question("2.3", weight=2)
@pytest.mark.parametrize("function", ["perceptron_loss_grad", "hinge_loss_grad"])
@pytest.mark.parametrize("case", range(len(MARGIN_CASES)))
def test_gradients_match_autograd(submission, function, case):
    scores, y, margin = score_inputs(case)
    extra = () if function == "perceptron_loss_grad" else margin_args(margin)
    got = submission.call(MODULE, function, scores, y, *extra)
    expected = reference_losses(case)[function.split("_")[0]][1]
    assert_close(got, expected, check=_signature(function, margin) + " against torch autograd",
                 inputs={"scores": scores, "y": y},
                 mistakes=mistaken_losses(scores, y, margin)[function])


@pytest.mark.question("2.3", weight=0.5)
@pytest.mark.parametrize("function", ["perceptron_loss", "hinge_loss", "perceptron_loss_grad",
                                      "hinge_loss_grad"])
def test_scores_not_modified(submission, function):
    scores, y, margin = score_inputs(3)
    _, (scores_after, y_after, *_), _ = submission.call_with_inputs(MODULE, function, scores, y)
    assert_unchanged({"scores": scores, "y": y}, {"scores": scores_after, "y": y_after},
                     check=f"{function}(scores, y)")
