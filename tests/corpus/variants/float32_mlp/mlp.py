"""Part 1 computed in float32 inside, returned as float64 (a correct implementation):
every function casts its inputs to float32, including the hand-written gradients."""
import numpy as np
f = np.float32

def linear(x, W, b):
    return (x.astype(f) @ W.astype(f).T + b.astype(f)).astype(np.float64)

def tanh(x):
    return np.tanh(np.asarray(x, dtype=f)).astype(np.float64)

def log_softmax(z):
    z = np.asarray(z, dtype=f)
    m = z.max(axis=-1, keepdims=True)
    with np.errstate(under="ignore"):
        lse = np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return (z - m - lse).astype(np.float64)

def mlp_forward(x, params):
    return linear(tanh(linear(x, params["W1"], params["b1"])), params["W2"], params["b2"])

def nll_loss(logits, y):
    lp = log_softmax(logits).astype(f)
    return float(-lp[np.arange(len(y)), y].mean())

def sgd_update(params, grads, lr):
    return {k: (v.astype(f) - f(lr) * grads[k].astype(f)).astype(np.float64) for k, v in params.items()}

def _grads(x, y, params):
    p = {k: v.astype(f) for k, v in params.items()}
    x = x.astype(f)
    h = np.tanh(x @ p["W1"].T + p["b1"])
    z = h @ p["W2"].T + p["b2"]
    z = z - z.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        e = np.exp(z)
    dz = e / e.sum(axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1
    dz /= len(y)
    da = (dz @ p["W2"]) * (1 - h * h)
    g = {"W1": da.T @ x, "b1": da.sum(0), "W2": dz.T @ h, "b2": dz.sum(0)}
    return {k: v.astype(np.float64) for k, v in g.items()}

def output_layer_grads(x, y, params):
    g = _grads(x, y, params)
    return {"W2": g["W2"], "b2": g["b2"]}

def mlp_backward(x, y, params):
    return _grads(x, y, params)
