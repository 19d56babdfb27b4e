"""Q2.4–Q2.6 — sigmoid saturation, Glorot initialisation, ReLU and dead units, against torch.

Every test reads: seeded inputs -> the torch reference (@reference) -> the student's result
(submission.call, which also fails a call that modifies its inputs) -> checks.* with the hints
of autograder/mistakes/training.py, each shown only when the student's result matches that
mistake's value (for Glorot's random weights: the statistics of a mistaken law).

Bugs these checks catch, each named where it is caught:
- sigmoid: the naive 1 / (1 + exp(-x)) (exp overflows at x = -1e4: a FloatingPointError under
  strict numpy); a "stable" np.where(x >= 0, 1/(1+exp(-x)), exp(x)/(1+exp(x))), which still
  evaluates both branches everywhere and overflows; e^x / (1 + e^x) (nan at 1e4); σ(−x); tanh;
  the derivative.
- sigmoid_grad: x * (1 - x) (the formula written for the OUTPUT s, applied to the pre-activation);
  1 - sigmoid(x)^2; σ itself; the sign; tanh's derivative; σ'(σ(x)); an unstable sigmoid inside
  (overflow at |x| = 1e4).
- hidden_grad_norms: gradients w.r.t. the pre-activations instead of the layer outputs h_l;
  norms listed output side first; the loss summed instead of averaged; dL/dx or dL/dlogits
  listed too; squared norms; the activation's derivative forgotten or taken at the output h;
  relu'(0) taken as 1 does not show on random inputs and is graded in Q2.6. With sigmoid the
  norms torch gives shrink toward the input (σ' <= 1/4): matching them is the vanishing
  gradient.
- glorot_uniform: shape (fan_in, fan_out); bound sqrt(6 / fan_in), sqrt(6 / fan_out),
  sqrt(3 / fan_in), sqrt(1 / fan_in) or sqrt(2 / (fan_in + fan_out)); a normal distribution
  (values beyond the bound); U(0, a) (mean a / 2); np.random.* or a fixed seed instead of rng.
- activation_stds: ddof=1 (sample std); the std of the pre-activations; the mean of per-unit
  stds; no activation; variances; h @ W instead of h @ W.T; the input's std listed first; a
  default activation other than tanh; a callable activation refused.
- relu family: min(x, 0), |x| or the derivative for relu; relu_grad / leaky_relu_grad 1 at x = 0
  (x >= 0 instead of x > 0), the function itself for its derivative; leaky_relu_grad giving 0
  on the negative side; leaky_relu without its slope or with the slope on the positive side;
  relu modifying x in place (x[x < 0] = 0).
- dead_units: < 0 instead of <= 0 (columns of exact zeros are dead); a unit dead when ANY
  example is <= 0; the fraction of non-positive entries; a count instead of a fraction; the
  wrong axis; the fraction of live units.
"""
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import (RTOL, as_array, assert_close, assert_true, assert_within,
                               case_rng, strict_result)
from autograder.mistakes import training as mistakes
from autograder.references import reference

MODULE = "training"
DELTA = 1e-9   # a correct implementation fails a statistical check with probability <= DELTA


def as_list(got):
    """A tuple of numbers is accepted where the contract says list (as_array refuses tuples)."""
    return list(got) if isinstance(got, tuple) else got


# ---------------------------------------------------------------------------------------------
# Q2.4 — sigmoid, its derivative, and vanishing gradients
# ---------------------------------------------------------------------------------------------

@functools.cache
def sigmoid_inputs(case: int) -> np.ndarray:
    rng = case_rng("training.sigmoid", case)
    if case == 0:
        return rng.normal(0, 4, (7,))
    if case == 1:
        return rng.normal(0, 4, (3, 5))
    if case == 2:
        return rng.normal(0, 4, (2, 3, 4))
    if case == 3:   # extreme values, both signs, around exp's overflow point (709.8)
        return np.array([-1e4, -1000.0, -745.0, -710.0, -40.0, -1.0, 0.0, 1.0, 40.0, 710.0,
                         745.0, 1000.0, 1e4])
    return rng.uniform(-1e4, 1e4, (4, 5))


