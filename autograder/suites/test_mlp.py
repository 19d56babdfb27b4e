"""Part 1 — the one-hidden-layer MLP (Q1.1), its SGD update (Q1.2) and its gradients (Q1.3),
against PyTorch (float64).

Every test reads: seeded inputs -> the torch reference (@reference: computed once, stored) ->
the student's result (submission.call, which also fails a call that modifies its inputs) ->
checks.* with the hints of autograder/mistakes/mlp.py, each shown only when the student's
result matches that mistake's value. Q1.2 and Q1.3 never depend on the student's Q1.1
functions: sgd_update gets gradients computed here by torch autograd, and while output_layer_grads
and mlp_backward run, the student's linear, tanh and log_softmax are the kit's (stand-ins).

Bugs these checks catch, each named where it is caught:
- linear: W instead of W.T (x W + b), the bias forgotten or subtracted, the result transposed,
  the bias added along the wrong axis (b[:, None]); shapes with n_in == n_out and B == n_out
  make these give a value, not an error.
- tanh: the logistic sigmoid, 2σ(x) − 1 (that is tanh(x/2)), the derivative 1 − tanh²; the
  textbook (e^x − e^−x) / (e^x + e^−x) and its e^±2x forms, nan at |x| = 1000 although tanh is
  in [−1, 1].
- log_softmax: no max shift (overflow at ±1e4, a FloatingPointError under strict numpy),
  log(softmax) (log of an underflowed 0: −inf / divide error at ±1e4), one shift for the whole
  array, z − max(z) without the log-sum-exp, the softmax itself, the sign, the log-sum-exp over
  the whole array or over axis 0, a log-sum-exp without keepdims (broadcast over the wrong axis
  on a square input), only 2-D inputs handled (axis=1 on a 1-D z), z modified in place.
- mlp_forward: no tanh, relu or sigmoid instead of tanh, b1 added after tanh, softmax /
  log_softmax / tanh applied to the logits, W instead of W.T (on a case where every layer is
  square), a cache written into params (params["h"] = h).
- nll_loss: summed over the batch instead of averaged (batches > 1), −logits[y] without
  log_softmax (F.nll_loss on logits), log_probs[:, y] instead of log_probs[arange(B), y], a
  mean over all B·K entries, the minus sign forgotten, per-example losses returned, −p[y]
  without the log, log_softmax over the batch axis, overflow at ±1e4 (strict numpy), logits
  modified in place.
- sgd_update: p + lr·g (sign error), lr ignored (p − g) or divided by, the step −lr·g returned
  instead of the new parameters, the parameters returned unchanged, a key missing from the
  result or not a dict, params or grads modified in place (p -= lr * g).
- output_layer_grads / mlp_backward: dW2 from the pre-activation z1 instead of h = tanh(z1),
  gradients summed over the batch instead of averaged (batches > 1) or divided by B·K,
  softmax(z2) without subtracting onehot(y), the sign flipped (onehot − p), log_softmax or the
  logits in place of softmax, bias gradients not summed over the batch, dW2 transposed (h.T dz:
  (H, K)); in mlp_backward also tanh'(z) taken as 1 − z², the tanh derivative forgotten, the
  sigmoid derivative h(1 − h), tanh applied twice (1 − tanh(h)²), dW1 transposed (x.T da:
  (D, H)); labels always include the last class, so a one-hot too narrow by one
  (np.eye(y.max())[y]) fails; a cache written into params.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import assert_close, assert_dict_close, case_rng, strict_result
from autograder.mistakes import mlp as mistakes
from autograder.references import reference

MODULE = "mlp"
PARAM_KEYS = ("W1", "b1", "W2", "b2")
STRICT = "under np.errstate(over/invalid/divide='raise')"


# --- inputs ---------------------------------------------------------------------------------
# (B, D, H, K): a batch of 1 (the exam's SGD on one example), batches > 1, 2 to 10 classes.
MLP_SHAPES = [(1, 4, 5, 3), (6, 3, 7, 4), (8, 5, 4, 10), (5, 4, 6, 2)]


@functools.cache
def mlp_case(name: str, case: int, shape=None):
    """(x, y, params) for the MLP; pre-activations of std ~1.5 so tanh neither saturates nor is
    linear (1 − z² and 1 − tanh(z)² differ); the last class index always occurs in y."""
    B, D, H, K = shape or MLP_SHAPES[case]
    rng = case_rng(name, case)
    x = rng.normal(0, 1, (B, D))
    params = {
        "W1": rng.normal(0, 1.5 / np.sqrt(D), (H, D)),
        "b1": rng.normal(0, 0.5, H),
        "W2": rng.normal(0, 2.0 / np.sqrt(H), (K, H)),
        "b2": rng.normal(0, 0.5, K),
    }
    y = rng.integers(0, K, B)
    y[rng.integers(0, B)] = K - 1
    return x, y, params


def torch_logits(x, params, requires_grad=False):
    """(logits of linear, tanh, linear in torch, the parameters as tensors)."""
    tp = {k: torch.tensor(v, requires_grad=requires_grad) for k, v in params.items()}
    h = torch.tanh(F.linear(torch.from_numpy(x), tp["W1"], tp["b1"]))
    return F.linear(h, tp["W2"], tp["b2"]), tp


@reference
def autograd_grads(name: str, case: int) -> dict:
    """∂ F.cross_entropy(mlp(x), y) / ∂ params by torch autograd."""
    x, y, params = mlp_case(name, case)
    logits, tp = torch_logits(x, params, requires_grad=True)
    loss = F.cross_entropy(logits, torch.from_numpy(y))
    grads = torch.autograd.grad(loss, [tp[k] for k in PARAM_KEYS])
    return {k: g.numpy() for k, g in zip(PARAM_KEYS, grads)}


# === Q1.1 ====================================================================================
LINEAR_SHAPES = [(1, 3, 5), (6, 4, 2), (4, 4, 4), (8, 5, 5)]   # (B, n_in, n_out)


@functools.cache
def linear_inputs(case: int):
    B, n_in, n_out = LINEAR_SHAPES[case]
    rng = case_rng("mlp.linear", case)
    return rng.normal(0, 1, (B, n_in)), rng.normal(0, 1, (n_out, n_in)), rng.normal(0, 1, n_out)


@reference
def linear_reference(case: int):
    """(F.linear(x, W, b), the values of its mistakes)."""
    expected = F.linear(*map(torch.from_numpy, linear_inputs(case))).numpy()
    return expected, mistakes.linear(*linear_inputs(case), expected)


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(len(LINEAR_SHAPES)))
def test_linear_matches_nn_linear(submission, case):
    """linear(x, W, b) = F.linear. Fails: x W + b, the bias forgotten or subtracted, W xᵀ, the
    bias along the wrong axis."""
    x, W, b = linear_inputs(case)
    expected, wrong = linear_reference(case)
    got = submission.call(MODULE, "linear", x, W, b)
    assert_close(got, expected, check="linear(x, W, b)", inputs={"x": x, "W": W, "b": b},
                 mistakes=wrong)


@functools.cache
def tanh_inputs(case: int):
    """Three random arrays (1-D to 3-D, two entries at ±20), then values out to ±1e4, where
    e^x overflows (|x| > 709) and e^2x already does (|x| > 354)."""
    if case == 3:
        return np.array([1000.0, -1000.0, 1e4, -1e4, 710.0, -710.0, 400.0, -400.0, 20.0, -20.0,
                         0.3, -0.7, 0.0])
    x = case_rng("mlp.tanh", case).normal(0, 3, [(7,), (3, 5), (2, 3, 4)][case])
    x.flat[:2] = [20.0, -20.0]
    return x


@reference
def tanh_reference(case: int):
    """(torch.tanh(x), the values of its mistakes)."""
    x = tanh_inputs(case)
    expected = torch.tanh(torch.from_numpy(x)).numpy()
    return expected, mistakes.tanh(x, expected)


@pytest.mark.question("1.1", weight=0.5)
@pytest.mark.parametrize("case", range(3))
def test_tanh_matches_torch(submission, case):
    """tanh(x) = torch.tanh. Fails: the sigmoid, 2σ(x) − 1, tanh's derivative."""
    x = tanh_inputs(case)
    expected, wrong = tanh_reference(case)
    got = submission.call(MODULE, "tanh", x)
    assert_close(got, expected, check="tanh(x)", inputs={"x": x}, mistakes=wrong)


