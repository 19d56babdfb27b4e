"""Part 1 — one-hidden-layer MLP, numpy only (held-out corpus, style: float32 inside).

The matrix products and nonlinearities run in float32 (as on a GPU); results are cast back
to float64 before they are returned. The max shift of the log-softmax is done in float64 so
that logits of ±1e4 keep their precision.
"""

import numpy as np

F32 = np.float32
F64 = np.float64


def _f32(a):
    return np.asarray(a).astype(F32)


def linear(x, W, b):
    out = _f32(x) @ _f32(W).T + _f32(b)
    return out.astype(F64)


def tanh(x):
    return np.tanh(_f32(x)).astype(F64)


def log_softmax(z):
    z64 = np.asarray(z, dtype=F64)
    shifted = z64 - z64.max(axis=-1, keepdims=True)          # exact, in float64
    with np.errstate(under="ignore"):
        total = np.exp(shifted.astype(F32)).sum(axis=-1, keepdims=True, dtype=F32)
    return shifted - np.log(total).astype(F64)


def mlp_forward(x, params):
    a = linear(x, params["W1"], params["b1"])
    return linear(tanh(a), params["W2"], params["b2"])


def nll_loss(logits, y):
    lp = log_softmax(logits)
    rows = np.arange(lp.shape[0])
    return float(np.mean(-lp[rows, np.asarray(y)]))


def sgd_update(params, grads, lr):
    out = {}
    for k, p in params.items():
        out[k] = (_f32(p) - F32(lr) * _f32(grads[k])).astype(F64)
    return out


def _probs_minus_onehot(logits, y):
    p = np.exp(log_softmax(logits)).astype(F32)
    p[np.arange(p.shape[0]), np.asarray(y)] -= F32(1.0)
    return p / F32(p.shape[0])


def output_layer_grads(x, y, params):
    logits = mlp_forward(x, params)
    h = _f32(tanh(linear(x, params["W1"], params["b1"])))
    d = _probs_minus_onehot(logits, y)
    return {"W2": (d.T @ h).astype(F64), "b2": d.sum(axis=0).astype(F64)}


def mlp_backward(x, y, params):
    h = _f32(tanh(linear(x, params["W1"], params["b1"])))
    logits = linear(h, params["W2"], params["b2"])
    d2 = _probs_minus_onehot(logits, y)
    d1 = (d2 @ _f32(params["W2"])) * (F32(1.0) - h * h)
    return {
        "W1": (d1.T @ _f32(x)).astype(F64),
        "b1": d1.sum(axis=0).astype(F64),
        "W2": (d2.T @ h).astype(F64),
        "b2": d2.sum(axis=0).astype(F64),
    }