EXTREME = (3, 4)


@reference
def sigmoid_reference(function: str, case: int):
    """(torch.sigmoid(x), or its derivative by autograd; the values of its mistakes). Beyond
    |x| ~ 37 autograd gives exactly 0 where the true derivative is below 1e-16: the absolute
    tolerance 1e-6 accepts both."""
    x = sigmoid_inputs(case)
    t = torch.tensor(x, requires_grad=True)
    s = torch.sigmoid(t)
    s.sum().backward()
    expected = s.detach().numpy() if function == "sigmoid" else t.grad.numpy()
    return expected, getattr(mistakes, function)(x, expected)


@pytest.mark.question("2.4", weight=1)
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
@pytest.mark.parametrize("case", [0, 1, 2])
def test_sigmoid_and_derivative_match_torch(submission, function, case):
    """torch.sigmoid and its autograd derivative on moderate inputs. Fails: σ(−x), tanh, the
    derivative for sigmoid; x(1 − x), 1 − σ², σ, the sign, tanh', σ'(σ(x)) for sigmoid_grad."""
    x = sigmoid_inputs(case)
    expected, wrong = sigmoid_reference(function, case)
    got = submission.call(MODULE, function, x)
    source = "torch autograd" if function == "sigmoid_grad" else "torch.sigmoid"
    assert_close(got, expected, check=f"{function}(x) against {source}", inputs={"x": x},
                 mistakes=wrong)


@pytest.mark.question("2.4", weight=1.5)
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
@pytest.mark.parametrize("case", EXTREME)
def test_sigmoid_and_derivative_stable_up_to_1e4(submission, function, case):
    """No overflow, invalid-value or divide-by-zero warning for |x| up to 1e4 (an exponential
    that underflows to 0 is fine, as the docstrings say), and torch's values. Fails:
    1 / (1 + exp(−x)), np.where over two unstable branches, e^x / (1 + e^x)."""
    x = sigmoid_inputs(case)
    expected, wrong = sigmoid_reference(function, case)
    check = f"{function}(x) with |x| up to 1e4, under np.errstate(over/invalid/divide='raise')"
    got = strict_result(lambda: submission.call_strict(MODULE, function, x),
                        check=check, hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"x": x}, mistakes=wrong)


# (activation, batch, input dim, hidden widths, classes, weight scale): depth >= 5 hidden layers
DEEP_CASES = [
    ("sigmoid", 32, 10, [16, 16, 16, 16, 16, 16], 5, 1.0),
    ("tanh", 24, 8, [12, 20, 9, 15, 11], 4, 1.0),
    ("relu", 16, 6, [10, 14, 12, 8, 10], 3, 1.4),
    ("sigmoid", 1, 5, [7, 6, 9, 5, 8], 2, 1.0),
]


@functools.cache
def deep_inputs(case: int):
    """x, y, weights (scale / sqrt(fan_in) normal), biases for a deep MLP."""
    activation, b, d, widths, k, scale = DEEP_CASES[case]
    rng = case_rng("training.deep", case)
    sizes = [d] + widths + [k]
    weights = [rng.normal(0, scale / math.sqrt(n_in), (n_out, n_in))
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.1, n_out) for n_out in sizes[1:]]
    return rng.normal(0, 1, (b, d)), rng.integers(0, k, b), weights, biases, activation


@reference
def hidden_grads_reference(case: int):
    """(the norms of dL/dh_l for every hidden layer by torch autograd, the values of their
    mistakes)."""
    x, y, weights, biases, activation = deep_inputs(case)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    h = torch.tensor(x, requires_grad=True)
    hiddens = []
    for W, b in zip(weights[:-1], biases[:-1]):
        h = act(F.linear(h, torch.from_numpy(W), torch.from_numpy(b)))
        h.retain_grad()
        hiddens.append(h)
    logits = F.linear(h, torch.from_numpy(weights[-1]), torch.from_numpy(biases[-1]))
    F.cross_entropy(logits, torch.from_numpy(y)).backward()
    expected = [float(t.grad.norm()) for t in hiddens]
    return expected, mistakes.hidden_grad_norms(x, y, weights, biases, activation, expected)