@pytest.mark.question("1.1", weight=0.5)
def test_tanh_in_range_at_extreme_inputs(submission):
    """The docstring promises values in [−1, 1] for every x: the textbook
    (e^x − e^−x) / (e^x + e^−x), (1 − e^−2x) / (1 + e^−2x) and (e^2x − 1) / (e^2x + 1) give
    inf / inf = nan at |x| = 1000 (on one side or both) and fail here."""
    x = tanh_inputs(3)
    expected, wrong = tanh_reference(3)
    got = submission.call(MODULE, "tanh", x)
    assert_close(got, expected, check="tanh(x) with |x| up to 1e4", inputs={"x": x},
                 mistakes=wrong)


@functools.cache
def log_softmax_inputs(kind: str, case: int) -> np.ndarray:
    """"random": logits of std 3, 1-D and 2-D (two square); "extreme": logits at ±1e4 — a huge
    winner per row, a row of equal huge negative values, mixed signs, 1-D."""
    if kind == "random":
        shape = [(7,), (4, 6), (1, 3), (5, 5), (6, 10)][case]
        return case_rng("mlp.log_softmax", case).normal(0, 3, shape)
    if case == 0:
        rng = case_rng("mlp.log_softmax.extreme")
        big = rng.normal(0, 1, (4, 5))
        big[np.arange(4), rng.integers(0, 5, 4)] = 1e4
        return big
    return [np.full((2, 3), -1e4),
            np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]),
            np.array([1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4])][case - 1]


