"""The known mistakes of mlp.py (Part 1), grown from its docstrings.

Each function takes the inputs of the student function of the same name plus `expected` (the
torch reference the caller computed on them) and returns {hint: what the mistaken formula
returns on those inputs}. A grader shows a hint only when the student's result matches its
value, so a hint is right or absent.

Shipped to students with the public checks: nothing here computes a correct result of a graded
function in numpy. A mistake is `expected` transformed (B * expected, -expected, expected.T) or
a formula built from torch ingredients with one ingredient wrong. Hints name the misconception,
never the question (the grader appends it).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PARAM_KEYS = ("W1", "b1", "W2", "b2")

#: For checks.strict_result on log_softmax and nll_loss at logits of ±1e4: the kind of numpy
#: floating-point error -> what produces it there.
FLOATING_POINT = {
    "overflow": "exp overflows for logits this large: subtract the row maximum before "
                "exponentiating",
    "divide": "log(0) or a division by 0: exponentials underflowed to 0, and a log or a "
              "division followed, of their sum (subtract the row maximum first: the largest "
              "term is then 1) or of a probability (compute (z − max) − log Σ exp(z − max), "
              "never log(softmax(z)))",
    "invalid": "0/0 or inf − inf: the exponentials of a whole row underflowed to 0, or "
               "overflowed: subtract the row maximum (keepdims=True) before exponentiating, so "
               "that each row's largest exponential is 1",
}


def _t(a) -> torch.Tensor:
    """A float64 tensor holding a copy of `a` (inputs stay untouched and may be read-only)."""
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def linear(x, W, b, expected) -> dict:
    """x Wᵀ + b: the bias dropped or subtracted, W not transposed, the result transposed, the
    bias along the wrong axis (the last two need a square W or B == n_out to give a value)."""
    mistakes = {
        "forgot to add the bias b": expected - b,
        "the bias was subtracted: the layer is x Wᵀ + b": expected - 2 * b,
        "returned W xᵀ + b, shaped (n_out, B): the output is batch first, x Wᵀ + b":
            expected.T,
    }
    if W.shape[0] == W.shape[1]:
        mistakes["used W instead of W.T: W is (out, in) as in torch.nn.Linear, so x Wᵀ + b"] = \
            x @ W + b
    if x.shape[0] == W.shape[0]:
        mistakes["the bias is added along the wrong axis: b (out,) broadcasts over the rows "
                 "of x Wᵀ"] = expected - b + b[:, None]
    return mistakes


def tanh(x, expected) -> dict:
    """tanh elementwise: another function, its derivative, and the textbook exponential
    formulas, which overflow to inf / inf = nan for large |x| although tanh is in [−1, 1]."""
    t = _t(x)
    e, e2, e2_neg = torch.exp(t), torch.exp(2 * t), torch.exp(-2 * t)
    overflow = ("overflows for large |x| (exp gives inf beyond 709, and inf / inf is nan), "
                "while tanh(x) is in [−1, 1] for every x: use np.tanh, or a form whose "
                "exponentials are at most 1, such as e^(−2|x|)")
    return {
        "computed the logistic sigmoid 1 / (1 + e^−x), not tanh": _np(torch.sigmoid(t)),
        "2σ(x) − 1 is tanh(x/2); tanh(x) = 2σ(2x) − 1": _np(torch.tanh(t / 2)),
        "returned tanh's derivative 1 − tanh(x)² instead of tanh(x)": 1 - expected ** 2,
        f"(e^x − e^−x) / (e^x + e^−x) {overflow}": _np((e - 1 / e) / (e + 1 / e)),
        f"(1 − e^−2x) / (1 + e^−2x) {overflow}": _np((1 - e2_neg) / (1 + e2_neg)),
        f"(e^2x − 1) / (e^2x + 1) {overflow}": _np((e2 - 1) / (e2 + 1)),
    }


def log_softmax(z, expected) -> dict:
    """z − log Σ exp(z) over the last axis: the log-sum-exp missing, the softmax itself, the
    sign, the wrong axis or the whole array, the sum without keepdims (visible on a square z),
    the unstable formulas (no shift, log of softmax, one shift for the whole array)."""
    t = _t(z)
    shifted = t - t.amax(-1, keepdim=True)
    whole = t - t.max()
    mistakes = {
        "z − max(z) alone: the log Σ exp(z − max) term is missing": _np(shifted),
        "returned softmax(z), not its log": _np(torch.softmax(t, -1)),
        "the sign is flipped: log_softmax(z) = z − log Σ exp(z) is ≤ 0": -expected,
        "log_softmax over the whole array: normalise each row (the last axis) separately":
            _np(t - torch.logsumexp(t.reshape(-1), 0)),
        "numerically unstable: log(exp(z) / Σ exp(z)) overflows at large logits (inf / inf is "
        "nan); shift by the row maximum first":
            _np(torch.log(torch.exp(t) / torch.exp(t).sum(-1, keepdim=True))),
        "log(softmax(z)) is −inf where a probability underflows to 0: compute "
        "(z − max) − log Σ exp(z − max), never log(softmax(z))":
            _np(torch.log(torch.softmax(t, -1))),
        "shifted by the maximum of the whole array: a row far below it underflows to 0 "
        "entirely; shift each row by its own maximum":
            _np(whole - torch.log(torch.exp(whole).sum(-1, keepdim=True))),
    }
    if t.ndim == 2:
        mistakes["normalised over axis 0 (the batch) instead of the last axis"] = \
            _np(torch.log_softmax(t, 0))
        if t.shape[0] == t.shape[1]:
            mistakes["the row log-sum-exp was subtracted without keepdims=True, so it "
                     "broadcast along the wrong axis"] = _np(t - torch.logsumexp(t, -1))
            mistakes["log Σ exp(z − max) was summed without keepdims=True, so it broadcast "
                     "along the wrong axis"] = _np(shifted - torch.log(torch.exp(shifted).sum(-1)))
    return mistakes


def mlp_forward(x, params, expected) -> dict:
    """linear, tanh, linear: another activation or none, b1 added after tanh, an activation on
    the logits, W not transposed (on a network whose every layer is square)."""
    W1, b1, W2, b2 = (_t(params[k]) for k in PARAM_KEYS)
    tx, logits = _t(x), _t(expected)
    z1 = F.linear(tx, W1, b1)

    def out(h):
        return _np(F.linear(h, W2, b2))

    mistakes = {
        "no tanh between the two linear layers": out(z1),
        "ReLU used as the hidden activation; the network uses tanh": out(torch.relu(z1)),
        "sigmoid used as the hidden activation; the network uses tanh": out(torch.sigmoid(z1)),
        "b1 added after tanh: the hidden layer is tanh(x W1ᵀ + b1)":
            out(torch.tanh(F.linear(tx, W1)) + b1),
        "softmax applied to the output: mlp_forward returns the logits":
            _np(torch.softmax(logits, -1)),
        "log_softmax applied to the output: mlp_forward returns the logits":
            _np(torch.log_softmax(logits, -1)),
        "tanh applied to the output layer too: the logits are linear in h":
            _np(torch.tanh(logits)),
    }
    if W1.shape[0] == W1.shape[1] and W2.shape[0] == W2.shape[1]:
        mistakes["used W instead of W.T in linear: weights are (out, in)"] = \
            _np(torch.tanh(tx @ W1 + b1) @ W2 + b2)
    return mistakes


def nll_loss(logits, y, expected) -> dict:
    """mean over the batch of −log softmax(logits)[y]: a sum, no log_softmax, the wrong
    indexing, the mean over B·K entries, the sign, per-example losses, the probability without
    its log, the wrong axis, the unstable log(exp / Σ exp)."""
    t, labels = _t(logits), torch.tensor(np.asarray(y, dtype=np.int64))
    B, K = t.shape
    rows = torch.arange(B)
    log_probs = torch.log_softmax(t, -1)
    e = torch.exp(t)
    return {
        "summed over the batch instead of averaged: nll_loss is the batch mean": B * expected,
        "−logits[y] without log_softmax: nll_loss takes logits, like F.cross_entropy":
            float(-t[rows, labels].mean()),
        "log_probs[:, y] picks a (B, B) block; index log_probs[np.arange(B), y]":
            float(-log_probs[:, labels].mean()),
        "averaged over all B·K entries of onehot · log_probs; average over the B examples":
            expected / K,
        "the minus sign is missing: the loss is −log softmax(logits)[y]": -expected,
        "returned the per-example losses; nll_loss is their mean, a float":
            _np(-log_probs[rows, labels]),
        "−softmax(logits)[y]: the loss is minus the LOG of the probability of the true class":
            float(-torch.softmax(t, -1)[rows, labels].mean()),
        "log_softmax over axis 0 (the batch): it runs over the classes, the last axis":
            float(-torch.log_softmax(t, 0)[rows, labels].mean()),
        "numerically unstable: log(softmax) overflows or underflows at large logits; use a "
        "max-shifted log_softmax":
            float(-torch.log(e / e.sum(-1, keepdim=True))[rows, labels].mean()),
    }


def sgd_update(params, grads, lr, expected) -> dict:
    """p − lr·g for every key: the sign, lr ignored or divided by, the step alone returned, the
    parameters returned unchanged. A grader may match each key on its own (a dict's first wrong
    key), so every hint is true of one parameter."""
    return {
        "sign error: gradient descent moves against the gradient, p − lr·g":
            {k: params[k] + lr * grads[k] for k in expected},
        "the learning rate is not applied: p − lr·g": {k: params[k] - grads[k] for k in expected},
        "divided by the learning rate: the step is p − lr·g":
            {k: params[k] - grads[k] / lr for k in expected},
        "returned the step −lr·g instead of the updated parameters p − lr·g":
            {k: -lr * grads[k] for k in expected},
        "this parameter was returned unchanged: the update p − lr·g never reached the returned "
        "dict":
            {k: params[k] for k in expected},
    }


# --- Q1.3: gradients, one ingredient of the chain rule wrong at a time ----------------------
_GRADIENT_MISTAKES = {
    "your dW2 uses the pre-activation z1 where the hidden activation h = tanh(z1) belongs":
        dict(hidden="z1"),
    "softmax(z2) used as ∂L/∂z2 without subtracting onehot(y)": dict(onehot=False),
    "log_softmax(z2) used where the probabilities softmax(z2) belong": dict(probs="log_softmax"),
    "onehot(y) subtracted from the logits z2 instead of from softmax(z2)": dict(probs="logits"),
    "tanh'(z) taken as 1 − z² on the pre-activation; it is 1 − tanh(z)² = 1 − h²":
        dict(local="1-z^2"),
    "the derivative of tanh is missing: multiply by 1 − h² going back through tanh":
        dict(local="none"),
    "used the sigmoid's derivative h(1 − h); tanh's is 1 − h²": dict(local="h(1-h)"),
    "tanh applied twice: tanh'(z) = 1 − h² with h = tanh(z), not 1 − tanh(h)²":
        dict(local="1-tanh(h)^2"),
    "the biases' gradients were not summed over the batch: ∂L/∂b is Σ_i of the per-example "
    "gradients (B rows returned)": dict(bias="per-example"),
}


def _gradients(x, y, params, *, hidden="h", onehot=True, probs="softmax", local="1-h^2",
               bias="sum") -> dict:
    """Hand-derived gradients of the mean cross-entropy, in torch, with the named ingredient
    swapped for a mistaken one."""
    W1, b1, W2, b2 = (_t(params[k]) for k in PARAM_KEYS)
    tx, labels = _t(x), torch.tensor(np.asarray(y, dtype=np.int64))
    z1 = F.linear(tx, W1, b1)
    h = torch.tanh(z1)
    z2 = F.linear(h, W2, b2)
    p = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}[probs](z2, -1) \
        if probs != "logits" else z2
    dz = (p - F.one_hot(labels, z2.shape[1]) if onehot else p) / len(labels)
    d_tanh = {"1-h^2": 1 - h ** 2, "1-z^2": 1 - z1 ** 2, "none": torch.ones_like(h),
              "h(1-h)": h * (1 - h), "1-tanh(h)^2": 1 - torch.tanh(h) ** 2}[local]
    da = (dz @ W2) * d_tanh
    back = {"h": h, "z1": z1}[hidden]
    reduce = (lambda d: d.sum(0)) if bias == "sum" else (lambda d: d)
    return {"W1": _np(da.T @ tx), "b1": _np(reduce(da)), "W2": _np(dz.T @ back),
            "b2": _np(reduce(dz))}


def mlp_backward(x, y, params, expected) -> dict:
    """∂ mean cross-entropy / ∂ params, for the keys of `expected` (all four here; W2 and b2
    for output_layer_grads): a sum over the batch, a mean over B·K, the sign, each ingredient
    of the chain rule swapped (z1 for h, softmax without − onehot, log-probabilities or logits
    for probabilities, four wrong tanh derivatives, bias gradients not summed), a weight's
    gradient transposed."""
    B, K = len(y), params["W2"].shape[0]
    mistakes = {
        "gradients summed over the batch instead of averaged: the loss is a mean, divide by B":
            {k: B * expected[k] for k in expected},
        "divided by B·K: the loss averages over the B examples, not over the classes too":
            {k: expected[k] / K for k in expected},
        "sign error: ∂L/∂z2 is softmax(z2) − onehot(y), not onehot(y) − softmax(z2)":
            {k: -expected[k] for k in expected},
    }
    for hint, mistake in _GRADIENT_MISTAKES.items():
        wrong = _gradients(x, y, params, **mistake)
        mistakes[hint] = {k: wrong[k] for k in expected}
    for k in expected:
        if k.startswith("W"):
            mistakes[f"d{k} transposed: it has {k}'s shape {np.shape(params[k])}"] = \
                {k: np.asarray(expected[k]).T}
    return mistakes


def output_layer_grads(x, y, params, expected) -> dict:
    """The output layer's part of mlp_backward's mistakes (expected has keys W2, b2)."""
    return mlp_backward(x, y, params, expected)