@pytest.mark.question("2.4", weight=2)
@pytest.mark.parametrize("case", range(len(DEEP_CASES)))
def test_hidden_grad_norms_match_autograd(submission, case):
    """||dL/dh_l|| per hidden layer, input side first, by torch autograd (on the 6-layer sigmoid
    net they shrink toward the input). Fails: the pre-activations' gradients, the order
    reversed, a summed loss, dL/dx or dL/dlogits listed, squared norms, act' forgotten or taken
    at h."""
    x, y, weights, biases, activation = deep_inputs(case)
    expected, wrong = hidden_grads_reference(case)
    got = submission.call(MODULE, "hidden_grad_norms", x, y, weights, biases, activation)
    assert_close(as_list(got), expected,
                 check=f"hidden_grad_norms(x, y, weights, biases, {activation!r}) on "
                       f"{len(weights)} layers, against torch autograd",
                 inputs={"x": x, "y": y}, mistakes=wrong)


# ---------------------------------------------------------------------------------------------
# Q2.5 — Glorot initialisation: shape, bound, variance; never exact values
# ---------------------------------------------------------------------------------------------

GLOROT_CASES = [(300, 100), (100, 400), (3, 5), (64, 64)]


def glorot_weights(submission, seed: int, fan_in: int, fan_out: int):
    """(W, check): glorot_uniform(fan_in, fan_out, default_rng(seed)), shaped (fan_out, fan_in)."""
    check = f"glorot_uniform({fan_in}, {fan_out}, rng)"
    W = as_array(submission.call_seeded(MODULE, "glorot_uniform", seed, fan_in, fan_out), check,
                 f"fan_in={fan_in}, fan_out={fan_out}")
    assert_true(W.shape == (fan_out, fan_in),
                f"{check}: expected shape (fan_out, fan_in) = {(fan_out, fan_in)}, as "
                f"torch.nn.Linear's weight, got {W.shape}")
    return W, check


def check_glorot_bound(W: np.ndarray, fan_in: int, fan_out: int, check: str) -> None:
    """max |w| in [a (1 - d), a (1 + RTOL)], a = sqrt(6 / (fan_in + fan_out)), d = 1 - DELTA^(1/n)
    (see test_glorot_uniform_shape_and_bound)."""
    a = math.sqrt(6 / (fan_in + fan_out))
    slack = 1 - DELTA ** (1 / W.size)
    assert_within(float(np.max(np.abs(W))), a * (1 - slack), a * (1 + RTOL), check=check,
                  inputs={"fan_in": fan_in, "fan_out": fan_out},
                  what=f"max |w| (the bound is a = sqrt(6 / (fan_in + fan_out)) = {a:.5g})")


@pytest.mark.question("2.5", weight=1.5)
@pytest.mark.parametrize("case", range(len(GLOROT_CASES)))
def test_glorot_uniform_shape_and_bound(submission, case):
    """Shape (fan_out, fan_in); every |w| <= a = sqrt(6 / (fan_in + fan_out)) (up to the value
    comparisons' relative tolerance, for float32 rounding); and max |w| close to a: for n i.i.d.
    U(-a, a), P(max |w| < a (1 - d)) = (1 - d)^n, which is DELTA = 1e-9 for d = 1 - DELTA^(1/n)
    (0.0007 for n = 30000, 0.75 for n = 15). A larger bound (sqrt(6 / fan_in), sqrt(6 / fan_out):
    always larger) or a normal law puts values beyond a; a smaller one (sqrt(2 / (fan_in +
    fan_out)); sqrt(3 / fan_in) when fan_in > fan_out) keeps max |w| below a (1 - d). Which bound
    it was is named by the variance test."""
    fan_in, fan_out = GLOROT_CASES[case]
    W, check = glorot_weights(submission, 4000 + case, fan_in, fan_out)
    check_glorot_bound(W, fan_in, fan_out, check)


