"""Public checks for training.py (Part 2): your functions against PyTorch, on inputs of their own.

Run `pytest tests/test_training.py` in your folder. Each check reads: seeded inputs -> the
reference (torch where torch has it) -> your result (run as the grader runs it; functions that
take an rng, return a generator or thread a state are driven by the grader's own probes) -> the
grader's comparison, with its hint when your result is what a known mistake gives
(autograder/mistakes/training.py). Random results (a dropout mask, Glorot's weights, the order
of the minibatches) are checked on their law, never on exact values. The grader's hidden tests
use other inputs, and more of them.
"""
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import (RTOL, as_array, as_parts, assert_close, assert_dict_close,
                               assert_true, assert_within, case_rng, strict_result)
from autograder.mistakes import training as mistakes

MODULE = "training"
DELTA = 1e-9   # a correct implementation fails a statistical check with probability <= DELTA


def as_list(got):
    return list(got) if isinstance(got, tuple) else got


# === Q2.1: early stopping, L2, dropout =======================================================
# (dev_losses, patience, the best epoch worked out by hand from the contract)
EARLY_STOPPING_CASES = [
    # new minimum at 2; 3, 4, 5 do not beat it; 5 - 2 = 3: stop at 5, keep 2 (not the 0.4 at 6)
    ([0.9, 0.7, 0.6, 0.65, 0.62, 0.61, 0.4], 3, 2),
    # 0.6 again at 3 is not a new minimum: stop at 4, keep 1
    ([1.0, 0.6, 0.8, 0.6, 0.7, 0.3], 3, 1),
    # never stops (patience 9): the best of the whole curve
    ([2.0, 1.5, 1.7, 1.2, 1.3], 9, 3),
    # epoch 3 is a new minimum, which resets the count before the rule is tested: best 3,
    # stop at 6
    ([1.0, 1.1, 1.2, 0.5, 0.9, 0.8, 0.85, 0.2], 3, 3),
]


@pytest.mark.question("2.1", weight=3)
@pytest.mark.parametrize("case", range(len(EARLY_STOPPING_CASES)))
def test_early_stopping(submission, case):
    losses, patience, best = EARLY_STOPPING_CASES[case]
    got = submission.call(MODULE, "early_stopping", list(losses), patience)
    assert_close(got, best, check=f"early_stopping({losses}, patience={patience})",
                 inputs={"epochs": len(losses)},
                 mistakes=mistakes.early_stopping(losses, patience, best))


@functools.cache
def l2_case():
    """((params, grads, weight_decay), torch.optim.SGD(weight_decay)'s gradient, the mistakes)."""
    rng = case_rng("public", "training.l2_grad")
    shapes = {"W1": (3, 4), "b1": (3,), "W2": (2, 3), "b2": (2,)}
    params = {k: rng.normal(0, 1, s) for k, s in shapes.items()}
    grads = {k: rng.normal(0, 1, s) for k, s in shapes.items()}
    wd = 0.3
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    torch.optim.SGD(list(tensors.values()), lr=1.0, weight_decay=wd).step()
    # with lr = 1 the step is the gradient SGD used: params - new params
    expected = {k: params[k] - t.detach().numpy() for k, t in tensors.items()}
    return (params, grads, wd), expected, mistakes.l2_grad(params, grads, wd, expected)


@pytest.mark.question("2.1", weight=3)
def test_l2_grad(submission):
    (params, grads, wd), expected, wrong = l2_case()
    got = submission.call(MODULE, "l2_grad", params, grads, wd)
    assert_dict_close(got, expected, check=f"l2_grad(params, grads, {wd}) vs "
                      f"torch.optim.SGD(weight_decay={wd})", inputs={"weight_decay": wd},
                      mistakes=wrong)


