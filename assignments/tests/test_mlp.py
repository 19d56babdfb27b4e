"""Public checks for mlp.py (Part 1): your functions against PyTorch on a few inputs.

Run from this folder:  pytest tests/test_mlp.py
Passing these does not guarantee full marks: the grader runs more cases and edge cases.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mlp

KEYS = ("W1", "b1", "W2", "b2")


def close(got, expected):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=1e-4, atol=1e-6)


def make_mlp(seed, B, D, H, K):
    """x (B, D), labels y (B,) with the last class present, params {W1, b1, W2, b2}."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (B, D))
    params = {"W1": rng.normal(0, 1.5 / np.sqrt(D), (H, D)), "b1": rng.normal(0, 0.5, H),
              "W2": rng.normal(0, 2.0 / np.sqrt(H), (K, H)), "b2": rng.normal(0, 0.5, K)}
    y = rng.integers(0, K, B)
    y[-1] = K - 1
    return x, y, params


def torch_loss(x, y, params):
    """F.cross_entropy of the torch twin of the MLP, and its parameter tensors."""
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tanh(F.linear(torch.from_numpy(x), tp["W1"], tp["b1"]))
    logits = F.linear(h, tp["W2"], tp["b2"])
    return logits, F.cross_entropy(logits, torch.from_numpy(y)), tp


def copy_dict(d):
    return {k: v.copy() for k, v in d.items()}


def assert_same_dict(before, after, what):
    assert set(before) == set(after), f"{what} gained or lost keys"
    for k in before:
        assert np.array_equal(before[k], after[k]), f"{what}[{k!r}] was modified in place"


# --- Q1.1 -----------------------------------------------------------------------------------
@pytest.mark.question("1.1")
@pytest.mark.parametrize("B, n_in, n_out", [(3, 4, 2), (1, 5, 5)])
def test_linear(B, n_in, n_out):
    rng = np.random.default_rng(11 + B)
    x, W, b = rng.normal(size=(B, n_in)), rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
    close(mlp.linear(x, W, b), F.linear(*map(torch.from_numpy, (x, W, b))).numpy())


@pytest.mark.question("1.1")
def test_tanh():
    x = np.random.default_rng(12).normal(0, 3, (4, 3))
    close(mlp.tanh(x), torch.tanh(torch.from_numpy(x)).numpy())


@pytest.mark.question("1.1")
@pytest.mark.parametrize("shape", [(6,), (3, 5)])
def test_log_softmax(shape):
    z = np.random.default_rng(13).normal(0, 3, shape)
    close(mlp.log_softmax(z), torch.log_softmax(torch.from_numpy(z), dim=-1).numpy())


@pytest.mark.question("1.1")
def test_log_softmax_large_logits():
    z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        got = mlp.log_softmax(z)
    close(got, torch.log_softmax(torch.from_numpy(z), dim=-1).numpy())


@pytest.mark.question("1.1")
def test_mlp_forward():
    x, _, params = make_mlp(14, B=5, D=3, H=6, K=4)
    logits, _, _ = torch_loss(x, np.zeros(5, dtype=np.int64), params)
    close(mlp.mlp_forward(x, params), logits.detach().numpy())


@pytest.mark.question("1.1")
@pytest.mark.parametrize("B, K", [(1, 3), (7, 4)])
def test_nll_loss(B, K):
    rng = np.random.default_rng(15 + B)
    logits, y = rng.normal(0, 3, (B, K)), rng.integers(0, K, B)
    y[-1] = K - 1
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    close(mlp.nll_loss(logits, y), expected)


@pytest.mark.question("1.1")
def test_nll_loss_large_logits():
    logits, y = np.array([[1e4, 0.0, -1e4], [5.0, 1e4, -3.0]]), np.array([2, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        got = mlp.nll_loss(logits, y)
    close(got, F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item())


# --- Q1.2 -----------------------------------------------------------------------------------
@pytest.mark.question("1.2")
@pytest.mark.parametrize("B, lr", [(1, 0.1), (6, 0.5)])
def test_sgd_update_matches_torch_sgd(B, lr):
    x, y, params = make_mlp(16 + B, B=B, D=4, H=5, K=3)
    _, loss, tp = torch_loss(x, y, params)
    loss.backward()
    grads = {k: tp[k].grad.numpy().copy() for k in KEYS}
    params_before, grads_before = copy_dict(params), copy_dict(grads)
    torch.optim.SGD(list(tp.values()), lr=lr).step()
    got = mlp.sgd_update(params, grads, lr)
    assert isinstance(got, dict) and set(KEYS) <= set(got), "sgd_update returns a dict of all four"
    for k in KEYS:
        close(got[k], tp[k].detach().numpy())
    assert_same_dict(params_before, params, "params")
    assert_same_dict(grads_before, grads, "grads")


# --- Q1.3 -----------------------------------------------------------------------------------
@pytest.mark.question("1.3")
@pytest.mark.parametrize("B", [1, 6])
def test_output_layer_grads(B):
    x, y, params = make_mlp(17 + B, B=B, D=3, H=4, K=5)
    _, loss, tp = torch_loss(x, y, params)
    loss.backward()
    got = mlp.output_layer_grads(x, y, params)
    for k in ("W2", "b2"):
        close(got[k], tp[k].grad.numpy())


@pytest.mark.question("1.3")
@pytest.mark.parametrize("B", [1, 6])
def test_mlp_backward(B):
    x, y, params = make_mlp(18 + B, B=B, D=3, H=4, K=5)
    _, loss, tp = torch_loss(x, y, params)
    loss.backward()
    params_before = copy_dict(params)
    got = mlp.mlp_backward(x, y, params)
    for k in KEYS:
        close(got[k], tp[k].grad.numpy())
    assert_same_dict(params_before, params, "params")