@pytest.mark.question("2.5", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_glorot_uniform_mean_and_variance(submission, case):
    """Mean 0 and mean of w^2 = 2 / (fan_in + fan_out) (the variance), within Hoeffding bounds.

    The n entries are i.i.d. U(-a, a). Each w lies in [-a, a], so P(|mean(w)| >= t1) <=
    2 exp(-2 n t1^2 / (2a)^2): t1 = 2a sqrt(ln(4 / DELTA) / (2n)). Each w^2 lies in [0, a^2]
    with E[w^2] = a^2 / 3 = 2 / (fan_in + fan_out), so P(|mean(w^2) - a^2/3| >= t2) <=
    2 exp(-2 n t2^2 / a^4): t2 = a^2 sqrt(ln(4 / DELTA) / (2n)) (DELTA / 2 for each of the two
    checks). With n >= 30000, t2 / (a^2/3) < 5.2 %: variances 2 / fan_in, 2 / fan_out,
    1 / fan_in or a third of the target fail, and are told apart; U(0, a) (mean a/2) fails the
    mean."""
    fan_in, fan_out = GLOROT_CASES[case]
    W, check = glorot_weights(submission, 5000 + case, fan_in, fan_out)
    n = W.size
    a = math.sqrt(6 / (fan_in + fan_out))
    root = math.sqrt(math.log(4 / DELTA) / (2 * n))
    expected = {"mean": 0.0, "square": 2 / (fan_in + fan_out)}
    wrong = mistakes.glorot_uniform(fan_in, fan_out, expected)
    bound = "(a bound a correct implementation breaks with probability < 1e-9)"
    inputs = {"fan_in": fan_in, "fan_out": fan_out}
    assert_close(float(np.mean(W)), 0.0, check=f"{check}: the mean of w {bound}", inputs=inputs,
                 rtol=0, atol=2 * a * root,
                 mistakes={hint: law["mean"] for hint, law in wrong.items()})
    assert_close(float(np.mean(W ** 2)), expected["square"],
                 check=f"{check}: the mean of w^2, the variance 2 / (fan_in + fan_out) {bound}",
                 inputs=inputs, rtol=0, atol=a * a * root,
                 mistakes={hint: law["square"] for hint, law in wrong.items()})


@pytest.mark.question("2.5", weight=0.5)
def test_glorot_uniform_draws_from_rng(submission):
    """Same seed -> the same weights; two seeds -> different weights (for continuous uniform
    draws two seeds agree with probability 0); each call also has the shape and the bound above
    (so constant weights never pass)."""
    fan_in, fan_out = 20, 30
    weights = []
    for seed in (61, 61, 62):
        W, check = glorot_weights(submission, seed, fan_in, fan_out)
        check_glorot_bound(W, fan_in, fan_out, check)
        weights.append(W)
    W1, W2, W3 = weights
    assert_true(np.array_equal(W1, W2),
                f"{check}: two calls with rng = np.random.default_rng(61) gave different "
                f"weights: they must depend on `rng` only")
    assert_true(not np.array_equal(W1, W3),
                f"{check}: rng = default_rng(61) and default_rng(62) gave the same weights: "
                f"they must be drawn from `rng`")


# (activation, batch, widths, weight std x sqrt(fan_in)); "default" omits the argument (tanh);
# the last case passes a callable (softsign), built in the child.
STD_CASES = [
    ("tanh", 64, [20, 30, 30, 25, 30], 1.0),
    ("tanh", 40, [16, 16, 16, 16], 0.2),        # too small: the stds collapse
    ("tanh", 40, [16, 24, 16, 24], 4.0),        # too large: tanh saturates
    ("sigmoid", 32, [10, 12, 12], 1.0),
    ("relu", 32, [10, 12, 12, 7], 1.5),
    ("default", 30, [8, 8, 12, 8], 1.0),
    ("softsign", 30, [9, 11, 11, 6], 1.5),
]
CALLABLE = len(STD_CASES) - 1
TORCH_STD_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
                         "default": torch.tanh, "softsign": F.softsign}