def dropout_call(submission, x, p, seed, train=True):
    """(out, mask, check): a tuple of two arrays of x's shape, the mask float64 0.0 / 1.0."""
    check = f"dropout(x, p={p}, rng{'' if train else ', train=False'})"
    out, mask = as_parts(submission.call_seeded(MODULE, "dropout", seed, x, p,
                                                **({} if train else {"train": False})), 2, check)
    for name, value in (("out", out), ("mask", mask)):
        assert_true(isinstance(value, np.ndarray) and value.shape == x.shape,
                    f"{check}: {name} should be an array of x's shape {x.shape}, got "
                    f"{getattr(value, 'shape', type(value).__name__)}")
    assert_true(mask.dtype == np.float64, f"{check}: mask should hold float64 0.0/1.0 keep "
                                          f"indicators, got dtype {mask.dtype}")
    assert_true(bool(np.isin(mask, (0.0, 1.0)).all()), f"{check}: mask should hold only 0.0 "
                f"(dropped) and 1.0 (kept), got values such as {np.unique(mask)[:4]}")
    return out, mask, check


def drawn_mask(submission, x, p, seed):
    """(out, mask, check) of one training-mode call, its mask keeping a fraction 1 - p within a
    Hoeffding bound: P(|kept/N - (1 - p)| >= t) <= 2 exp(-2 N t^2) = 1e-9 for
    t = sqrt(ln(2e9) / (2N))."""
    out, mask, check = dropout_call(submission, x, p, seed)
    t = math.sqrt(math.log(2 / DELTA) / (2 * x.size))
    assert_close(float(np.mean(mask)), 1 - p, check=f"{check}: the fraction of elements kept "
                 f"(within {t:.3g})", inputs={"x": x}, rtol=0, atol=t,
                 mistakes=mistakes.dropout_kept_fraction(p, 1 - p))
    return out, mask, check


DROPOUT_CASES = [((4, 5), 0.4), ((200, 200), 0.25)]


@pytest.mark.question("2.1", weight=3)
@pytest.mark.parametrize("case", range(len(DROPOUT_CASES)))
def test_dropout_in_training(submission, case):
    """out = x * mask / (1 - p) for the mask you drew (which elements drop depends on how rng
    is called), the mask keeping a fraction 1 - p."""
    shape, p = DROPOUT_CASES[case]
    x = case_rng("public", "training.dropout", case).normal(0, 1, shape)
    out, mask, check = drawn_mask(submission, x, p, 100 + case)
    expected = x * mask / (1 - p)
    assert_close(out, expected, check=f"{check}: out against x * mask / (1 - p) for the "
                 f"returned mask", inputs={"x": x, "p": p},
                 mistakes=mistakes.dropout(x, p, mask, expected))


@pytest.mark.question("2.1")
def test_dropout_in_evaluation(submission):
    x = case_rng("public", "training.dropout.eval").normal(0, 1, (3, 6))
    out, mask, check = dropout_call(submission, x, 0.5, 200, train=False)
    assert_close(out, x, check=f"{check}: out (evaluation mode is the identity)",
                 inputs={"x": x, "p": 0.5}, mistakes=mistakes.dropout(x, 0.5, mask, x, train=False))
    assert_close(mask, np.ones(x.shape), check=f"{check}: mask (all ones in evaluation)",
                 inputs={"x": x, "p": 0.5})


@pytest.mark.question("2.1", weight=0.5)
def test_dropout_draws_from_rng(submission):
    """The same seed gives the same mask, two seeds two masks (equal with probability 2^-400),
    each a valid draw (so a constant never passes)."""
    x = case_rng("public", "training.dropout.rng").normal(0, 1, (20, 20))
    masks = [drawn_mask(submission, x, 0.5, seed)[1] for seed in (31, 31, 32)]
    assert_true(np.array_equal(masks[0], masks[1]), "dropout(x, p=0.5, rng): two calls with "
                "rng = np.random.default_rng(31) gave different masks: the mask must depend on "
                "`rng` only")
    assert_true(not np.array_equal(masks[0], masks[2]), "dropout(x, p=0.5, rng): rng = "
                "default_rng(31) and default_rng(32) gave the same mask: draw it from `rng`")


