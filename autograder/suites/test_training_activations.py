"""Q2.4–Q2.6 — sigmoid saturation, Glorot initialisation, ReLU and dead units, against torch.

Bugs these checks catch, each named where it is caught:
- sigmoid: the naive 1 / (1 + exp(-x)) (exp overflows at x = -1e4: a FloatingPointError under
  strict numpy); a "stable" np.where(x >= 0, 1/(1+exp(-x)), exp(x)/(1+exp(x))), which still
  evaluates both branches everywhere and overflows.
- sigmoid_grad: x * (1 - x) (the formula written for the OUTPUT s, applied to the pre-activation);
  1 - sigmoid(x)^2; an unstable sigmoid inside (overflow at |x| = 1e4).
- hidden_grad_norms: gradients w.r.t. the pre-activations instead of the layer outputs h_l;
  norms listed output side first; the loss summed instead of averaged; dL/dx or dL/dlogits
  listed too; relu'(0) taken as 1 does not show on random inputs and is graded in Q2.6.
- glorot_uniform: shape (fan_in, fan_out); bound sqrt(6 / fan_in), sqrt(6 / fan_out) or
  sqrt(2 / (fan_in + fan_out)); a normal distribution (values beyond the bound); U(0, a) (mean
  a / 2); np.random.* or a fixed seed instead of rng.
- activation_stds: ddof=1 (sample std); the std of the pre-activations; the mean of per-unit
  stds; h @ W instead of h @ W.T; the input's std listed first; a default activation other
  than tanh; a callable activation refused.
- relu_grad / leaky_relu_grad: 1 at x = 0 (x >= 0 instead of x > 0); leaky_relu_grad giving 0 on
  the negative side; the wrong default slope; relu modifying x in place (x[x < 0] = 0).
- dead_units: < 0 instead of <= 0 (columns of exact zeros are dead); a unit dead when ANY
  example is <= 0; the fraction of non-positive entries; a count instead of a fraction; the
  wrong axis.
"""
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import (Mismatch, as_array, assert_close, assert_true, assert_unchanged,
                               case_rng)
from autograder.isolation.sandbox import StudentCodeError

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


@functools.cache
def reference_sigmoid(case: int):
    """(sigma(x), d sigma / dx) from torch.sigmoid and autograd. Beyond |x| ~ 37 autograd gives
    exactly 0 where the true derivative is below 1e-16: the absolute tolerance 1e-6 accepts both."""
    x = torch.tensor(sigmoid_inputs(case), requires_grad=True)
    s = torch.sigmoid(x)
    s.sum().backward()
    return s.detach().numpy(), x.grad.numpy()


def call_stable(submission, function, x, check):
    """The student's result under numpy's strict error state, a FloatingPointError as Mismatch."""
    try:
        return submission.call_strict(MODULE, function, x)
    except StudentCodeError as error:
        if error.kind != "raised":
            raise
        raise Mismatch(f"{check}: {error}\n  hint: exp overflows for |x| in the hundreds; compute "
                       f"with exp(-|x|), which is at most 1, and np.where does not help because it "
                       f"evaluates both branches everywhere (Q2.4)") from None


def check_sigmoid(submission, function, case):
    x = sigmoid_inputs(case)
    extreme = case in EXTREME
    check = f"{function}(x)" + (" with |x| up to 1e4, overflow/invalid/divide warnings raised"
                                if extreme else "")
    got = (call_stable(submission, function, x, check) if extreme
           else submission.call(MODULE, function, x))
    s, ds = reference_sigmoid(case)
    mistakes = {} if function == "sigmoid" else {
        "sigmoid_grad takes the PRE-activation x: compute s = sigmoid(x), then s * (1 - s) "
        "(x * (1 - x) is the formula written for the output) (Q2.4)": x * (1 - x),
        "1 - sigmoid(x)^2 is not the sigmoid's derivative: it is s * (1 - s) (Q2.4)": 1 - s ** 2,
    }
    assert_close(got, s if function == "sigmoid" else ds, check=check + (
        " against torch autograd" if function == "sigmoid_grad" else " against torch.sigmoid"),
        inputs={"x": x}, mistakes=mistakes)


@pytest.mark.question("2.4", weight=1)
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
@pytest.mark.parametrize("case", [0, 1, 2])
def test_sigmoid_and_derivative_match_torch(submission, function, case):
    check_sigmoid(submission, function, case)