@functools.cache
def std_inputs(case: int):
    activation, b, widths, scale = STD_CASES[case]
    rng = case_rng("training.activation_stds", case)
    weights = [rng.normal(0, scale / math.sqrt(n_in), (n_out, n_in))
               for n_in, n_out in zip(widths[:-1], widths[1:])]
    return rng.normal(0, 1, (b, widths[0])), weights, activation


@reference
def stds_reference(case: int):
    """(the population std of each layer's output in a bias-free torch forward, the values of
    its mistakes)."""
    x, weights, activation = std_inputs(case)
    act = TORCH_STD_ACTIVATIONS[activation]
    h, expected = torch.from_numpy(x), []
    for W in weights:
        h = act(h @ torch.from_numpy(W).T)
        expected.append(float(h.std(correction=0)))
    named = {"default": None, "softsign": F.softsign}.get(activation, activation)
    return expected, mistakes.activation_stds(x, weights, named, expected)


@pytest.mark.question("2.5", weight=2.5)
@pytest.mark.parametrize("case", range(CALLABLE))
def test_activation_stds_match_torch_forward(submission, case):
    """Population stds of act(h W^T), layer by layer, as a torch forward gives them. Fails:
    ddof=1, the pre-activations, per-unit stds, no activation, variances, h @ W, the input's std
    listed, another default activation than tanh."""
    x, weights, activation = std_inputs(case)
    expected, wrong = stds_reference(case)
    args = () if activation == "default" else (activation,)
    got = submission.call(MODULE, "activation_stds", x, weights, *args)
    shown = f"activation_stds(x, weights{'' if not args else f', {activation!r}'})"
    assert_close(as_list(got), expected, check=f"{shown} against a torch forward",
                 inputs={"x": x}, mistakes=wrong)


@pytest.mark.question("2.5", weight=0.25)
def test_activation_stds_accepts_a_callable(submission):
    """The contract accepts a name or a callable. Fails: a callable refused or ignored."""
    x, weights, activation = std_inputs(CALLABLE)
    expected, wrong = stds_reference(CALLABLE)
    got = submission.probe("activation_stds_callable", MODULE, "activation_stds", x, weights,
                           activation, module=MODULE)
    assert_close(as_list(got), expected,
                 check="activation_stds(x, weights, act) with act = lambda a: a / (1 + |a|), a "
                       "callable applied elementwise", inputs={"x": x}, mistakes=wrong)


# ---------------------------------------------------------------------------------------------
# Q2.6 — ReLU, leaky ReLU, their gradients (0 at x = 0 like torch), dead units
# ---------------------------------------------------------------------------------------------