# === Q2.2: the largest stable learning rate, gradient clipping ===============================
@pytest.mark.question("2.2", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_max_stable_lr(submission, case):
    """2 / lambda_max(H) by torch.linalg.eigvalsh; the second H is diagonal, its largest entry
    not first."""
    rng = case_rng("public", "training.max_stable_lr", case)
    if case == 0:
        q, _ = np.linalg.qr(rng.normal(0, 1, (4, 4)))
        h = q @ np.diag(rng.uniform(0.5, 20, 4)) @ q.T
        h = (h + h.T) / 2
    else:
        h = np.diag([3.0, 11.0, 0.7])
    expected = float(2 / torch.linalg.eigvalsh(torch.from_numpy(h))[-1])
    got = submission.call(MODULE, "max_stable_lr", h)
    assert_close(got, expected, check="max_stable_lr(H)", inputs={"H": h},
                 mistakes=mistakes.max_stable_lr(h, expected))


@functools.cache
def clip_case(case: int):
    """((grads, max_norm), torch's clipped grads and total norm, the mistakes): clipped, then
    below the norm."""
    rng = case_rng("public", "training.clip_grad_norm")
    grads = {k: rng.normal(0, 1, s) for k, s in {"W": (3, 4), "b": (3,), "V": (2, 3)}.items()}
    total = math.sqrt(sum(float(np.sum(g ** 2)) for g in grads.values()))
    max_norm = [0.5, 2.0 * total][case]
    tensors = {k: torch.zeros(v.shape, dtype=torch.float64, requires_grad=True)
               for k, v in grads.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    norm = float(torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm))
    expected = ({k: t.grad.numpy().copy() for k, t in tensors.items()}, norm)
    return (grads, max_norm), expected, mistakes.clip_grad_norm(grads, max_norm, expected)


@pytest.mark.question("2.2", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_clip_grad_norm(submission, case):
    (grads, max_norm), (clipped, total), wrong = clip_case(case)
    check = f"clip_grad_norm(grads, max_norm={max_norm:.4g}) vs torch.nn.utils.clip_grad_norm_"
    inputs = {"grads": grads, "max_norm": max_norm}
    got_clipped, got_total = as_parts(submission.call(MODULE, "clip_grad_norm", grads, max_norm),
                                      2, check)
    assert_close(got_total, total, check=f"{check}: total_norm", inputs=inputs,
                 mistakes={hint: value[1] for hint, value in wrong.items()})
    assert_dict_close(got_clipped, clipped, check=f"{check}: clipped grads", inputs=inputs,
                      mistakes={hint: value[0] for hint, value in wrong.items()})


# === Q2.3: perceptron and hinge losses, and their gradients ==================================
# Rows where the gold class wins by more than the margin, wins by less, and loses; every row
# away from argmax ties and from the hinge's kink.
SCORES = np.array([[3.2, 0.5, -1.0, 0.1], [0.1, 0.3, 2.5, 1.9], [1.0, 1.6, 0.2, -0.4],
                   [-0.5, 0.0, 0.6, 2.0], [0.7, -1.2, 0.3, 0.2]])
LABELS = np.array([0, 2, 0, 3, 2])
MARGINS = [None, 0.4]    # None: the default margin 1


@functools.cache
def loss_case(function: str, margin):
    """The loss, or its gradient by torch autograd, of the contract's formula written in torch;
    the mistakes."""
    m = 1.0 if margin is None else margin
    s = torch.tensor(SCORES, requires_grad=True)
    labels = torch.from_numpy(LABELS)
    gold = s.gather(1, labels[:, None])[:, 0]
    if function.startswith("perceptron"):
        loss = (s.max(dim=1).values - gold).mean()
    else:
        rival = s.masked_fill(F.one_hot(labels, s.shape[1]).bool(), -math.inf).max(dim=1).values
        loss = torch.clamp(m + rival - gold, min=0).mean()
    loss.backward()
    expected = s.grad.numpy().copy() if function.endswith("_grad") else float(loss.detach())
    extra = () if function.startswith("perceptron") else (m,)
    return expected, getattr(mistakes, function)(SCORES, LABELS, *extra, expected)


LOSS_CASES = [("perceptron_loss", None), ("hinge_loss", None), ("hinge_loss", 0.4),
              ("perceptron_loss_grad", None), ("hinge_loss_grad", None), ("hinge_loss_grad", 0.4)]


@pytest.mark.question("2.3", weight=4)
@pytest.mark.parametrize("function, margin", LOSS_CASES)
def test_losses_and_gradients(submission, function, margin):
    expected, wrong = loss_case(function, margin)
    extra = () if margin is None else (margin,)
    got = submission.call(MODULE, function, SCORES, LABELS, *extra)
    shown = f"{function}(scores, y{f', margin={margin}' if extra else ''})"
    source = "torch autograd" if function.endswith("_grad") else "the formula in torch"
    assert_close(got, expected, check=f"{shown} against {source}",
                 inputs={"scores": SCORES, "y": LABELS}, mistakes=wrong)


# === Q2.4: sigmoid, its derivative, vanishing gradients ======================================
SIGMOID_INPUTS = [np.array([[-3.0, -0.4, 0.0], [0.8, 2.5, 7.0]]),
                  np.array([-1e4, -800.0, -710.0, -30.0, -1.0, 0.0, 2.0, 30.0, 710.0, 800.0, 1e4])]


@functools.cache
def sigmoid_case(function: str, case: int):
    x = SIGMOID_INPUTS[case]
    t = torch.tensor(x, requires_grad=True)
    s = torch.sigmoid(t)
    s.sum().backward()
    expected = s.detach().numpy() if function == "sigmoid" else t.grad.numpy()
    return x, expected, getattr(mistakes, function)(x, expected)


@pytest.mark.question("2.4")
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
def test_sigmoid(submission, function):
    x, expected, wrong = sigmoid_case(function, 0)
    got = submission.call(MODULE, function, x)
    assert_close(got, expected, check=f"{function}(x) against torch", inputs={"x": x},
                 mistakes=wrong)


@pytest.mark.question("2.4", weight=1.5)
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
def test_sigmoid_stable_up_to_1e4(submission, function):
    x, expected, wrong = sigmoid_case(function, 1)
    check = f"{function}(x) with |x| up to 1e4, under np.errstate(over/invalid/divide='raise')"
    got = strict_result(lambda: submission.call_strict(MODULE, function, x), check=check,
                        hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"x": x}, mistakes=wrong)


@functools.cache
def deep_case(activation: str):
    """((x, y, weights, biases), the norms of dL/dh_l by torch autograd, the mistakes) for a
    net of 5 hidden layers."""
    rng = case_rng("public", "training.deep", activation)
    sizes = [6, 9, 9, 9, 9, 9, 3]
    weights = [rng.normal(0, 1 / math.sqrt(a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    x, y = rng.normal(0, 1, (10, sizes[0])), rng.integers(0, sizes[-1], 10)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    h, hiddens = torch.tensor(x, requires_grad=True), []
    for W, b in zip(weights[:-1], biases[:-1]):
        h = act(F.linear(h, torch.from_numpy(W), torch.from_numpy(b)))
        h.retain_grad()
        hiddens.append(h)
    logits = F.linear(h, torch.from_numpy(weights[-1]), torch.from_numpy(biases[-1]))
    F.cross_entropy(logits, torch.from_numpy(y)).backward()
    expected = [float(t.grad.norm()) for t in hiddens]
    return (x, y, weights, biases), expected, mistakes.hidden_grad_norms(
        x, y, weights, biases, activation, expected)


@pytest.mark.question("2.4", weight=2)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_hidden_grad_norms(submission, activation):
    """||dL/dh_l|| per hidden layer, input side first (with sigmoid they shrink toward the
    input: the vanishing gradient)."""
    (x, y, weights, biases), expected, wrong = deep_case(activation)
    got = submission.call(MODULE, "hidden_grad_norms", x, y, weights, biases, activation)
    assert_close(as_list(got), expected, check=f"hidden_grad_norms(x, y, weights, biases, "
                 f"{activation!r}) on {len(weights)} layers, against torch autograd",
                 inputs={"x": x, "y": y}, mistakes=wrong)


# === Q2.5: Glorot initialisation, activation statistics ======================================
def glorot_weights(submission, seed: int, fan_in: int, fan_out: int):
    check = f"glorot_uniform({fan_in}, {fan_out}, rng)"
    W = as_array(submission.call_seeded(MODULE, "glorot_uniform", seed, fan_in, fan_out), check,
                 f"fan_in={fan_in}, fan_out={fan_out}")
    assert_true(W.shape == (fan_out, fan_in), f"{check}: expected shape (fan_out, fan_in) = "
                f"{(fan_out, fan_in)}, as torch.nn.Linear's weight, got {W.shape}")
    return W, check


GLOROT = (300, 100)   # (fan_in, fan_out)


@pytest.mark.question("2.5", weight=1.5)
def test_glorot_uniform_bound(submission):
    """Shape (fan_out, fan_in); max |w| in [a (1 - d), a (1 + rtol)] with a = sqrt(6 / (fan_in +
    fan_out)) and d = 1 - 1e-9^(1/n): for n i.i.d. U(-a, a), P(max |w| < a (1 - d)) = 1e-9."""
    fan_in, fan_out = GLOROT
    W, check = glorot_weights(submission, 40, fan_in, fan_out)
    a = math.sqrt(6 / (fan_in + fan_out))
    assert_within(float(np.max(np.abs(W))), a * DELTA ** (1 / W.size), a * (1 + RTOL),
                  check=check, inputs={"fan_in": fan_in, "fan_out": fan_out},
                  what=f"max |w| (the bound is a = sqrt(6 / (fan_in + fan_out)) = {a:.5g})")


@pytest.mark.question("2.5")
def test_glorot_uniform_mean_and_variance(submission):
    """Mean 0 and mean of w^2 = 2 / (fan_in + fan_out) within Hoeffding bounds: w in [-a, a]
    and w^2 in [0, a^2], so t = range * sqrt(ln(4e9) / (2n)) (1e-9 in all)."""
    fan_in, fan_out = GLOROT
    W, check = glorot_weights(submission, 41, fan_in, fan_out)
    n, a = W.size, math.sqrt(6 / (fan_in + fan_out))
    inputs = {"fan_in": fan_in, "fan_out": fan_out}
    root = math.sqrt(math.log(4 / DELTA) / (2 * n))
    law = {"mean": 0.0, "square": 2 / (fan_in + fan_out)}
    wrong = mistakes.glorot_uniform(fan_in, fan_out, law)
    assert_close(float(np.mean(W)), 0.0, check=f"{check}: the mean of w", inputs=inputs, rtol=0,
                 atol=2 * a * root, mistakes={hint: m["mean"] for hint, m in wrong.items()})
    assert_close(float(np.mean(W ** 2)), law["square"], check=f"{check}: the mean of w^2, the "
                 f"variance 2 / (fan_in + fan_out)", inputs=inputs, rtol=0, atol=a * a * root,
                 mistakes={hint: m["square"] for hint, m in wrong.items()})


@pytest.mark.question("2.5", weight=0.5)
def test_glorot_uniform_draws_from_rng(submission):
    weights = [glorot_weights(submission, seed, 20, 30)[0] for seed in (61, 61, 62)]
    assert_true(np.array_equal(weights[0], weights[1]), "glorot_uniform(20, 30, rng): two calls "
                "with rng = np.random.default_rng(61) gave different weights: they must depend "
                "on `rng` only")
    assert_true(not np.array_equal(weights[0], weights[2]), "glorot_uniform(20, 30, rng): rng = "
                "default_rng(61) and default_rng(62) gave the same weights: draw them from `rng`")


STD_CASES = [("tanh", [12, 16, 16, 10]), ("relu", [8, 12, 12]), ("default", [10, 10, 14])]


@functools.cache
def stds_case(case: int):
    """((x, weights, activation), the population std of each layer's output in a bias-free
    torch forward, the mistakes); "default" leaves the activation out (tanh)."""
    activation, widths = STD_CASES[case]
    rng = case_rng("public", "training.activation_stds", case)
    weights = [rng.normal(0, 1 / math.sqrt(a), (b, a)) for a, b in zip(widths[:-1], widths[1:])]
    x = rng.normal(0, 1, (24, widths[0]))
    act = {"tanh": torch.tanh, "relu": torch.relu, "default": torch.tanh}[activation]
    h, expected = torch.from_numpy(x), []
    for W in weights:
        h = act(h @ torch.from_numpy(W).T)
        expected.append(float(h.std(correction=0)))
    named = None if activation == "default" else activation
    return (x, weights, activation), expected, mistakes.activation_stds(x, weights, named, expected)


@pytest.mark.question("2.5", weight=2.5)
@pytest.mark.parametrize("case", range(len(STD_CASES)))
def test_activation_stds(submission, case):
    (x, weights, activation), expected, wrong = stds_case(case)
    args = () if activation == "default" else (activation,)
    got = submission.call(MODULE, "activation_stds", x, weights, *args)
    shown = f"activation_stds(x, weights{'' if not args else f', {activation!r}'})"
    assert_close(as_list(got), expected, check=f"{shown} against a torch forward",
                 inputs={"x": x}, mistakes=wrong)


# === Q2.6: ReLU, leaky ReLU, dead units ======================================================
RELU_X = np.array([[-2.0, 0.0, 0.5, -1e-3], [3.0, 0.0, -4.0, 1.5], [0.0, -0.7, 2.2, -0.0]])


@functools.cache
def relu_case(function: str, slope):
    """torch.relu / F.leaky_relu of RELU_X (exact zeros included), or its autograd derivative;
    the mistakes. slope None: the default 0.01."""
    t = torch.tensor(RELU_X, requires_grad=True)
    y = torch.relu(t) if function.startswith("relu") else F.leaky_relu(t, slope or 0.01)
    y.sum().backward()
    expected = (t.grad if function.endswith("_grad") else y).detach().numpy().copy()
    extra = (slope or 0.01,) if function.startswith("leaky") else ()
    return expected, getattr(mistakes, function)(RELU_X, *extra, expected)


RELU_CASES = [("relu", None), ("relu_grad", None), ("leaky_relu", None), ("leaky_relu", 0.2),
              ("leaky_relu_grad", None), ("leaky_relu_grad", 0.2)]


@pytest.mark.question("2.6", weight=4)
@pytest.mark.parametrize("function, slope", RELU_CASES)
def test_relu_family(submission, function, slope):
    expected, wrong = relu_case(function, slope)
    extra = () if slope is None else (slope,)
    got = submission.call(MODULE, function, RELU_X, *extra)
    shown = f"{function}(x{', ' + str(slope) if extra else ''})"
    source = "torch autograd" if function.endswith("_grad") else "torch"
    assert_close(got, expected, check=f"{shown} with exact zeros in x, against {source}",
                 inputs={"x": RELU_X}, mistakes=wrong)


@pytest.mark.question("2.6", weight=1.5)
def test_dead_units(submission):
    """Columns: all negative (dead), exact zeros (dead), negatives and zeros (dead), one
    positive entry (alive), random (alive)."""
    rng = case_rng("public", "training.dead_units")
    pre = rng.normal(0, 1, (6, 6))
    pre[:, 0] = -np.abs(pre[:, 0])
    pre[:, 1] = 0.0
    pre[:, 2] = -np.abs(pre[:, 2])
    pre[::2, 2] = 0.0
    pre[:, 3] = -np.abs(pre[:, 3])
    pre[2, 3] = 0.4
    pre[0, 4:] = np.abs(pre[0, 4:]) + 0.1
    expected = float((torch.from_numpy(pre) <= 0).all(dim=0).double().mean())
    got = submission.call(MODULE, "dead_units", pre)
    assert_close(got, expected, check="dead_units(pre_activations) with 3 dead units of 6 (1 "
                 "column of exact zeros)", inputs={"pre_activations": pre},
                 mistakes=mistakes.dead_units(pre, expected))


# === Q2.7: minibatches =======================================================================
def batches_of(submission, n: int, batch_size: int, shuffle: bool, seed: int):
    """(run, check): minibatches(n, batch_size, default_rng(seed), shuffle), run by the grader's
    probe, after checking that its batches are 1-D int arrays of batch_size each (the remainder
    last) that partition range(n)."""
    cap = -(-n // batch_size) + 2
    run = submission.probe("run_minibatches", MODULE, "minibatches", seed, n, batch_size, shuffle,
                           cap, module=MODULE)
    check = f"minibatches(n={n}, batch_size={batch_size}, rng, shuffle={shuffle})"
    assert_true(run["exhausted"], f"{check}: the generator yielded more than {cap} batches; it "
                f"must stop after ceil(n / batch_size) = {-(-n // batch_size)} batches")
    batches = run["batches"]
    for i, batch in enumerate(batches):
        assert_true(batch.ndim == 1 and (batch.dtype.kind in "iu" or batch.size == 0),
                    f"{check}: batch {i} should be a 1-D array of int indices, got dtype "
                    f"{batch.dtype} and shape {batch.shape}")
    full, rest = divmod(n, batch_size)
    expected = [batch_size] * full + ([rest] if rest else [])
    assert_close(np.array([len(b) for b in batches], dtype=np.float64), expected,
                 check=f"{check}: the batch sizes", inputs={},
                 mistakes=mistakes.minibatches(n, batch_size, expected))
    order = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert_true(np.array_equal(np.sort(order), np.arange(n)), f"{check}: the batches do not "
                f"partition range({n}): {len(np.unique(order))} distinct indices among the "
                f"{len(order)} yielded")
    return run, check


@pytest.mark.question("2.7", weight=2)
@pytest.mark.parametrize("n, batch_size", [(23, 5), (20, 4)])
def test_minibatches_partition(submission, n, batch_size):
    run, check = batches_of(submission, n, batch_size, True, seed=70)
    assert_true(run["iterator"], f"{check}: returned a {run['type']}, which is not an iterator: "
                                 f"minibatches is a generator, that yields one batch at a time")


@pytest.mark.question("2.7")
def test_minibatches_without_shuffle(submission):
    run, check = batches_of(submission, 10, 4, False, seed=71)
    got = [batch.tolist() for batch in run["batches"]]
    assert_true(got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], f"{check}: got {got}: with "
                f"shuffle=False the batches follow range order 0, 1, ..., n - 1")


@pytest.mark.question("2.7")
def test_minibatches_shuffle_with_rng(submission):
    """Shuffled across batches (the first batch is not a block of range order: probability
    < 1e-12 for a uniform permutation), the same for one seed, different for two."""
    runs = [batches_of(submission, 53, 10, True, seed)[0] for seed in (72, 72, 73)]
    orders = [[b.tolist() for b in run["batches"]] for run in runs]
    check = "minibatches(n=53, batch_size=10, rng, shuffle=True)"
    assert_true(set(orders[0][0]) not in [set(range(s, s + 10)) for s in range(0, 53, 10)],
                f"{check}: the first batch is {sorted(orders[0][0])}, a block of range order: "
                f"the examples are not shuffled across batches")
    assert_true(orders[0] == orders[1], f"{check}: two runs with rng = default_rng(72) gave "
                                        f"different batches: they must depend on `rng` only")
    assert_true(orders[0] != orders[2], f"{check}: rng = default_rng(72) and default_rng(73) "
                                        f"gave the same batches: draw the order from `rng`")


# === Q2.8: momentum and Adam over several steps ==============================================
SHAPES = {"W": (3, 2), "b": (3,)}
STEPS = 5
OPTIMISERS = {   # name: (function, positional arguments, keyword arguments, gradient scale)
    "momentum": ("momentum_step", (0.1, 0.9), {}, 1.0),
    "adam": ("adam_step", (0.05,), {}, 1.0),
    "adam, small gradients": ("adam_step", (0.05,), {}, 1e-4),
    "adam, given betas and eps": ("adam_step", (0.1,), {"betas": (0.8, 0.99), "eps": 1e-6}, 1.0),
}


@functools.cache
def optimiser_case(name: str):
    """((params, gradients of each step), the params after each step of torch.optim, the
    trajectories of the mistakes)."""
    function, args, kwargs, scale = OPTIMISERS[name]
    rng = case_rng("public", "training.optimiser", name)
    params = {k: rng.normal(0, 1, s) for k, s in SHAPES.items()}
    grads = [{k: scale * rng.normal(0, 1, s) for k, s in SHAPES.items()} for _ in range(STEPS)]
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    if function == "momentum_step":
        optimiser = torch.optim.SGD(list(tensors.values()), lr=args[0], momentum=args[1])
    else:
        optimiser = torch.optim.Adam(list(tensors.values()), lr=args[0], **kwargs)
    expected = []
    for g in grads:
        for k, t in tensors.items():
            t.grad = torch.tensor(g[k])
        optimiser.step()
        expected.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
    if function == "momentum_step":
        wrong = mistakes.momentum_step(params, grads, *args, expected)
    else:
        wrong = mistakes.adam_step(params, grads, args[0], kwargs.get("betas", (0.9, 0.999)),
                                   kwargs.get("eps", 1e-8), expected)
    return (params, grads), expected, wrong


@pytest.mark.question("2.8", weight=5)
@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_optimiser_matches_torch(submission, name):
    """Each step's update (new params - previous params) against torch.optim's, the state None
    at the first call, then what the previous call returned (it stays where your module runs);
    then the params and grads passed in unchanged, and the state too (two calls on copies of
    the same state give the same params)."""
    function, args, kwargs, _ = OPTIMISERS[name]
    (params, grads), expected, wrong = optimiser_case(name)
    trajectory = submission.probe("run_optimiser", MODULE, function, params, grads, *args,
                                  module=MODULE, **kwargs)
    call = f"{function}(params, grads, state, {', '.join(map(str, args))}" + "".join(
        f", {k}={v}" for k, v in kwargs.items()) + ")"
    expected = [params] + expected
    wrong = {hint: [params] + run for hint, run in wrong.items()}
    inputs = {"params": params, "steps": STEPS}
    previous = params
    for step, record in enumerate(trajectory, start=1):
        got, want = record["params"], expected[step]
        assert_true(isinstance(got, dict) and set(got) == set(want), f"{call}, step {step}: "
                    f"expected new params as a dict with keys {sorted(want)}, got "
                    f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
        for key in want:
            update = as_array(got[key], call, f"params[{key!r}] after step {step}") - previous[key]
            assert_close(update, want[key] - expected[step - 1][key],
                         check=f"{call}: the update of params[{key!r}] at step {step} of {STEPS}",
                         inputs=inputs, mistakes={hint: run[step][key] - run[step - 1][key]
                                                  for hint, run in wrong.items()})
        for what in ("params", "grads"):
            assert_true(not record[f"{what}_modified"], f"{call}, step {step}: modified its "
                        f"input {what} in place\n  functions must not change their inputs: "
                        f"return new dicts of new arrays")
        assert_true(record["pure"] is not False, f"{call}, step {step}: two calls on copies of "
                    f"the same (params, grads, state) gave different params: a call changed the "
                    f"state it was given (or is not deterministic); build a new state instead of "
                    f"updating the old one in place")
        previous = got
