"""Part 1 — the one-hidden-layer MLP (Q1.1), its SGD update (Q1.2) and its gradients (Q1.3),
against PyTorch (float64).

Q1.2 and Q1.3 never go through the student's linear / mlp_forward / nll_loss: sgd_update gets
gradients computed here by torch autograd, output_layer_grads and mlp_backward get (x, y, params).

Bugs these checks catch, each named where it is caught:
- linear: W instead of W.T (x W + b), the bias forgotten, the bias added along the wrong axis
  (b[:, None]); shapes with n_in == n_out and B == n_out make these give a value, not an error.
- tanh: the logistic sigmoid, 2σ(x) − 1 (that is tanh(x/2)), the derivative 1 − tanh² instead.
- log_softmax: no max shift (overflow at ±1e4, a FloatingPointError under strict numpy),
  log(softmax) (log of an underflowed 0: −inf / divide error at ±1e4), z − max(z) without the
  log-sum-exp, the softmax itself, the log-sum-exp over the whole array or over axis 0, a
  log-sum-exp without keepdims (broadcast over the wrong axis on a square input), only 2-D
  inputs handled (axis=1 on a 1-D z), z modified in place (z -= z.max()).
- mlp_forward: no tanh, relu or sigmoid instead of tanh, softmax / log_softmax / tanh applied
  to the logits, W instead of W.T (on a case where every layer is square), a cache written
  into params (params["h"] = h).
- nll_loss: summed over the batch instead of averaged (batches > 1), −logits[y] without
  log_softmax (F.nll_loss on logits), log_probs[:, y] instead of log_probs[arange(B), y], a
  mean over all B·K entries of onehot · log_probs, the minus sign forgotten, per-example losses
  returned, overflow at ±1e4 (strict numpy), logits modified in place.
- sgd_update: p + lr·g (sign error), lr ignored (p − g), the step −lr·g returned instead of
  the new parameters, a key missing from the result or not a dict, params or grads modified in
  place (p -= lr * g).
- output_layer_grads / mlp_backward: dW2 from the pre-activation z1 instead of h = tanh(z1),
  gradients summed over the batch instead of averaged (batches > 1), softmax(z2) without
  subtracting onehot(y), the sign flipped (onehot − p), log_softmax or the logits in place of
  softmax, dW2 transposed (h.T dz: (H, K)); in mlp_backward also tanh'(z) taken as 1 − z²,
  the tanh derivative forgotten, the sigmoid derivative h(1 − h), tanh applied twice
  (1 − tanh(h)²), dW1 transposed (x.T da: (D, H)); labels always include the last class, so
  a one-hot too narrow by one (np.eye(y.max())[y]) fails; a cache written into params.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import (Mismatch, assert_close, assert_dict_close, assert_unchanged,
                               case_rng)
from autograder.isolation.sandbox import StudentCodeError

MODULE = "mlp"
PARAM_KEYS = ("W1", "b1", "W2", "b2")


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


def torch_params(params):
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}


def torch_logits(x, tp):
    h = torch.tanh(F.linear(torch.from_numpy(x), tp["W1"], tp["b1"]))
    return F.linear(h, tp["W2"], tp["b2"])


@functools.cache
def reference_grads(name: str, case: int, shape=None):
    """∂ F.cross_entropy(mlp(x), y) / ∂ params by torch autograd."""
    x, y, params = mlp_case(name, case, shape)
    tp = torch_params(params)
    loss = F.cross_entropy(torch_logits(x, tp), torch.from_numpy(y))
    grads = torch.autograd.grad(loss, [tp[k] for k in PARAM_KEYS])
    return {k: g.numpy() for k, g in zip(PARAM_KEYS, grads)}


# --- numpy formulas of the mistakes (hints only) -------------------------------------------
def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def formula_grads(x, y, params, *, dW2_from="h", tanh_grad="1-h^2", mean=True, onehot=True,
                  probs="softmax", sign=1.0):
    """The hand-derived gradients, with one ingredient swapped for a known mistake."""
    B, K = len(y), params["W2"].shape[0]
    z1 = x @ params["W1"].T + params["b1"]
    h = np.tanh(z1)
    z2 = h @ params["W2"].T + params["b2"]
    p = {"softmax": np_softmax, "log_softmax": np_log_softmax, "logits": lambda z: z}[probs](z2)
    dz = sign * (p - np.eye(K)[y] if onehot else p)
    if mean:
        dz = dz / B
    hidden = {"h": h, "z1": z1}[dW2_from]
    local = {"1-h^2": 1 - h**2, "1-z^2": 1 - z1**2, "none": np.ones_like(h), "h(1-h)": h * (1 - h),
             "1-tanh(h)^2": 1 - np.tanh(h)**2}[tanh_grad]
    da = (dz @ params["W2"]) * local
    return {"W1": da.T @ x, "b1": da.sum(axis=0), "W2": dz.T @ hidden, "b2": dz.sum(axis=0),
            "W1 transposed": x.T @ da, "W2 transposed": hidden.T @ dz}


def grad_mistakes(x, y, params, keys):
    """hint -> the mistaken gradients (a dict over `keys`); the question is 1.3 for all."""
    variants = {
        "your dW2 uses the pre-activation z1 where the hidden activation h = tanh(z1) belongs (Q1.3)":
            dict(dW2_from="z1"),
        "gradients summed over the batch instead of averaged: the loss is a mean, divide by B (Q1.3)":
            dict(mean=False),
        "softmax(z2) used as ∂L/∂z2 without subtracting onehot(y) (Q1.3)": dict(onehot=False),
        "sign error: ∂L/∂z2 is softmax(z2) − onehot(y), not onehot(y) − softmax(z2) (Q1.3)":
            dict(sign=-1.0),
        "log_softmax(z2) used where the probabilities softmax(z2) belong (Q1.3)":
            dict(probs="log_softmax"),
        "onehot(y) subtracted from the logits z2 instead of from softmax(z2) (Q1.3)":
            dict(probs="logits"),
        "tanh'(z) taken as 1 − z² on the pre-activation; it is 1 − tanh(z)² = 1 − h² (Q1.3)":
            dict(tanh_grad="1-z^2"),
        "the derivative of tanh is missing: multiply by 1 − h² going back through tanh (Q1.3)":
            dict(tanh_grad="none"),
        "used the sigmoid's derivative h(1 − h); tanh's is 1 − h² (Q1.3)": dict(tanh_grad="h(1-h)"),
        "tanh applied twice: tanh'(z) = 1 − h² with h = tanh(z), not 1 − tanh(h)² (Q1.3)":
            dict(tanh_grad="1-tanh(h)^2"),
    }
    out = {}
    for hint, kwargs in variants.items():
        wrong = formula_grads(x, y, params, **kwargs)
        out[hint] = {key: wrong[key] for key in keys}
    right = formula_grads(x, y, params)
    for key in keys:
        if key.startswith("W"):
            out[f"d{key} transposed: it has {key}'s shape {params[key].shape} (Q1.3)"] = \
                {key: right[f"{key} transposed"]}
    return out


def call_strict_or_hint(submission, check: str, function: str, *args):
    try:
        return submission.call_strict(MODULE, function, *args)
    except StudentCodeError as error:
        if error.kind != "raised" or "FloatingPointError" not in str(error):
            raise
        if "overflow" in str(error):
            hint = ("exp overflows for logits this large: subtract the row maximum before "
                    "exponentiating (Q1.1)")
        else:   # divide or invalid: an exponential underflowed to 0, then was logged or divided
            hint = ("exp of logits far below the row maximum underflows to 0, and log(0) or 0/0 "
                    "follows: subtract the row maximum and compute (z − max) − log Σ exp(z − max), "
                    "never log(softmax(z)) (Q1.1)")
        raise Mismatch(f"{check}: {error}\n  hint: {hint}") from None


# === Q1.1 ====================================================================================
LINEAR_SHAPES = [(1, 3, 5), (6, 4, 2), (4, 4, 4), (8, 5, 5)]   # (B, n_in, n_out)


@functools.cache
def linear_case(case: int):
    B, n_in, n_out = LINEAR_SHAPES[case]
    rng = case_rng("mlp.linear", case)
    return rng.normal(0, 1, (B, n_in)), rng.normal(0, 1, (n_out, n_in)), rng.normal(0, 1, n_out)


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(len(LINEAR_SHAPES)))
def test_linear_matches_nn_linear(submission, case):
    x, W, b = linear_case(case)
    expected = F.linear(*map(torch.from_numpy, (x, W, b))).numpy()
    got = submission.call(MODULE, "linear", x, W, b)
    mistakes = {"forgot to add the bias b (Q1.1)": x @ W.T}
    if W.shape[0] == W.shape[1]:
        mistakes["used W instead of W.T: W is (out, in) as in torch.nn.Linear, so x Wᵀ + b (Q1.1)"] = x @ W + b
    if x.shape[0] == W.shape[0]:
        mistakes["the bias is added along the wrong axis: b (out,) broadcasts over the rows of "
                 "x Wᵀ (Q1.1)"] = x @ W.T + b[:, None]
    assert_close(got, expected, check="linear(x, W, b)", inputs={"x": x, "W": W, "b": b},
                 mistakes=mistakes)


@functools.cache
def tanh_case(case: int):
    shape = [(7,), (3, 5), (2, 3, 4)][case]
    x = case_rng("mlp.tanh", case).normal(0, 3, shape)
    x.flat[:2] = [20.0, -20.0]
    return x


@pytest.mark.question("1.1", weight=0.5)
@pytest.mark.parametrize("case", range(3))
def test_tanh_matches_torch(submission, case):
    x = tanh_case(case)
    expected = torch.tanh(torch.from_numpy(x)).numpy()
    got = submission.call(MODULE, "tanh", x)
    sig = 1 / (1 + np.exp(-x))
    assert_close(got, expected, check="tanh(x)", inputs={"x": x}, mistakes={
        "computed the logistic sigmoid, not tanh (Q1.1)": sig,
        "2σ(x) − 1 is tanh(x/2); tanh(x) = 2σ(2x) − 1 (Q1.1)": 2 * sig - 1,
        "returned tanh's derivative 1 − tanh(x)² instead of tanh(x) (Q1.1)": 1 - np.tanh(x)**2,
    })


@functools.cache
def log_softmax_random_case(case: int):
    shape = [(7,), (4, 6), (1, 3), (5, 5), (6, 10)][case]
    return case_rng("mlp.log_softmax", case).normal(0, 3, shape)


@functools.cache
def logit_extremes():
    """Logits at ±1e4: a huge winner per row, a row of equal huge values, mixed signs, 1-D."""
    rng = case_rng("mlp.log_softmax.extreme")
    big = rng.normal(0, 1, (4, 5))
    big[np.arange(4), rng.integers(0, 5, 4)] = 1e4
    return [
        big,
        np.full((2, 3), -1e4),
        np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]),
        np.array([1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4]),
    ]


def log_softmax_mistakes(z):
    t = torch.from_numpy(z)
    with np.errstate(all="ignore"):
        naive = np.log(np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True))
    mistakes = {
        "z − max(z) alone: the log Σ exp(z − max) term is missing (Q1.1)":
            z - z.max(axis=-1, keepdims=True),
        "returned softmax(z), not its log (Q1.1)": torch.softmax(t, dim=-1).numpy(),
        "log_softmax over the whole array: normalise each row (axis=-1) separately (Q1.1)":
            (t - torch.logsumexp(t.reshape(-1), dim=0)).numpy(),
        "numerically unstable: log(exp(z) / Σ exp(z)) loses everything at large logits; shift by "
        "the row maximum (Q1.1)": naive,
    }
    if z.ndim == 2:
        mistakes["normalised over axis 0 (the batch) instead of the last axis (Q1.1)"] = \
            torch.log_softmax(t, dim=0).numpy()
        if z.shape[0] == z.shape[1]:
            m = z.max(axis=-1, keepdims=True)
            lse_shifted = np.log(np.exp(z - m).sum(axis=-1))
            mistakes["the row log-sum-exp was subtracted without keepdims=True, so it broadcast "
                     "along the wrong axis (Q1.1)"] = (t - torch.logsumexp(t, dim=-1)).numpy()
            mistakes["log Σ exp(z − max) was summed without keepdims=True, so it broadcast along "
                     "the wrong axis (Q1.1)"] = z - m - lse_shifted
    return mistakes


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(5))
def test_log_softmax_matches_torch(submission, case):
    z = log_softmax_random_case(case)
    got = submission.call(MODULE, "log_softmax", z)
    assert_close(got, torch.log_softmax(torch.from_numpy(z), dim=-1).numpy(),
                 check="log_softmax(z)", inputs={"z": z}, mistakes=log_softmax_mistakes(z))


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(4))
def test_log_softmax_exact_at_extreme_logits(submission, case):
    z = logit_extremes()[case]
    check = "log_softmax(z) with logits at ±1e4, under np.errstate(over/invalid/divide='raise')"
    got = call_strict_or_hint(submission, check, "log_softmax", z)
    assert_close(got, torch.log_softmax(torch.from_numpy(z), dim=-1).numpy(), check=check,
                 inputs={"z": z}, mistakes=log_softmax_mistakes(z))


FORWARD_SHAPES = MLP_SHAPES + [(3, 4, 4, 4)]   # the last: every layer square (W vs W.T)


@pytest.mark.question("1.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(FORWARD_SHAPES)))
def test_mlp_forward_matches_torch(submission, case):
    x, _, params = mlp_case("mlp.forward", case, FORWARD_SHAPES[case])
    with torch.no_grad():
        expected = torch_logits(x, torch_params(params)).numpy()
    got = submission.call(MODULE, "mlp_forward", x, params)
    W1, b1, W2, b2 = (params[k] for k in PARAM_KEYS)
    z1 = x @ W1.T + b1
    out = lambda h: h @ W2.T + b2                                            # noqa: E731
    logits = out(np.tanh(z1))
    mistakes = {
        "no tanh between the two linear layers (Q1.1)": out(z1),
        "ReLU used as the hidden activation; the network uses tanh (Q1.1)": out(np.maximum(z1, 0)),
        "sigmoid used as the hidden activation; the network uses tanh (Q1.1)": out(1 / (1 + np.exp(-z1))),
        "softmax applied to the output: mlp_forward returns the logits (Q1.1)": np_softmax(logits),
        "log_softmax applied to the output: mlp_forward returns the logits (Q1.1)": np_log_softmax(logits),
        "tanh applied to the output layer too: the logits are linear in h (Q1.1)": np.tanh(logits),
    }
    if W1.shape[0] == W1.shape[1] and W2.shape[0] == W2.shape[1]:
        mistakes["used W instead of W.T in linear: weights are (out, in) (Q1.1)"] = \
            np.tanh(x @ W1 + b1) @ W2 + b2
    assert_close(got, expected, check="mlp_forward(x, params)",
                 inputs={"x": x, "params": params}, mistakes=mistakes)


NLL_SHAPES = [(1, 3), (6, 4), (8, 10), (5, 2)]   # (B, K)


@functools.cache
def nll_case(case: int):
    B, K = NLL_SHAPES[case]
    rng = case_rng("mlp.nll_loss", case)
    y = rng.integers(0, K, B)
    y[rng.integers(0, B)] = K - 1
    return rng.normal(0, 3, (B, K)), y


@functools.cache
def nll_extremes():
    """Logits at ±1e4 with labels on the huge winner (loss ≈ 0) and off it (loss ≈ 1e4, 2e4)."""
    big = logit_extremes()[0]
    winners = big.argmax(axis=1)
    y_big = np.where(np.arange(4) % 2 == 0, winners, (winners + 1) % 5)
    y_big[-1] = 4
    return [
        (big, y_big),
        (np.full((2, 3), -1e4), np.array([2, 0])),
        (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]), np.array([1, 2])),
        (np.array([[1e4, 1e4 - 1.0, -1e4]]), np.array([2])),
    ]


def nll_reference(logits, y) -> float:
    return F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()


def nll_mistakes(logits, y):
    B, K = logits.shape
    expected = nll_reference(logits, y)
    lp = torch.log_softmax(torch.from_numpy(logits), dim=-1).numpy()
    with np.errstate(all="ignore"):
        naive = -np.mean(np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))[np.arange(B), y])
    return {
        "summed over the batch instead of averaged: nll_loss is the batch mean (Q1.1)": B * expected,
        "−logits[y] without log_softmax: nll_loss takes logits, like F.cross_entropy (Q1.1)":
            -np.mean(logits[np.arange(B), y]),
        "log_probs[:, y] picks a (B, B) block; index log_probs[np.arange(B), y] (Q1.1)":
            -np.mean(lp[:, y]),
        "averaged over all B·K entries of onehot · log_probs; average over the B examples (Q1.1)":
            expected / K,
        "the minus sign is missing: the loss is −log softmax(logits)[y] (Q1.1)": -expected,
        "returned the per-example losses; nll_loss is their mean, a float (Q1.1)": -lp[np.arange(B), y],
        "numerically unstable: log(softmax) overflows or underflows at large logits; use a "
        "max-shifted log_softmax (Q1.1)": naive,
    }


@pytest.mark.question("1.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(NLL_SHAPES)))
def test_nll_loss_matches_cross_entropy(submission, case):
    logits, y = nll_case(case)
    got = submission.call(MODULE, "nll_loss", logits, y)
    assert_close(got, nll_reference(logits, y), check="nll_loss(logits, y)",
                 inputs={"logits": logits, "y": y}, mistakes=nll_mistakes(logits, y))


@pytest.mark.question("1.1", weight=1)
@pytest.mark.parametrize("case", range(4))
def test_nll_loss_exact_at_extreme_logits(submission, case):
    logits, y = nll_extremes()[case]
    check = ("nll_loss(logits, y) with logits at ±1e4, under "
             "np.errstate(over/invalid/divide='raise')")
    got = call_strict_or_hint(submission, check, "nll_loss", logits, y)
    assert_close(got, nll_reference(logits, y), check=check, inputs={"logits": logits, "y": y},
                 mistakes=nll_mistakes(logits, y))


@pytest.mark.question("1.1", weight=0.5)
@pytest.mark.parametrize("function", ["log_softmax", "mlp_forward", "nll_loss"])
def test_q11_inputs_not_modified(submission, function):
    if function == "log_softmax":
        inputs = {"z": log_softmax_random_case(1)}
    elif function == "nll_loss":
        inputs = dict(zip(("logits", "y"), nll_case(1)))
    else:
        x, _, params = mlp_case("mlp.forward", 1)
        inputs = {"x": x, "params": params}
    _, args_after, _ = submission.call_with_inputs(MODULE, function, *inputs.values())
    assert_unchanged(inputs, dict(zip(inputs, args_after)),
                     check=f"{function}({', '.join(inputs)})")


# === Q1.2 ====================================================================================
SGD_LRS = [0.1, 0.5, 0.01, 1.0]


@functools.cache
def sgd_case(case: int):
    """params, grads (torch autograd of the MLP loss: one example, then batches) and lr."""
    _, _, params = mlp_case("mlp.sgd", case)
    return params, reference_grads("mlp.sgd", case), SGD_LRS[case]


@functools.cache
def sgd_reference(case: int):
    """One torch.optim.SGD step: p.grad set to the given gradient, then step()."""
    params, grads, lr = sgd_case(case)
    tp = {k: torch.tensor(v) for k, v in params.items()}
    for k in PARAM_KEYS:
        tp[k].requires_grad_(True)
        tp[k].grad = torch.from_numpy(grads[k].copy())
    torch.optim.SGD([tp[k] for k in PARAM_KEYS], lr=lr).step()
    return {k: tp[k].detach().numpy() for k in PARAM_KEYS}


@pytest.mark.question("1.2", weight=3)
@pytest.mark.parametrize("case", range(len(SGD_LRS)))
def test_sgd_update_matches_torch_sgd(submission, case):
    params, grads, lr = sgd_case(case)
    got = submission.call(MODULE, "sgd_update", params, grads, lr)
    mistakes = {
        "sign error: gradient descent moves against the gradient, p − lr·g (Q1.2)":
            {k: params[k] + lr * grads[k] for k in PARAM_KEYS},
        "the learning rate is not applied: p − lr·g (Q1.2)":
            {k: params[k] - grads[k] for k in PARAM_KEYS},
        "returned the step −lr·g instead of the updated parameters p − lr·g (Q1.2)":
            {k: -lr * grads[k] for k in PARAM_KEYS},
    }
    assert_dict_close(got, sgd_reference(case), check=f"sgd_update(params, grads, lr={lr})",
                      inputs={"params": params, "grads": grads, "lr": lr}, mistakes=mistakes)


@pytest.mark.question("1.2", weight=1)
def test_sgd_update_inputs_not_modified(submission):
    params, grads, lr = sgd_case(1)
    _, (params_after, grads_after, _), _ = submission.call_with_inputs(
        MODULE, "sgd_update", params, grads, lr)
    assert_unchanged({"params": params, "grads": grads},
                     {"params": params_after, "grads": grads_after},
                     check=f"sgd_update(params, grads, lr={lr})")


# === Q1.3 ====================================================================================
@pytest.mark.question("1.3", weight=2)
@pytest.mark.parametrize("case", range(len(MLP_SHAPES)))
def test_output_layer_grads_match_autograd(submission, case):
    x, y, params = mlp_case("mlp.backward", case)
    reference = reference_grads("mlp.backward", case)
    got = submission.call(MODULE, "output_layer_grads", x, y, params)
    assert_dict_close(got, {k: reference[k] for k in ("W2", "b2")},
                      check="output_layer_grads(x, y, params)",
                      inputs={"x": x, "y": y, "params": params},
                      mistakes=grad_mistakes(x, y, params, ("W2", "b2")))


@pytest.mark.question("1.3", weight=3)
@pytest.mark.parametrize("case", range(len(MLP_SHAPES)))
def test_mlp_backward_matches_autograd(submission, case):
    x, y, params = mlp_case("mlp.backward", case)
    got = submission.call(MODULE, "mlp_backward", x, y, params)
    assert_dict_close(got, reference_grads("mlp.backward", case),
                      check="mlp_backward(x, y, params)",
                      inputs={"x": x, "y": y, "params": params},
                      mistakes=grad_mistakes(x, y, params, PARAM_KEYS))


@pytest.mark.question("1.3", weight=1)
@pytest.mark.parametrize("function", ["output_layer_grads", "mlp_backward"])
def test_q13_inputs_not_modified(submission, function):
    x, y, params = mlp_case("mlp.backward", 1)
    _, args_after, _ = submission.call_with_inputs(MODULE, function, x, y, params)
    assert_unchanged({"x": x, "y": y, "params": params},
                     dict(zip(("x", "y", "params"), args_after)),
                     check=f"{function}(x, y, params)")
