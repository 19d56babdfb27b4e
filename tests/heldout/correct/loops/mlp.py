"""Part 1 — one-hidden-layer MLP, numpy only (held-out corpus, style: explicit loops).

Every batch computation walks the examples one by one, the way a student who thinks
"per example, then average" would write it.
"""

import math

import numpy as np


def linear(x, W, b):
    """Affine layer, one example at a time."""
    n_out = W.shape[0]
    out = np.zeros((x.shape[0], n_out))
    for i in range(x.shape[0]):
        for o in range(n_out):
            out[i, o] = np.dot(W[o], x[i]) + b[o]
    return out


def tanh(x):
    """Elementwise tanh with math.tanh (exact at |x| = 1000)."""
    arr = np.asarray(x, dtype=np.float64)
    flat = [math.tanh(v) for v in arr.ravel()]
    return np.array(flat, dtype=np.float64).reshape(arr.shape)


def _log_softmax_row(row):
    top = max(row)
    total = 0.0
    for v in row:
        total += math.exp(v - top)
    log_total = math.log(total)
    return [v - top - log_total for v in row]


def log_softmax(z):
    """Log-softmax over the last axis of a 1-D or 2-D array."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        return np.array(_log_softmax_row(list(z)))
    rows = [_log_softmax_row(list(r)) for r in z]
    return np.array(rows, dtype=np.float64).reshape(z.shape)


def mlp_forward(x, params):
    """linear -> tanh -> linear."""
    hidden = tanh(linear(x, params["W1"], params["b1"]))
    return linear(hidden, params["W2"], params["b2"])


def nll_loss(logits, y):
    """Mean over the examples of -log softmax(logits)[y]."""
    logp = log_softmax(logits)
    total = 0.0
    for i in range(logp.shape[0]):
        total += -logp[i, int(y[i])]
    return float(total / logp.shape[0])


def sgd_update(params, grads, lr):
    """p <- p - lr * g for every key; new dict, new arrays."""
    new_params = {}
    for key in params:
        new_params[key] = params[key] - lr * grads[key]
    return new_params


def output_layer_grads(x, y, params):
    """Average over the examples of (p_i - onehot(y_i)) h_iᵀ and (p_i - onehot(y_i))."""
    W2, b2 = params["W2"], params["b2"]
    hidden = tanh(linear(x, params["W1"], params["b1"]))
    logits = mlp_forward(x, params)
    batch = x.shape[0]
    gW2 = np.zeros_like(W2, dtype=np.float64)
    gb2 = np.zeros_like(b2, dtype=np.float64)
    for i in range(batch):
        probs = np.exp(log_softmax(logits[i]))
        err = probs.copy()
        err[int(y[i])] -= 1.0
        gW2 += np.outer(err, hidden[i])
        gb2 += err
    return {"W2": gW2 / batch, "b2": gb2 / batch}


def mlp_backward(x, y, params):
    """Backprop, one example at a time, re-using output_layer_grads for the top layer."""
    top = output_layer_grads(x, y, params)
    W1, W2 = params["W1"], params["W2"]
    pre = linear(x, W1, params["b1"])
    hidden = tanh(pre)
    logits = linear(hidden, W2, params["b2"])
    batch = x.shape[0]
    gW1 = np.zeros(W1.shape)
    gb1 = np.zeros(params["b1"].shape)
    for i in range(batch):
        err = np.exp(log_softmax(logits[i]))
        err[int(y[i])] -= 1.0
        err = err / batch
        dh = W2.T @ err
        dpre = dh * (1.0 - hidden[i] ** 2)
        gW1 += np.outer(dpre, x[i])
        gb1 += dpre
    return {"W1": gW1, "b1": gb1, "W2": top["W2"], "b2": top["b2"]}