@pytest.mark.question("2.4", weight=1.5)
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
@pytest.mark.parametrize("case", EXTREME)
def test_sigmoid_and_derivative_stable_up_to_1e4(submission, function, case):
    """No overflow, invalid or divide-by-zero warning (underflow is fine) for |x| up to 1e4.
    Beyond |x| ~ 37 torch's autograd derivative is exactly 0 while the true value is below
    1e-16: the absolute tolerance (1e-6) accepts both."""
    check_sigmoid(submission, function, case)


@pytest.mark.question("2.4", weight=0.25)
@pytest.mark.parametrize("function", ["sigmoid", "sigmoid_grad"])
def test_sigmoid_input_not_modified(submission, function):
    x = sigmoid_inputs(1)
    _, (x_after,), _ = submission.call_with_inputs(MODULE, function, x)
    assert_unchanged({"x": x}, {"x": x_after}, check=f"{function}(x)")


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


TORCH_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


@functools.cache
def reference_hidden_grads(case: int):
    """Norms of dL/dh_l and dL/da_l for every hidden layer, plus dL/dx and dL/dlogits (torch)."""
    x, y, weights, biases, activation = deep_inputs(case)
    act = TORCH_ACTIVATIONS[activation]
    h = torch.tensor(x, requires_grad=True)
    inputs, hiddens, pres = h, [], []
    for W, b in zip(weights[:-1], biases[:-1]):
        a = h @ torch.from_numpy(W).T + torch.from_numpy(b)
        a.retain_grad()
        h = act(a)
        h.retain_grad()
        pres.append(a)
        hiddens.append(h)
    logits = h @ torch.from_numpy(weights[-1]).T + torch.from_numpy(biases[-1])
    logits.retain_grad()
    F.cross_entropy(logits, torch.from_numpy(y)).backward()
    norm = lambda t: float(t.grad.norm())  # noqa: E731
    return ([norm(t) for t in hiddens], [norm(t) for t in pres], norm(inputs), norm(logits))


@pytest.mark.question("2.4", weight=1.75)
@pytest.mark.parametrize("case", range(len(DEEP_CASES)))
def test_hidden_grad_norms_match_autograd(submission, case):
    x, y, weights, biases, activation = deep_inputs(case)
    norms, pre_norms, input_norm, logit_norm = reference_hidden_grads(case)
    got = submission.call(MODULE, "hidden_grad_norms", x, y, weights, biases, activation)
    b = len(y)
    assert_close(as_list(got), norms,
                 check=f"hidden_grad_norms(x, y, weights, biases, {activation!r}) on "
                       f"{len(weights)} layers, against torch autograd",
                 inputs={"x": x, "y": y}, mistakes={
        "listed the gradients w.r.t. the pre-activations a_l: the question asks for dL/dh_l, "
        "h_l = act(a_l) the layer's output (Q2.4)": pre_norms,
        "listed output side first: the list starts at the first hidden layer (Q2.4)": norms[::-1],
        "the loss was summed over the batch: L is the MEAN cross-entropy (Q2.4)":
            [n * b for n in norms],
        "listed dL/dx too: the list holds one norm per hidden layer output, len(weights) - 1 "
        "numbers (Q2.4)": [input_norm] + norms,
        "listed dL/dlogits too: the list holds one norm per hidden layer output, "
        "len(weights) - 1 numbers (Q2.4)": norms + [logit_norm],
    })


@pytest.mark.question("2.4", weight=0.25)
def test_sigmoid_gradients_vanish_toward_the_input(submission):
    """Behaviour on a deep sigmoid net (6 hidden layers): sigma' <= 1/4, so the gradient norms
    shrink from the output to the input — in torch, and in the student's list."""
    x, y, weights, biases, activation = deep_inputs(0)
    norms = reference_hidden_grads(0)[0]
    assert all(a < b for a, b in zip(norms, norms[1:])), "suite: torch norms should shrink"
    got = as_array(as_list(submission.call(MODULE, "hidden_grad_norms", x, y, weights, biases,
                                           activation)), "hidden_grad_norms", "a deep sigmoid MLP")
    shown = ", ".join(f"{n:.2e}" for n in norms)
    check = (f"hidden_grad_norms on a sigmoid MLP with {len(weights) - 1} hidden layers: the "
             f"norms should shrink toward the input (torch: {shown})")
    assert_true(got.shape == (len(norms),), f"{check}: expected {len(norms)} numbers, got shape "
                                            f"{got.shape}")
    assert_true(bool(np.all(got[:-1] < got[1:])),
                f"{check}; got {', '.join(f'{n:.2e}' for n in got)} (Q2.4)")