@reference
def log_softmax_reference(kind: str, case: int):
    """(torch.log_softmax(z, -1), the values of its mistakes)."""
    z = log_softmax_inputs(kind, case)
    expected = torch.log_softmax(torch.from_numpy(z), dim=-1).numpy()
    return expected, mistakes.log_softmax(z, expected)


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(5))
def test_log_softmax_matches_torch(submission, case):
    """log_softmax(z) = torch.log_softmax(z, -1) on 1-D and 2-D logits. Fails: the log-sum-exp
    missing, the softmax, the sign, the wrong axis or the whole array, no keepdims (square
    cases), axis=1 on a 1-D z (an error)."""
    z = log_softmax_inputs("random", case)
    expected, wrong = log_softmax_reference("random", case)
    got = submission.call(MODULE, "log_softmax", z)
    assert_close(got, expected, check="log_softmax(z)", inputs={"z": z}, mistakes=wrong)


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(4))
def test_log_softmax_exact_at_extreme_logits(submission, case):
    """Exact at ±1e4 with no overflow, invalid or divide warning (the docstring's promise).
    Fails: no max shift (overflow), log(softmax(z)) (log of 0), one shift for the whole array
    (a row underflows entirely)."""
    z = log_softmax_inputs("extreme", case)
    expected, wrong = log_softmax_reference("extreme", case)
    check = f"log_softmax(z) with logits at ±1e4, {STRICT}"
    got = strict_result(lambda: submission.call_strict(MODULE, "log_softmax", z), check=check,
                        hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"z": z}, mistakes=wrong)


FORWARD_SHAPES = MLP_SHAPES + [(3, 4, 4, 4)]   # the last: every layer square (W vs W.T)


@reference
def mlp_forward_reference(case: int):
    """(the logits of linear, tanh, linear in torch, the values of their mistakes)."""
    x, _, params = mlp_case("mlp.forward", case, FORWARD_SHAPES[case])
    expected = torch_logits(x, params)[0].numpy()
    return expected, mistakes.mlp_forward(x, params, expected)


@pytest.mark.question("1.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(FORWARD_SHAPES)))
def test_mlp_forward_matches_torch(submission, case):
    """mlp_forward = linear, tanh, linear in torch. Fails: another activation or none, b1
    after tanh, an activation on the logits, W for W.T (the square case)."""
    x, _, params = mlp_case("mlp.forward", case, FORWARD_SHAPES[case])
    expected, wrong = mlp_forward_reference(case)
    got = submission.call(MODULE, "mlp_forward", x, params)
    assert_close(got, expected, check="mlp_forward(x, params)",
                 inputs={"x": x, "params": params}, mistakes=wrong)


NLL_SHAPES = [(1, 3), (6, 4), (8, 10), (5, 2)]   # (B, K)


@functools.cache
def nll_inputs(kind: str, case: int):
    """(logits, y). "random": logits of std 3, the last class always among the labels.
    "extreme": logits at ±1e4 with labels on the huge winner (loss ≈ 0) and off it (loss ≈ 1e4,
    2e4)."""
    if kind == "random":
        B, K = NLL_SHAPES[case]
        rng = case_rng("mlp.nll_loss", case)
        y = rng.integers(0, K, B)
        y[rng.integers(0, B)] = K - 1
        return rng.normal(0, 3, (B, K)), y
    if case == 0:
        big = log_softmax_inputs("extreme", 0)
        winners = big.argmax(axis=1)
        y_big = np.where(np.arange(4) % 2 == 0, winners, (winners + 1) % 5)
        y_big[-1] = 4
        return big, y_big
    return [(np.full((2, 3), -1e4), np.array([2, 0])),
            (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]), np.array([1, 2])),
            (np.array([[1e4, 1e4 - 1.0, -1e4]]), np.array([2]))][case - 1]


@reference
def nll_reference(kind: str, case: int):
    """(F.cross_entropy(logits, y), the values of its mistakes)."""
    logits, y = nll_inputs(kind, case)
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    return expected, mistakes.nll_loss(logits, y, expected)


