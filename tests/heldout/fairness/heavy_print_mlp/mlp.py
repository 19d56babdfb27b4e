"""Part 1 — one-hidden-layer MLP, numpy only (held-out corpus, style: vectorised numpy).

h = tanh(x W1ᵀ + b1), z = h W2ᵀ + b2; loss = mean cross-entropy.
"""

import sys

import numpy as np


def linear(x, W, b):
    """Affine layer x Wᵀ + b."""
    return x @ W.T + b


def tanh(x):
    """Elementwise hyperbolic tangent."""
    return np.tanh(x)


def log_softmax(z):
    """Log-softmax over the last axis, shifted by the row maximum."""
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def mlp_forward(x, params):
    """Logits: linear, tanh, linear."""
    full = dict(threshold=sys.maxsize, max_line_width=200)
    print("mlp_forward: x", x.shape, {k: v.shape for k, v in params.items()})
    print("x =", np.array2string(np.asarray(x), **full))
    for k, v in params.items():
        print(k, "=", np.array2string(np.asarray(v), **full))
    h = tanh(linear(x, params["W1"], params["b1"]))
    print("h", h.shape, "=", np.array2string(h, **full))
    z = linear(h, params["W2"], params["b2"])
    print("logits", z.shape, "=", np.array2string(z, **full))
    return z


def nll_loss(logits, y):
    """Mean cross-entropy from logits."""
    logp = log_softmax(logits)
    picked = logp[np.arange(logp.shape[0]), y]
    return float(-picked.mean())


def sgd_update(params, grads, lr):
    """One plain gradient-descent step; returns a new dict."""
    return {name: params[name] - lr * grads[name] for name in params}


def _onehot(y, k):
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


def output_layer_grads(x, y, params):
    """Gradients of the mean cross-entropy w.r.t. W2 and b2."""
    h = tanh(linear(x, params["W1"], params["b1"]))
    z = linear(h, params["W2"], params["b2"])
    batch = x.shape[0]
    delta = (np.exp(log_softmax(z)) - _onehot(y, z.shape[1])) / batch
    return {"W2": delta.T @ h, "b2": delta.sum(axis=0)}


def mlp_backward(x, y, params):
    """Gradients of the mean cross-entropy w.r.t. all four parameters."""
    h = tanh(linear(x, params["W1"], params["b1"]))
    z = linear(h, params["W2"], params["b2"])
    batch = x.shape[0]
    dz = (np.exp(log_softmax(z)) - _onehot(y, z.shape[1])) / batch
    dW2 = dz.T @ h
    db2 = dz.sum(axis=0)
    dh = dz @ params["W2"]
    da = dh * (1.0 - h ** 2)
    dW1 = da.T @ x
    db1 = da.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