@functools.cache
def relu_inputs(case: int) -> np.ndarray:
    """Random values with exact zeros (where the derivative's convention matters)."""
    rng = case_rng("training.relu", case)
    x = rng.normal(0, 1, [(6, 7), (3, 4, 5), (10,)][case])
    x.flat[rng.choice(x.size, max(2, x.size // 5), replace=False)] = 0.0
    x.flat[0] = 0.0
    return x


RELU_SLOPES = {0: None, 1: 0.2, 2: 0.5}   # None: the default slope 0.01


@reference
def relu_reference(function: str, case: int):
    """(torch.relu / F.leaky_relu of x, or their autograd derivative; the values of its
    mistakes)."""
    x = relu_inputs(case)
    t = torch.tensor(x, requires_grad=True)
    slope = RELU_SLOPES[case] or 0.01
    y = torch.relu(t) if function.startswith("relu") else F.leaky_relu(t, slope)
    y.sum().backward()
    expected = (t.grad if function.endswith("_grad") else y).detach().numpy().copy()
    extra = (slope,) if function.startswith("leaky") else ()
    return expected, getattr(mistakes, function)(x, *extra, expected)


@pytest.mark.question("2.6", weight=4)
@pytest.mark.parametrize("function", ["relu", "relu_grad", "leaky_relu", "leaky_relu_grad"])
@pytest.mark.parametrize("case", range(3))
def test_relu_family_matches_torch_autograd(submission, function, case):
    """torch.relu, F.leaky_relu and their autograd derivatives on inputs with exact zeros.
    Fails: the derivative 1 at 0, the function for its derivative, 0 on the leaky negative
    side, no slope or the slope on the positive side, min(x, 0), |x|, x changed in place."""
    x = relu_inputs(case)
    expected, wrong = relu_reference(function, case)
    slope = RELU_SLOPES[case]
    extra = (slope,) if function.startswith("leaky") and slope is not None else ()
    got = submission.call(MODULE, function, x, *extra)
    shown = f"{function}(x{', ' + str(slope) if extra else ''})"
    source = "torch autograd" if function.endswith("_grad") else "torch"
    assert_close(got, expected,
                 check=f"{shown} with {int((x == 0).sum())} exact zeros, against {source}",
                 inputs={"x": x}, mistakes=wrong)


@functools.cache
def dead_inputs(case: int) -> np.ndarray:
    """(B, H) pre-activations: dead columns (all negative, all exact zeros, negatives and zeros)
    and live ones (a single positive entry among negatives and zeros, a single 1e-12)."""
    rng = case_rng("training.dead_units", case)
    b, h = [(16, 10), (5, 37), (8, 6), (9, 4)][case]
    pre = rng.normal(0, 1, (b, h))
    if case == 2:     # every unit dead
        pre = -np.abs(pre)
        pre[:, 0] = 0.0
        return pre
    if case == 3:     # none dead
        pre[0] = np.abs(pre[0]) + 0.1
        return pre
    pre[:, 0] = -np.abs(pre[:, 0])          # dead: all negative
    pre[:, 1] = 0.0                          # dead: exact zeros
    pre[:, 2] = -np.abs(pre[:, 2])
    pre[::2, 2] = 0.0                        # dead: negatives and zeros
    pre[:, 3] = -np.abs(pre[:, 3])
    pre[b // 2, 3] = 0.3                     # alive: one positive entry
    pre[:, 4] = 0.0
    pre[-1, 4] = 1e-12                       # alive: barely
    if h > 8:
        cols = rng.choice(np.arange(5, h), (h - 5) // 2, replace=False)
        pre[:, cols] = -np.abs(pre[:, cols]) * (rng.random((b, len(cols))) < 0.7)
    return pre


@reference
def dead_reference(case: int):
    """(the fraction of columns <= 0 on every row, in torch; the values of its mistakes)."""
    pre = dead_inputs(case)
    expected = float((torch.from_numpy(pre) <= 0).all(dim=0).double().mean())
    return expected, mistakes.dead_units(pre, expected)


@pytest.mark.question("2.6", weight=1.5)
@pytest.mark.parametrize("case", range(4))
def test_dead_units(submission, case):
    """The fraction of units <= 0 on every example (all dead, none dead, exact zeros, a 1e-12).
    Fails: < 0, any example, entries, a count, rows, the live fraction."""
    pre = dead_inputs(case)
    expected, wrong = dead_reference(case)
    got = submission.call(MODULE, "dead_units", pre)
    dead = (pre <= 0).all(axis=0)
    assert_close(got, expected,
                 check=f"dead_units(pre_activations) with {int(dead.sum())} dead units of "
                       f"{pre.shape[1]} ({int(((pre == 0).all(axis=0)).sum())} columns of exact "
                       f"zeros)", inputs={"pre_activations": pre}, mistakes=wrong)