@pytest.mark.question("1.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(NLL_SHAPES)))
def test_nll_loss_matches_cross_entropy(submission, case):
    """nll_loss(logits, y) = F.cross_entropy. Fails: a sum, −logits[y], log_probs[:, y], a mean
    over B·K, the sign, per-example losses, −p[y], the batch axis."""
    logits, y = nll_inputs("random", case)
    expected, wrong = nll_reference("random", case)
    got = submission.call(MODULE, "nll_loss", logits, y)
    assert_close(got, expected, check="nll_loss(logits, y)", inputs={"logits": logits, "y": y},
                 mistakes=wrong)


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(4))
def test_nll_loss_exact_at_extreme_logits(submission, case):
    """Exact at ±1e4 with no overflow, invalid or divide warning. Fails: log(softmax) without
    the max shift, or of an underflowed 0."""
    logits, y = nll_inputs("extreme", case)
    expected, wrong = nll_reference("extreme", case)
    check = f"nll_loss(logits, y) with logits at ±1e4, {STRICT}"
    got = strict_result(lambda: submission.call_strict(MODULE, "nll_loss", logits, y),
                        check=check, hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"logits": logits, "y": y}, mistakes=wrong)


# === Q1.2 ====================================================================================
SGD_LRS = [0.1, 0.5, 0.01, 1.0]


@functools.cache
def sgd_inputs(case: int):
    """params, grads (torch autograd of the MLP loss: one example, then batches) and lr."""
    _, _, params = mlp_case("mlp.sgd", case)
    return params, autograd_grads("mlp.sgd", case), SGD_LRS[case]


@reference
def sgd_reference(case: int):
    """(one torch.optim.SGD step: p.grad set to the given gradient, then step(); the values of
    its mistakes)."""
    params, grads, lr = sgd_inputs(case)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for k in PARAM_KEYS:
        tp[k].grad = torch.tensor(grads[k])
    torch.optim.SGD([tp[k] for k in PARAM_KEYS], lr=lr).step()
    expected = {k: tp[k].detach().numpy() for k in PARAM_KEYS}
    return expected, mistakes.sgd_update(params, grads, lr, expected)


@pytest.mark.question("1.2", weight=3)
@pytest.mark.parametrize("case", range(len(SGD_LRS)))
def test_sgd_update_matches_torch_sgd(submission, case):
    """sgd_update = one torch.optim.SGD step. Fails: the sign, lr ignored or divided by, the step
    alone, params returned unchanged, a missing key, params or grads changed in place."""
    params, grads, lr = sgd_inputs(case)
    expected, wrong = sgd_reference(case)
    got = submission.call(MODULE, "sgd_update", params, grads, lr)
    assert_dict_close(got, expected, check=f"sgd_update(params, grads, lr={lr})",
                      inputs={"params": params, "grads": grads, "lr": lr}, mistakes=wrong)


# === Q1.3 ====================================================================================
@reference
def backward_reference(function: str, case: int):
    """(torch autograd's gradients for the keys `function` returns, the values of their
    mistakes)."""
    x, y, params = mlp_case("mlp.backward", case)
    grads = autograd_grads("mlp.backward", case)
    keys = ("W2", "b2") if function == "output_layer_grads" else PARAM_KEYS
    expected = {k: grads[k] for k in keys}
    return expected, getattr(mistakes, function)(x, y, params, expected)


@pytest.mark.question("1.3", weight=2)
@pytest.mark.parametrize("case", range(len(MLP_SHAPES)))
def test_output_layer_grads_match_autograd(submission, case):
    """{"W2", "b2"} = torch autograd's. Fails: z1 for h, a sum over the batch, no − onehot, the
    sign, log-probabilities or logits for probabilities, db2 not summed, dW2 transposed."""
    x, y, params = mlp_case("mlp.backward", case)
    expected, wrong = backward_reference("output_layer_grads", case)
    got = submission.call(MODULE, "output_layer_grads", x, y, params)
    assert_dict_close(got, expected, check="output_layer_grads(x, y, params)",
                      inputs={"x": x, "y": y, "params": params}, mistakes=wrong)


@pytest.mark.question("1.3", weight=3)
@pytest.mark.parametrize("case", range(len(MLP_SHAPES)))
def test_mlp_backward_matches_autograd(submission, case):
    """All four gradients = torch autograd's. Fails: every output-layer mistake, and a wrong
    tanh derivative (1 − z², none, h(1 − h), 1 − tanh(h)²), dW1 transposed."""
    x, y, params = mlp_case("mlp.backward", case)
    expected, wrong = backward_reference("mlp_backward", case)
    got = submission.call(MODULE, "mlp_backward", x, y, params)
    assert_dict_close(got, expected, check="mlp_backward(x, y, params)",
                      inputs={"x": x, "y": y, "params": params}, mistakes=wrong)
