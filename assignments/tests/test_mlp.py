"""Public checks for mlp.py (Part 1): your functions against PyTorch, on inputs of their own.

Run `pytest tests/test_mlp.py` in your folder. Each check reads: seeded inputs -> the torch
reference, computed here -> your result (`submission.call` runs your function as the grader
does, and fails a call that changes its inputs) -> a comparison with the grader's message, and
the grader's hint when your result is what a known mistake gives (autograder/mistakes/mlp.py).
The grader's hidden tests use other inputs, and more of them.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import assert_close, assert_dict_close, case_rng, strict_result
from autograder.mistakes import mlp as mistakes

MODULE = "mlp"
PARAM_KEYS = ("W1", "b1", "W2", "b2")
STRICT = "under np.errstate(over/invalid/divide='raise')"


def mlp_case(name: str, shape):
    """(x, y, params) for an MLP of shape (B, D, H, K), the last class among the labels."""
    B, D, H, K = shape
    rng = case_rng("public", name, shape)
    x = rng.normal(0, 1, (B, D))
    params = {"W1": rng.normal(0, 1.5 / np.sqrt(D), (H, D)), "b1": rng.normal(0, 0.5, H),
              "W2": rng.normal(0, 2.0 / np.sqrt(H), (K, H)), "b2": rng.normal(0, 0.5, K)}
    y = rng.integers(0, K, B)
    y[-1] = K - 1
    return x, y, params


def torch_logits(x, params, requires_grad=False):
    tp = {k: torch.tensor(v, requires_grad=requires_grad) for k, v in params.items()}
    h = torch.tanh(F.linear(torch.from_numpy(x), tp["W1"], tp["b1"]))
    return F.linear(h, tp["W2"], tp["b2"]), tp


def autograd_grads(x, y, params) -> dict:
    logits, tp = torch_logits(x, params, requires_grad=True)
    loss = F.cross_entropy(logits, torch.from_numpy(y))
    return {k: g.numpy() for k, g in zip(PARAM_KEYS, torch.autograd.grad(loss, list(tp.values())))}


# === Q1.1 ====================================================================================
LINEAR_SHAPES = [(3, 4, 2), (5, 5, 5)]   # (B, n_in, n_out); the second square: W vs W.T


@functools.cache
def linear_case(case: int):
    """((x, W, b), F.linear's value, the values of its known mistakes)."""
    B, n_in, n_out = LINEAR_SHAPES[case]
    rng = case_rng("public", "mlp.linear", case)
    x, W, b = rng.normal(0, 1, (B, n_in)), rng.normal(0, 1, (n_out, n_in)), rng.normal(0, 1, n_out)
    expected = F.linear(*map(torch.from_numpy, (x, W, b))).numpy()
    return (x, W, b), expected, mistakes.linear(x, W, b, expected)


@pytest.mark.question("1.1")
@pytest.mark.parametrize("case", range(len(LINEAR_SHAPES)))
def test_linear(submission, case):
    (x, W, b), expected, wrong = linear_case(case)
    got = submission.call(MODULE, "linear", x, W, b)
    assert_close(got, expected, check="linear(x, W, b)", inputs={"x": x, "W": W, "b": b},
                 mistakes=wrong)


@functools.cache
def tanh_case(case: int):
    """A random (3, 4) array, then values out to ±1000 (e^x overflows beyond 709)."""
    x = (case_rng("public", "mlp.tanh").normal(0, 3, (3, 4)) if case == 0
         else np.array([1000.0, -1000.0, 400.0, -400.0, 2.0, -0.5, 0.0]))
    expected = torch.tanh(torch.from_numpy(x)).numpy()
    return x, expected, mistakes.tanh(x, expected)


@pytest.mark.question("1.1")
@pytest.mark.parametrize("case", range(2))
def test_tanh(submission, case):
    x, expected, wrong = tanh_case(case)
    got = submission.call(MODULE, "tanh", x)
    assert_close(got, expected, check="tanh(x)", inputs={"x": x}, mistakes=wrong)


@functools.cache
def log_softmax_case(case: int):
    """1-D and square 2-D logits of std 3, then logits at ±1e4."""
    if case < 2:
        z = case_rng("public", "mlp.log_softmax", case).normal(0, 3, [(6,), (4, 4)][case])
    else:
        z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0]])
    expected = torch.log_softmax(torch.from_numpy(z), dim=-1).numpy()
    return z, expected, mistakes.log_softmax(z, expected)


@pytest.mark.question("1.1")
@pytest.mark.parametrize("case", range(2))
def test_log_softmax(submission, case):
    z, expected, wrong = log_softmax_case(case)
    got = submission.call(MODULE, "log_softmax", z)
    assert_close(got, expected, check="log_softmax(z)", inputs={"z": z}, mistakes=wrong)


@pytest.mark.question("1.1")
def test_log_softmax_at_extreme_logits(submission):
    z, expected, wrong = log_softmax_case(2)
    check = f"log_softmax(z) with logits at ±1e4, {STRICT}"
    got = strict_result(lambda: submission.call_strict(MODULE, "log_softmax", z), check=check,
                        hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"z": z}, mistakes=wrong)