@pytest.mark.question("2.4", weight=0.25)
def test_hidden_grad_norms_inputs_not_modified(submission):
    x, y, weights, biases, activation = deep_inputs(2)
    _, after, _ = submission.call_with_inputs(MODULE, "hidden_grad_norms", x, y, weights, biases,
                                              activation)
    assert_unchanged({"x": x, "y": y, "weights": weights, "biases": biases},
                     dict(zip(["x", "y", "weights", "biases"], after)),
                     check=f"hidden_grad_norms(x, y, weights, biases, {activation!r})")


# ---------------------------------------------------------------------------------------------
# Q2.5 — Glorot initialisation: shape, bound, variance; never exact values
# ---------------------------------------------------------------------------------------------

GLOROT_CASES = [(300, 100), (100, 400), (3, 5), (64, 64)]


def glorot_call(submission, seed, fan_in, fan_out):
    result, _ = submission.probe("call_seeded", MODULE, "glorot_uniform", seed, 2, fan_in, fan_out,
                                 module=MODULE)
    check = f"glorot_uniform({fan_in}, {fan_out}, rng)"
    W = as_array(result, check, f"fan_in={fan_in}, fan_out={fan_out}")
    hint = ("\n  hint: the weight of a linear layer is (fan_out, fan_in), as torch.nn.Linear's "
            "(Q2.5)" if W.shape == (fan_in, fan_out) else "")
    assert_true(W.shape == (fan_out, fan_in),
                f"{check}: expected shape (fan_out, fan_in) = {(fan_out, fan_in)}, got "
                f"{W.shape}{hint}")
    return W, check


def bound_slack(n: int) -> float:
    """delta with P(max of n |U(-a, a)| < a (1 - delta)) = (1 - delta)^n = DELTA."""
    return 1 - DELTA ** (1 / n)


@pytest.mark.question("2.5", weight=1.5)
@pytest.mark.parametrize("case", range(len(GLOROT_CASES)))
def test_glorot_uniform_shape_and_bound(submission, case):
    """Shape (fan_out, fan_in); every |w| <= a = sqrt(6 / (fan_in + fan_out)) (up to float32
    rounding: 1e-6 relative); and max |w| close
    to a: for n i.i.d. U(-a, a), P(max |w| < a (1 - d)) = (1 - d)^n, which is DELTA = 1e-9 for
    d = 1 - DELTA^(1/n) (0.0007 for n = 30000, 0.75 for n = 15). A larger bound (sqrt(6/fan_in):
    always larger) or a normal law puts values beyond a; a smaller bound (sqrt(2 / (fan_in +
    fan_out)), sqrt(6/fan_out) when fan_out > fan_in) keeps max |w| below a (1 - d)."""
    fan_in, fan_out = GLOROT_CASES[case]
    W, check = glorot_call(submission, 4000 + case, fan_in, fan_out)
    a = math.sqrt(6 / (fan_in + fan_out))
    top = float(np.max(np.abs(W)))
    d = bound_slack(W.size)
    candidates = {
        "sqrt(6 / fan_in)": math.sqrt(6 / fan_in), "sqrt(6 / fan_out)": math.sqrt(6 / fan_out),
        "sqrt(2 / (fan_in + fan_out))": math.sqrt(2 / (fan_in + fan_out)),
        "sqrt(3 / fan_in)": math.sqrt(3 / fan_in), "sqrt(1 / fan_in)": math.sqrt(1 / fan_in),
    }
    guess = [name for name, bound in candidates.items()
             if bound * (1 - d) <= top <= bound * (1 + 1e-6) and abs(bound - a) > 1e-3 * a]
    hint = (f"\n  hint: max |w| matches the bound {guess[0]}; Glorot's is sqrt(6 / (fan_in + "
            f"fan_out)), a compromise between the forward and the backward pass (Q2.5)"
            if guess else "")
    assert_true(top <= a * (1 + 1e-6),   # float32 rounding allowed
                f"{check}: max |w| = {top:.5g} exceeds the bound sqrt(6 / (fan_in + fan_out)) = "
                f"{a:.5g}" + (hint or "\n  hint: draw from rng.uniform(-a, a) (Q2.5)"))
    assert_true(top >= a * (1 - d),
                f"{check}: max |w| = {top:.5g}, while {W.size} draws from U(-a, a) with a = "
                f"sqrt(6 / (fan_in + fan_out)) = {a:.5g} exceed {a * (1 - d):.5g} with "
                f"probability > 1 - 1e-9: the bound is too small{hint}")


