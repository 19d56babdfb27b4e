"""Public checks for training.py (Part 2): your functions against PyTorch on a few inputs.

Run from this folder:  pytest tests/test_training.py
Passing these does not guarantee full marks: the grader runs more cases and edge cases, checks
that inputs are left unchanged, and checks the random functions statistically.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import training


def close(got, expected, what=""):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=1e-4, atol=1e-6,
                               err_msg=what)


def close_dict(got, expected, what=""):
    assert isinstance(got, dict) and set(got) == set(expected), f"{what}: keys {sorted(expected)}"
    for k in expected:
        close(got[k], expected[k], f"{what}[{k!r}]")


def random_dict(rng, shapes, scale=1.0):
    return {k: scale * rng.normal(0, 1, s) for k, s in shapes.items()}


SHAPES = {"W1": (4, 3), "b1": (4,), "W2": (2, 4), "b2": (2,)}


# --- Q2.1 -----------------------------------------------------------------------------------
@pytest.mark.question("2.1")
def test_early_stopping():
    # best epoch 1 (0.5); 0.5 again is not a new minimum; 4 - 1 >= 3: stop at epoch 4, keep 1
    assert training.early_stopping([0.9, 0.5, 0.5, 0.6, 0.7, 0.1], 3) == 1
    # never stops: the best epoch overall
    assert training.early_stopping([0.9, 0.8, 0.85, 0.7], 5) == 3
    # a new minimum at epoch 2 resets the count
    assert training.early_stopping([1.0, 1.2, 0.8, 0.9, 1.3, 0.2], 3) == 5


@pytest.mark.question("2.1")
def test_l2_grad_matches_sgd_weight_decay():
    rng = np.random.default_rng(21)
    params, grads = random_dict(rng, SHAPES), random_dict(rng, SHAPES)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    torch.optim.SGD(list(tensors.values()), lr=1.0, weight_decay=0.2).step()
    expected = {k: params[k] - t.detach().numpy() for k, t in tensors.items()}  # the gradient used
    close_dict(training.l2_grad(params, grads, 0.2), expected, "l2_grad")


@pytest.mark.question("2.1")
def test_dropout_law():
    x = np.random.default_rng(22).normal(0, 1, (100, 100))
    p = 0.25
    out, mask = training.dropout(x, p, np.random.default_rng(0))
    assert mask.dtype == np.float64 and np.isin(mask, (0.0, 1.0)).all(), "mask: float64 0/1"
    close(out, x * mask / (1 - p), "out = x * mask / (1 - p)")
    # 10000 Bernoulli(0.75): Hoeffding, the kept fraction is within 0.025 of 0.75 w.p. > 1 - 1e-5
    assert abs(mask.mean() - (1 - p)) < 0.025, "p is the probability of dropping"
    out2, mask2 = training.dropout(x, p, np.random.default_rng(0))
    assert np.array_equal(mask, mask2), "same seed, same mask: use rng only"
    out_eval, mask_eval = training.dropout(x, p, np.random.default_rng(0), train=False)
    close(out_eval, x, "train=False: identity")
    close(mask_eval, np.ones_like(x), "train=False: mask of ones")


# --- Q2.2 -----------------------------------------------------------------------------------
@pytest.mark.question("2.2")
def test_max_stable_lr():
    rng = np.random.default_rng(23)
    a = rng.normal(0, 1, (4, 4))
    H = a @ a.T + 0.5 * np.eye(4)
    close(training.max_stable_lr(H), float(2 / torch.linalg.eigvalsh(torch.from_numpy(H))[-1]))


@pytest.mark.question("2.2")
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    grads = random_dict(np.random.default_rng(24), SHAPES)
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
               for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g)
    total = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    clipped, got_total = training.clip_grad_norm(grads, max_norm)
    close(got_total, total, "total_norm (before clipping)")
    close_dict(clipped, {k: t.grad.numpy() for k, t in zip(grads, tensors)}, "clipped")


# --- Q2.3 -----------------------------------------------------------------------------------
SCORES = np.array([[2.0, 0.5, -1.0], [0.1, 0.3, 2.5], [1.0, 1.5, 0.2], [-0.5, 0.0, 0.6]])
LABELS = np.array([0, 2, 0, 2])   # gold wins by 1.5, by 2.2, loses, wins by 0.6


def torch_loss(name, scores, y, margin=1.0):
    s = torch.tensor(scores, requires_grad=True)
    gold = s[torch.arange(len(y)), torch.from_numpy(y)]
    if name == "perceptron":
        loss = (s.max(dim=1).values - gold).mean()
    else:
        mask = F.one_hot(torch.from_numpy(y), s.shape[1]).bool()
        loss = torch.clamp(margin + s.masked_fill(mask, -math.inf).max(dim=1).values - gold,
                           min=0).mean()
    loss.backward()
    return float(loss.detach()), s.grad.numpy()


@pytest.mark.question("2.3")
def test_perceptron_loss_and_grad():
    loss, grad = torch_loss("perceptron", SCORES, LABELS)
    close(training.perceptron_loss(SCORES, LABELS), loss, "perceptron_loss")
    close(training.perceptron_loss_grad(SCORES, LABELS), grad, "perceptron_loss_grad")


@pytest.mark.question("2.3")
@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_hinge_loss_and_grad(margin):
    loss, grad = torch_loss("hinge", SCORES, LABELS, margin)
    close(training.hinge_loss(SCORES, LABELS, margin), loss, "hinge_loss")
    close(training.hinge_loss_grad(SCORES, LABELS, margin), grad, "hinge_loss_grad")


# --- Q2.4 -----------------------------------------------------------------------------------
@pytest.mark.question("2.4")
def test_sigmoid_and_grad_are_stable():
    x = np.array([-1e4, -800.0, -30.0, -1.0, 0.0, 2.0, 30.0, 800.0, 1e4])
    t = torch.tensor(x, requires_grad=True)
    torch.sigmoid(t).sum().backward()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, ds = training.sigmoid(x), training.sigmoid_grad(x)
    close(s, torch.sigmoid(torch.from_numpy(x)).numpy(), "sigmoid")
    close(ds, t.grad.numpy(), "sigmoid_grad")


def deep_mlp(seed, activation, widths=(8, 10, 10, 10, 10, 10, 3), batch=12):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(widths[:-1], widths[1:])]
    biases = [rng.normal(0, 0.1, b) for b in widths[1:]]
    return rng.normal(0, 1, (batch, widths[0])), rng.integers(0, widths[-1], batch), weights, biases


@pytest.mark.question("2.4")
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_hidden_grad_norms_match_autograd(activation):
    x, y, weights, biases = deep_mlp(25, activation)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    h, hiddens = torch.tensor(x, requires_grad=True), []
    for W, b in zip(weights[:-1], biases[:-1]):
        h = act(F.linear(h, torch.from_numpy(W), torch.from_numpy(b)))
        h.retain_grad()
        hiddens.append(h)
    logits = F.linear(h, torch.from_numpy(weights[-1]), torch.from_numpy(biases[-1]))
    F.cross_entropy(logits, torch.from_numpy(y)).backward()
    expected = [float(t.grad.norm()) for t in hiddens]
    got = training.hidden_grad_norms(x, y, weights, biases, activation)
    close(got, expected, f"hidden_grad_norms, {activation}")
    if activation == "sigmoid":
        assert all(a < b for a, b in zip(got, got[1:])), "sigmoid: norms shrink toward the input"


# --- Q2.5 -----------------------------------------------------------------------------------
@pytest.mark.question("2.5")
def test_glorot_uniform():
    fan_in, fan_out = 200, 100
    W = training.glorot_uniform(fan_in, fan_out, np.random.default_rng(0))
    a = np.sqrt(6 / (fan_in + fan_out))
    assert W.shape == (fan_out, fan_in)
    assert np.abs(W).max() <= a and np.abs(W).max() > 0.99 * a, "bound sqrt(6/(fan_in+fan_out))"
    # 20000 draws: mean(W^2) is within 6 % of a^2 / 3 with probability > 1 - 1e-6 (Hoeffding)
    assert abs(np.mean(W ** 2) / (2 / (fan_in + fan_out)) - 1) < 0.06
    assert np.array_equal(W, training.glorot_uniform(fan_in, fan_out, np.random.default_rng(0)))


@pytest.mark.question("2.5")
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_activation_stds_match_torch(activation):
    rng = np.random.default_rng(26)
    widths = [12, 16, 16, 10]
    x = rng.normal(0, 1, (20, widths[0]))
    weights = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(widths[:-1], widths[1:])]
    act = {"tanh": torch.tanh, "relu": torch.relu}[activation]
    h, expected = torch.from_numpy(x), []
    for W in weights:
        h = act(h @ torch.from_numpy(W).T)
        expected.append(float(h.std(correction=0)))
    close(training.activation_stds(x, weights, activation), expected, "activation_stds")


# --- Q2.6 -----------------------------------------------------------------------------------
@pytest.mark.question("2.6")
def test_relu_family_matches_autograd():
    x = np.array([[-2.0, -0.0, 0.0, 0.5], [3.0, -1e-3, 0.0, -4.0]])
    for name, f in [("relu", torch.relu), ("leaky_relu", lambda t: F.leaky_relu(t, 0.1))]:
        t = torch.tensor(x, requires_grad=True)
        out = f(t)
        out.sum().backward()
        args = (0.1,) if name == "leaky_relu" else ()
        close(getattr(training, name)(x, *args), out.detach().numpy(), name)
        close(getattr(training, name + "_grad")(x, *args), t.grad.numpy(), name + "_grad")


@pytest.mark.question("2.6")
def test_dead_units():
    pre = np.array([[-1.0, 0.0, 2.0, -3.0], [-0.5, 0.0, -1.0, 0.0], [-2.0, 0.0, -1.0, 0.1]])
    expected = float((torch.from_numpy(pre) <= 0).all(dim=0).double().mean())   # 2 of 4
    close(training.dead_units(pre), expected, "dead_units")


# --- Q2.7 -----------------------------------------------------------------------------------
@pytest.mark.question("2.7")
def test_minibatches():
    batches = list(training.minibatches(23, 5, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(23))
    again = list(training.minibatches(23, 5, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again)), "same seed, same batches"
    ordered = list(training.minibatches(10, 4, np.random.default_rng(0), shuffle=False))
    assert [b.tolist() for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


# --- Q2.8 -----------------------------------------------------------------------------------
OPT_SHAPES = {"W": (3, 2), "b": (3,)}


def run_both(step, make_torch, grad_scale=1.0, steps=5, **kwargs):
    rng = np.random.default_rng(28)
    params = random_dict(rng, OPT_SHAPES)
    grads = [random_dict(rng, OPT_SHAPES, grad_scale) for _ in range(steps)]
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    optimiser = make_torch(list(tensors.values()))
    state = None
    for g in grads:
        for k, t in tensors.items():
            t.grad = torch.tensor(g[k])
        optimiser.step()
        params, state = step(params, g, state, **kwargs)
        close_dict(params, {k: t.detach().numpy() for k, t in tensors.items()}, step.__name__)


@pytest.mark.question("2.8")
def test_momentum_matches_torch():
    run_both(training.momentum_step, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
             lr=0.1, momentum=0.9)


@pytest.mark.question("2.8")
@pytest.mark.parametrize("grad_scale", [1.0, 1e-4])
def test_adam_matches_torch(grad_scale):
    run_both(training.adam_step, lambda ps: torch.optim.Adam(ps, lr=0.1), grad_scale, lr=0.1)