FORWARD_SHAPES = [(5, 3, 6, 4), (3, 4, 4, 4)]   # the second: every layer square (W vs W.T)


@functools.cache
def mlp_forward_case(case: int):
    x, _, params = mlp_case("mlp.forward", FORWARD_SHAPES[case])
    expected = torch_logits(x, params)[0].numpy()
    return (x, params), expected, mistakes.mlp_forward(x, params, expected)


@pytest.mark.question("1.1")
@pytest.mark.parametrize("case", range(len(FORWARD_SHAPES)))
def test_mlp_forward(submission, case):
    (x, params), expected, wrong = mlp_forward_case(case)
    got = submission.call(MODULE, "mlp_forward", x, params)
    assert_close(got, expected, check="mlp_forward(x, params)",
                 inputs={"x": x, "params": params}, mistakes=wrong)


@functools.cache
def nll_case(case: int):
    """Logits of std 3 for 7 examples and 4 classes, then logits at ±1e4 with one label on the
    huge winner and one off it."""
    if case == 0:
        rng = case_rng("public", "mlp.nll_loss")
        logits, y = rng.normal(0, 3, (7, 4)), rng.integers(0, 4, 7)
        y[-1] = 3
    else:
        logits, y = np.array([[1e4, 0.0, -1e4], [5.0, 1e4, -3.0]]), np.array([2, 1])
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    return (logits, y), expected, mistakes.nll_loss(logits, y, expected)


@pytest.mark.question("1.1")
def test_nll_loss(submission):
    (logits, y), expected, wrong = nll_case(0)
    got = submission.call(MODULE, "nll_loss", logits, y)
    assert_close(got, expected, check="nll_loss(logits, y)", inputs={"logits": logits, "y": y},
                 mistakes=wrong)


@pytest.mark.question("1.1")
def test_nll_loss_at_extreme_logits(submission):
    (logits, y), expected, wrong = nll_case(1)
    check = f"nll_loss(logits, y) with logits at ±1e4, {STRICT}"
    got = strict_result(lambda: submission.call_strict(MODULE, "nll_loss", logits, y),
                        check=check, hints=mistakes.FLOATING_POINT)
    assert_close(got, expected, check=check, inputs={"logits": logits, "y": y}, mistakes=wrong)


# === Q1.2 ====================================================================================
SGD_CASES = [((1, 4, 5, 3), 0.1), ((6, 3, 7, 4), 0.5)]   # (MLP shape, lr)


@functools.cache
def sgd_case(case: int):
    """(params, grads from torch autograd, lr), one torch.optim.SGD step, its known mistakes."""
    shape, lr = SGD_CASES[case]
    x, y, params = mlp_case("mlp.sgd", shape)
    grads = autograd_grads(x, y, params)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for k in PARAM_KEYS:
        tp[k].grad = torch.tensor(grads[k])
    torch.optim.SGD(list(tp.values()), lr=lr).step()
    expected = {k: tp[k].detach().numpy() for k in PARAM_KEYS}
    return (params, grads, lr), expected, mistakes.sgd_update(params, grads, lr, expected)


@pytest.mark.question("1.2")
@pytest.mark.parametrize("case", range(len(SGD_CASES)))
def test_sgd_update(submission, case):
    (params, grads, lr), expected, wrong = sgd_case(case)
    got = submission.call(MODULE, "sgd_update", params, grads, lr)
    assert_dict_close(got, expected, check=f"sgd_update(params, grads, lr={lr})",
                      inputs={"params": params, "grads": grads, "lr": lr}, mistakes=wrong)


# === Q1.3 ====================================================================================
BACKWARD_SHAPES = [(1, 3, 4, 5), (6, 4, 5, 3)]   # one example, then a batch


@functools.cache
def backward_case(function: str, case: int):
    """((x, y, params), torch autograd's gradients of the keys `function` returns, the values of
    their known mistakes)."""
    x, y, params = mlp_case("mlp.backward", BACKWARD_SHAPES[case])
    grads = autograd_grads(x, y, params)
    keys = ("W2", "b2") if function == "output_layer_grads" else PARAM_KEYS
    expected = {k: grads[k] for k in keys}
    return (x, y, params), expected, getattr(mistakes, function)(x, y, params, expected)


@pytest.mark.question("1.3")
@pytest.mark.parametrize("case", range(len(BACKWARD_SHAPES)))
def test_output_layer_grads(submission, case):
    (x, y, params), expected, wrong = backward_case("output_layer_grads", case)
    got = submission.call(MODULE, "output_layer_grads", x, y, params)
    assert_dict_close(got, expected, check="output_layer_grads(x, y, params)",
                      inputs={"x": x, "y": y, "params": params}, mistakes=wrong)


@pytest.mark.question("1.3")
@pytest.mark.parametrize("case", range(len(BACKWARD_SHAPES)))
def test_mlp_backward(submission, case):
    (x, y, params), expected, wrong = backward_case("mlp_backward", case)
    got = submission.call(MODULE, "mlp_backward", x, y, params)
    assert_dict_close(got, expected, check="mlp_backward(x, y, params)",
                      inputs={"x": x, "y": y, "params": params}, mistakes=wrong)