@pytest.mark.question("2.5", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_glorot_uniform_mean_and_variance(submission, case):
    """Mean 0 and variance 2 / (fan_in + fan_out), within Hoeffding bounds.

    The n entries are i.i.d. U(-a, a). Each w lies in [-a, a], so P(|mean(w)| >= t1) <=
    2 exp(-2 n t1^2 / (2a)^2): t1 = 2a sqrt(ln(4 / DELTA) / (2n)). Each w^2 lies in [0, a^2]
    with E[w^2] = a^2 / 3 = 2 / (fan_in + fan_out), so P(|mean(w^2) - a^2/3| >= t2) <=
    2 exp(-2 n t2^2 / a^4): t2 = a^2 sqrt(ln(4 / DELTA) / (2n)) (DELTA / 2 for each of the two
    checks). With n >= 30000, t2 / (a^2/3) < 5.2 %: variances 2 / fan_in, 1 / (fan_in + fan_out)
    or a third of the target fail; U(0, a) (mean a/2) fails the mean."""
    fan_in, fan_out = GLOROT_CASES[case]
    W, check = glorot_call(submission, 5000 + case, fan_in, fan_out)
    n = W.size
    a = math.sqrt(6 / (fan_in + fan_out))
    root = math.sqrt(math.log(4 / DELTA) / (2 * n))
    t1, t2 = 2 * a * root, a * a * root
    mean, second = float(np.mean(W)), float(np.mean(W ** 2))
    target = 2 / (fan_in + fan_out)
    assert_true(abs(mean) < t1,
                f"{check}: mean {mean:.4g}, expected 0 within {t1:.3g} (a bound a correct "
                f"implementation breaks with probability < 1e-9); draw from U(-a, a) (Q2.5)")
    ratio = second / target
    named = {(fan_in + fan_out) / fan_in: "2 / fan_in (bound sqrt(6 / fan_in))",
             (fan_in + fan_out) / (2 * fan_in): "1 / fan_in (bound sqrt(3 / fan_in))",
             1 / 3: "2 / (3 (fan_in + fan_out)) (bound sqrt(2 / (fan_in + fan_out)))"}
    hint = [text for value, text in named.items() if abs(ratio - value) < 3 * t2 / target]
    assert_true(abs(second - target) < t2,
                f"{check}: mean of w^2 = {second:.5g}, expected 2 / (fan_in + fan_out) = "
                f"{target:.5g} within {t2:.3g} (a bound a correct implementation breaks with "
                f"probability < 1e-9); that is {ratio:.3f} x the Glorot variance"
                + (f"\n  hint: this looks like variance {hint[0]}; Glorot's is "
                   f"2 / (fan_in + fan_out), i.e. a = sqrt(6 / (fan_in + fan_out)) (Q2.5)"
                   if hint else ""))


@pytest.mark.question("2.5", weight=0.5)
def test_glorot_uniform_uses_rng(submission):
    """Same seed -> the same weights; two seeds -> different weights (for continuous uniform
    draws two seeds agree with probability 0)."""
    fan_in, fan_out = 20, 30
    W1, check = glorot_call(submission, 61, fan_in, fan_out)
    W2, _ = glorot_call(submission, 61, fan_in, fan_out)
    W3, _ = glorot_call(submission, 62, fan_in, fan_out)
    assert_true(np.array_equal(W1, W2),
                f"{check}: two calls with rng = np.random.default_rng(61) gave different weights; "
                f"draw from `rng` only, never from np.random.* (Q2.5)")
    assert_true(not np.array_equal(W1, W3),
                f"{check}: rng = default_rng(61) and default_rng(62) gave the same weights; draw "
                f"from the `rng` argument (Q2.5)")


# (activation, batch, widths, weight std x sqrt(fan_in)); "default" omits the argument (tanh)
STD_CASES = [
    ("tanh", 64, [20, 30, 30, 25, 30], 1.0),
    ("tanh", 40, [16, 16, 16, 16], 0.2),        # too small: the stds collapse
    ("tanh", 40, [16, 24, 16, 24], 4.0),        # too large: tanh saturates
    ("sigmoid", 32, [10, 12, 12], 1.0),
    ("relu", 32, [10, 12, 12, 7], 1.5),
    ("default", 30, [8, 8, 12, 8], 1.0),
]
TORCH_STD_ACTIVATIONS = {**TORCH_ACTIVATIONS, "default": torch.tanh, "softsign": F.softsign,
                         "sin": torch.sin}


@functools.cache
def std_inputs(case: int):
    activation, b, widths, scale = STD_CASES[case] if case < len(STD_CASES) else (
        "softsign", 30, [9, 11, 11, 6], 1.5)
    rng = case_rng("training.activation_stds", case)
    weights = [rng.normal(0, scale / math.sqrt(n_in), (n_out, n_in))
               for n_in, n_out in zip(widths[:-1], widths[1:])]
    return rng.normal(0, 1, (b, widths[0])), weights, activation


def torch_stds(x, weights, activation, *, pre=False, ddof=0, per_unit=False, transpose=True):
    """Per-layer std of a bias-free torch forward, and the mistaken variants (for hints)."""
    act = TORCH_STD_ACTIVATIONS[activation]
    h = torch.from_numpy(x)
    out = []
    for W in weights:
        W = torch.from_numpy(W)
        if not transpose:
            if W.shape[0] != h.shape[1]:
                return None
            W = W.T
        a = h @ W.T
        h = act(a)
        t = a if pre else h
        out.append(float(t.std(dim=0, correction=ddof).mean()) if per_unit
                   else float(t.std(correction=ddof)))
    return out


@functools.cache
def reference_stds(case: int):
    return torch_stds(*std_inputs(case))


@pytest.mark.question("2.5", weight=2.5)
@pytest.mark.parametrize("case", range(len(STD_CASES)))
def test_activation_stds_match_torch_forward(submission, case):
    x, weights, activation = std_inputs(case)
    args = () if activation == "default" else (activation,)
    got = submission.call(MODULE, "activation_stds", x, weights, *args)
    named = ("activation_stds(x, weights"
             + ("" if activation == "default" else f", {activation!r}") + ")")
    mistakes = {
        "used the sample std (ddof=1): the contract asks for the population std, ddof=0 (Q2.5)":
            torch_stds(x, weights, activation, ddof=1),
        "measured the pre-activations h W^T: the std is of each layer's output act(h W^T) (Q2.5)":
            torch_stds(x, weights, activation, pre=True),
        "averaged per-unit stds: the std is over all B * H entries of the layer (Q2.5)":
            torch_stds(x, weights, activation, per_unit=True),
        "listed the input's std first: one std per weight matrix (Q2.5)":
            [float(np.std(x))] + reference_stds(case),
    }
    if activation == "default":
        mistakes["the default activation is tanh (Q2.5)"] = torch_stds(x, weights, "relu")
        mistakes["the default activation is tanh, not sigmoid (Q2.5)"] = torch_stds(
            x, weights, "sigmoid")
    untransposed = torch_stds(x, weights, activation, transpose=False)
    if untransposed is not None:
        mistakes["computed h @ W: a weight is (out, in), the layer is h @ W.T (Q2.5)"] = (
            untransposed)
    assert_close(as_list(got), reference_stds(case), check=f"{named} against a torch forward",
                 inputs={"x": x}, mistakes=mistakes)


@pytest.mark.question("2.5", weight=0.25)
def test_activation_stds_accepts_a_callable(submission):
    case = len(STD_CASES)
    x, weights, activation = std_inputs(case)
    got = submission.probe("activation_stds_callable", MODULE, "activation_stds", x, weights,
                           activation, module=MODULE)
    assert_close(as_list(got), reference_stds(case),
                 check="activation_stds(x, weights, act) with act = lambda a: a / (1 + |a|), a "
                       "callable applied elementwise (the contract accepts a name or a callable)",
                 inputs={"x": x})


@pytest.mark.question("2.5", weight=0.25)
def test_activation_stds_inputs_not_modified(submission):
    x, weights, activation = std_inputs(0)
    _, (x_after, weights_after, _), _ = submission.call_with_inputs(
        MODULE, "activation_stds", x, weights, activation)
    assert_unchanged({"x": x, "weights": weights}, {"x": x_after, "weights": weights_after},
                     check=f"activation_stds(x, weights, {activation!r})")


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


@functools.cache
def reference_relu(function: str, case: int) -> np.ndarray:
    x = torch.tensor(relu_inputs(case), requires_grad=True)
    slope = RELU_SLOPES[case] or 0.01
    y = torch.relu(x) if function.startswith("relu") else F.leaky_relu(x, slope)
    y.sum().backward()
    return (y if not function.endswith("_grad") else x.grad).detach().numpy().copy()


def relu_mistakes(function: str, x: np.ndarray, slope: float) -> dict:
    if function == "relu_grad":
        return {"relu'(0) is 0 (torch's convention): the derivative is 1 only where x > 0 (Q2.6)":
                (x >= 0).astype(float)}
    if function == "leaky_relu_grad":
        return {
            "the slope applies where x <= 0: the derivative at x = 0 is the slope, as torch "
            "(Q2.6)": np.where(x >= 0, 1.0, slope),
            "the negative side has derivative `slope`, not 0: that is what keeps leaky units "
            "alive (Q2.6)": (x > 0).astype(float),
        }
    if function == "leaky_relu":
        return {"the negative side is slope * x (Q2.6)": np.maximum(x, 0)}
    return {}


@pytest.mark.question("2.6", weight=4)
@pytest.mark.parametrize("function", ["relu", "relu_grad", "leaky_relu", "leaky_relu_grad"])
@pytest.mark.parametrize("case", range(3))
def test_relu_family_matches_torch_autograd(submission, function, case):
    x = relu_inputs(case)
    slope = RELU_SLOPES[case]
    extra = (slope,) if function.startswith("leaky") and slope is not None else ()
    got = submission.call(MODULE, function, x, *extra)
    shown = f"{function}(x{', ' + str(slope) if extra else ''})"
    source = "torch autograd" if function.endswith("_grad") else "torch"
    assert_close(got, reference_relu(function, case),
                 check=f"{shown} with {int((x == 0).sum())} exact zeros, against {source}",
                 inputs={"x": x}, mistakes=relu_mistakes(function, x, slope or 0.01))


@pytest.mark.question("2.6", weight=0.5)
@pytest.mark.parametrize("function", ["relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
                                      "dead_units"])
def test_relu_family_input_not_modified(submission, function):
    x = dead_inputs(0) if function == "dead_units" else relu_inputs(0)
    _, (x_after,), _ = submission.call_with_inputs(MODULE, function, x)
    assert_unchanged({"x": x}, {"x": x_after}, check=f"{function}(x)")


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


@functools.cache
def reference_dead(case: int) -> float:
    pre = torch.from_numpy(dead_inputs(case))
    return float((pre <= 0).all(dim=0).double().mean())


@pytest.mark.question("2.6", weight=1.5)
@pytest.mark.parametrize("case", range(4))
def test_dead_units(submission, case):
    pre = dead_inputs(case)
    got = submission.call(MODULE, "dead_units", pre)
    b, h = pre.shape
    dead = (pre <= 0).all(axis=0)
    assert_close(got, reference_dead(case),
                 check=f"dead_units(pre_activations) with {int(dead.sum())} dead units of {h} "
                       f"({int(((pre == 0).all(axis=0)).sum())} columns of exact zeros)",
                 inputs={"pre_activations": pre}, mistakes={
        "x <= 0: a unit whose pre-activation is exactly 0 for every example is dead too (its "
        "relu gradient is 0) (Q2.6)": float((pre < 0).all(axis=0).mean()),
        "a unit is dead when it is <= 0 for EVERY example, not for some (Q2.6)":
            float((pre <= 0).any(axis=0).mean()),
        "counted entries: the fraction is over units (columns), a unit being dead on the whole "
        "batch (Q2.6)": float((pre <= 0).mean()),
        "returned a count: the result is the fraction of dead units (Q2.6)": float(dead.sum()),
        "used rows: units are the columns of the (B, H) array (Q2.6)":
            float((pre <= 0).all(axis=1).mean()),
    })
