"""Part 2 — neural network training, numpy only (held-out corpus, style: explicit loops).

Per-key loops over the parameter dicts, per-example loops for losses and gradients,
math-module scalar code for the sigmoid.
"""

import math

import matplotlib.pyplot as plt
import numpy as np


# Q2.1 -----------------------------------------------------------------------------------------

def early_stopping(dev_losses, patience):
    best_epoch = None
    best_value = math.inf
    epoch = 0
    while epoch < len(dev_losses):
        value = dev_losses[epoch]
        if best_epoch is None or value < best_value:
            best_epoch = epoch
            best_value = value
        if epoch - best_epoch >= patience:
            break
        epoch += 1
    return best_epoch


def l2_grad(params, grads, weight_decay):
    result = {}
    for name in grads.keys():
        result[name] = grads[name] + weight_decay * params[name]
    return result


def dropout(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    mask = np.ones(x.shape, dtype=np.float64)
    if not train:
        return np.array(x, copy=True), mask
    u = rng.uniform(0.0, 1.0, size=x.shape)
    keep_prob = 1.0 - p
    for idx in np.ndindex(x.shape):
        if u[idx] >= keep_prob:
            mask[idx] = 0.0
    out = x * mask / keep_prob
    return out, mask


# Q2.2 -----------------------------------------------------------------------------------------

def max_stable_lr(H):
    lam = np.linalg.eigvalsh(H)
    lam_max = max(float(v) for v in lam)
    return 2.0 / lam_max


def clip_grad_norm(grads, max_norm):
    squares = 0.0
    for name in grads:
        for value in np.asarray(grads[name], dtype=np.float64).ravel():
            squares += float(value) * float(value)
    total_norm = math.sqrt(squares)
    clipped = {}
    for name in grads:
        if total_norm > max_norm:
            clipped[name] = grads[name] * (max_norm / total_norm)
        else:
            clipped[name] = np.array(grads[name], dtype=np.float64)
    return clipped, total_norm


# Q2.3 -----------------------------------------------------------------------------------------

def _argmax_other(row, gold):
    best_j, best_s = None, -math.inf
    for j, s in enumerate(row):
        if j != gold and s > best_s:
            best_j, best_s = j, s
    return best_j, best_s


def perceptron_loss(scores, y):
    total = 0.0
    for i in range(len(y)):
        row = scores[i]
        total += max(row) - row[y[i]]
    return float(total / len(y))


def hinge_loss(scores, y, margin=1.0):
    total = 0.0
    for i in range(len(y)):
        _, best_other = _argmax_other(scores[i], y[i])
        total += max(0.0, margin + best_other - scores[i][y[i]])
    return float(total / len(y))


def perceptron_loss_grad(scores, y):
    B = len(y)
    grad = np.zeros(np.shape(scores), dtype=np.float64)
    for i in range(B):
        top = int(np.argmax(scores[i]))
        grad[i, top] += 1.0 / B
        grad[i, y[i]] -= 1.0 / B
    return grad


def hinge_loss_grad(scores, y, margin=1.0):
    B = len(y)
    grad = np.zeros(np.shape(scores), dtype=np.float64)
    for i in range(B):
        j, best_other = _argmax_other(scores[i], y[i])
        if margin + best_other - scores[i][y[i]] > 0:
            grad[i, j] += 1.0 / B
            grad[i, y[i]] -= 1.0 / B
    return grad


# Q2.4 -----------------------------------------------------------------------------------------

def _sigmoid_scalar(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)            # math.exp underflows to 0.0 silently
    return e / (1.0 + e)


def sigmoid(x):
    arr = np.asarray(x, dtype=np.float64)
    out = np.empty(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        out[idx] = _sigmoid_scalar(float(arr[idx]))
    return out


def sigmoid_grad(x):
    arr = np.asarray(x, dtype=np.float64)
    out = np.empty(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        s = _sigmoid_scalar(float(arr[idx]))
        out[idx] = s * (1.0 - s)
    return out


def _activation(name):
    if name == "sigmoid":
        return sigmoid, sigmoid_grad
    if name == "tanh":
        return np.tanh, lambda a: 1.0 - np.tanh(a) ** 2
    if name == "relu":
        return relu, relu_grad
    raise ValueError(name)


def hidden_grad_norms(x, y, weights, biases, activation):
    act, dact = _activation(activation)
    L = len(weights)
    B = x.shape[0]
    squared = [0.0] * (L - 1)
    for i in range(B):                     # the loss is a mean: each example adds its own part
        h = x[i]
        pres = []
        for l in range(L - 1):
            a = weights[l] @ h + biases[l]
            pres.append(a)
            h = act(a)
        z = weights[L - 1] @ h + biases[L - 1]
        z = z - z.max()
        p = np.exp(z) / np.exp(z).sum()
        p[y[i]] -= 1.0
        dh = weights[L - 1].T @ (p / B)
        for l in range(L - 2, -1, -1):
            squared[l] += float(dh @ dh)
            if l > 0:
                dh = weights[l].T @ (dh * dact(pres[l]))
    return [math.sqrt(s) for s in squared]


# Q2.5 -----------------------------------------------------------------------------------------

def glorot_uniform(fan_in, fan_out, rng):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    W = np.empty((fan_out, fan_in), dtype=np.float64)
    values = rng.uniform(-limit, limit, size=fan_out * fan_in)
    k = 0
    for o in range(fan_out):
        for i in range(fan_in):
            W[o, i] = values[k]
            k += 1
    return W


def activation_stds(x, weights, activation="tanh"):
    act = activation if callable(activation) else _activation(activation)[0]
    h = np.asarray(x, dtype=np.float64)
    result = []
    for W in weights:
        h = act(h @ W.T)
        n = h.size
        mean = h.sum() / n
        var = ((h - mean) ** 2).sum() / n
        result.append(math.sqrt(var))
    return result


# Q2.6 -----------------------------------------------------------------------------------------

def relu(x):
    arr = np.asarray(x, dtype=np.float64)
    out = np.zeros(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        if arr[idx] > 0:
            out[idx] = arr[idx]
    return out


def relu_grad(x):
    arr = np.asarray(x, dtype=np.float64)
    out = np.zeros(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        if arr[idx] > 0:
            out[idx] = 1.0
    return out


def leaky_relu(x, slope=0.01):
    arr = np.asarray(x, dtype=np.float64)
    out = np.empty(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        v = arr[idx]
        out[idx] = v if v > 0 else slope * v
    return out


def leaky_relu_grad(x, slope=0.01):
    arr = np.asarray(x, dtype=np.float64)
    out = np.empty(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        out[idx] = 1.0 if arr[idx] > 0 else slope
    return out


def dead_units(pre_activations):
    B, H = np.shape(pre_activations)
    dead = 0
    for j in range(H):
        alive = False
        for i in range(B):
            if pre_activations[i][j] > 0:
                alive = True
                break
        if not alive:
            dead += 1
    return dead / H


# Q2.7 -----------------------------------------------------------------------------------------

def minibatches(n, batch_size, rng, shuffle=True):
    if shuffle:
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    batch = []
    for index in order:
        batch.append(int(index))
        if len(batch) == batch_size:
            yield np.array(batch, dtype=np.int64)
            batch = []
    if batch:
        yield np.array(batch, dtype=np.int64)


# Q2.8 -----------------------------------------------------------------------------------------

def momentum_step(params, grads, state, lr, momentum):
    first = state is None
    velocity = {}
    updated = {}
    for name in params:
        if first:
            v = grads[name].copy()
        else:
            v = momentum * state["buf"][name] + grads[name]
        velocity[name] = v
        updated[name] = params[name] - lr * v
    return updated, {"buf": velocity}


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    step = 1 if state is None else state["step"] + 1
    new_params, new_m, new_v = {}, {}, {}
    for name in params:
        g = grads[name]
        prev_m = 0.0 if state is None else state["m"][name]
        prev_v = 0.0 if state is None else state["v"][name]
        m = b1 * prev_m + (1 - b1) * g
        v = b2 * prev_v + (1 - b2) * g ** 2
        bias1 = 1 - b1 ** step
        bias2 = 1 - b2 ** step
        denom = np.sqrt(v) / math.sqrt(bias2) + eps
        new_params[name] = params[name] - (lr / bias1) * m / denom
        new_m[name] = m
        new_v[name] = v
    return new_params, {"step": step, "m": new_m, "v": new_v}
