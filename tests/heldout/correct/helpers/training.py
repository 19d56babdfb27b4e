"""Part 2 — neural network training, numpy only (held-out corpus, style: helpers and small classes).

Optimiser state lives in immutable namedtuples, activations in a small registry of
(function, derivative) pairs, and early stopping is computed with running minima.
"""

from collections import namedtuple

import numpy as np

MomentumState = namedtuple("MomentumState", ["velocity"])
AdamState = namedtuple("AdamState", ["t", "first", "second"])


def _as64(a):
    return np.asarray(a, dtype=np.float64)


# Q2.1 -----------------------------------------------------------------------------------------

def early_stopping(dev_losses, patience):
    losses = _as64(dev_losses)
    n = losses.shape[0]
    previous_min = np.concatenate(([np.inf], np.minimum.accumulate(losses)[:-1]))
    is_new_min = losses < previous_min
    epochs = np.arange(n)
    best_so_far = np.maximum.accumulate(np.where(is_new_min, epochs, 0))
    stops = np.nonzero(epochs - best_so_far >= patience)[0]
    at = stops[0] if stops.size else n - 1
    return int(best_so_far[at])


def l2_grad(params, grads, weight_decay):
    return dict((name, np.add(g, np.multiply(weight_decay, params[name])))
                for name, g in grads.items())


def dropout(x, p, rng, train=True):
    x = _as64(x)
    if not train:
        return np.copy(x), np.ones(x.shape)
    keep = rng.binomial(1, 1.0 - p, size=x.shape).astype(np.float64)
    return np.multiply(x, keep) / (1.0 - p), keep


# Q2.2 -----------------------------------------------------------------------------------------

def max_stable_lr(H):
    H = _as64(H)
    lambda_max = np.linalg.norm(H, ord=2)      # spectral norm = largest eigenvalue for SPD H
    return float(2.0 / lambda_max)


def _global_norm(arrays):
    flat = np.concatenate([_as64(a).ravel() for a in arrays])
    return float(np.linalg.norm(flat))


def clip_grad_norm(grads, max_norm):
    total = _global_norm(list(grads.values()))
    coef = min(1.0, max_norm / total) if total > 0 else 1.0
    return {name: _as64(g) * coef for name, g in grads.items()}, total


# Q2.3 -----------------------------------------------------------------------------------------

def _onehot(index, k):
    return np.eye(k)[index]


def _runner_up(scores, y):
    """Best wrong score and its class, per row."""
    penalty = _onehot(y, scores.shape[1]) * 1e300
    others = _as64(scores) - penalty
    j = np.argmax(others, axis=1)
    return np.take_along_axis(scores, j[:, None], axis=1)[:, 0], j


def perceptron_loss(scores, y):
    gold = np.take_along_axis(scores, np.asarray(y)[:, None], axis=1)[:, 0]
    return float(np.mean(np.max(scores, axis=1) - gold))


def hinge_loss(scores, y, margin=1.0):
    gold = np.take_along_axis(scores, np.asarray(y)[:, None], axis=1)[:, 0]
    other, _ = _runner_up(scores, y)
    return float(np.mean(np.clip(margin + other - gold, 0.0, None)))


def perceptron_loss_grad(scores, y):
    B, K = scores.shape
    return (_onehot(np.argmax(scores, axis=1), K) - _onehot(y, K)) / B


def hinge_loss_grad(scores, y, margin=1.0):
    B, K = scores.shape
    gold = np.take_along_axis(scores, np.asarray(y)[:, None], axis=1)[:, 0]
    other, j = _runner_up(scores, y)
    active = (margin + other - gold) > 0
    return active[:, None] * (_onehot(j, K) - _onehot(y, K)) / B


# Q2.4 -----------------------------------------------------------------------------------------

def sigmoid(x):
    # exp never sees an argument beyond 700 in absolute value: no overflow, no underflow.
    x = np.clip(_as64(x), -700.0, 700.0)
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_grad(x):
    s = sigmoid(x)
    return s * (1.0 - s)


def _tanh_grad(a):
    return 1.0 - np.tanh(a) ** 2


def _relu_pair():
    return relu, relu_grad


ACTIVATIONS = {
    "sigmoid": lambda: (sigmoid, sigmoid_grad),
    "tanh": lambda: (np.tanh, _tanh_grad),
    "relu": _relu_pair,
}


def _log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


class _Layer:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, h):
        self.inp = h
        self.pre = h @ self.W.T + self.b
        return self.pre


def hidden_grad_norms(x, y, weights, biases, activation):
    f, df = ACTIVATIONS[activation]()
    layers = [_Layer(W, b) for W, b in zip(weights, biases)]
    h = _as64(x)
    for layer in layers[:-1]:
        h = f(layer.forward(h))
    logits = layers[-1].forward(h)
    B = logits.shape[0]
    grad = (np.exp(_log_softmax(logits)) - _onehot(y, logits.shape[1])) / B
    grad_h = grad @ layers[-1].W
    norms = []
    for layer in reversed(layers[:-1]):
        norms.insert(0, float(np.sqrt(np.sum(grad_h * grad_h))))
        grad_h = (grad_h * df(layer.pre)) @ layer.W
    return norms


# Q2.5 -----------------------------------------------------------------------------------------

def glorot_uniform(fan_in, fan_out, rng):
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    return a * (2.0 * rng.uniform(size=(fan_out, fan_in)) - 1.0)


def activation_stds(x, weights, activation="tanh"):
    f = activation if callable(activation) else ACTIVATIONS[activation]()[0]
    out = []
    h = _as64(x)
    for W in weights:
        h = f(h @ np.transpose(W))
        out.append(float(np.sqrt(np.var(h))))
    return out


# Q2.6 -----------------------------------------------------------------------------------------

def relu(x):
    x = _as64(x)
    return x * (x > 0)


def relu_grad(x):
    return np.greater(x, 0).astype(np.float64)


def leaky_relu(x, slope=0.01):
    x = _as64(x)
    return np.maximum(x, 0.0) + slope * np.minimum(x, 0.0)


def leaky_relu_grad(x, slope=0.01):
    positive = np.greater(x, 0)
    return positive + slope * (~positive)


def dead_units(pre_activations):
    alive = np.any(_as64(pre_activations) > 0, axis=0)
    return float(np.count_nonzero(~alive) / alive.shape[0])


# Q2.7 -----------------------------------------------------------------------------------------

def minibatches(n, batch_size, rng, shuffle=True):
    indices = rng.permutation(n) if shuffle else np.arange(n)
    n_batches = -(-n // batch_size)
    for b in range(n_batches):
        yield indices[b * batch_size:min(n, (b + 1) * batch_size)]


# Q2.8 -----------------------------------------------------------------------------------------

def momentum_step(params, grads, state, lr, momentum):
    if state is None:
        velocity = {k: _as64(grads[k]).copy() for k in params}
    else:
        velocity = {k: momentum * state.velocity[k] + grads[k] for k in params}
    new_params = {k: params[k] - lr * velocity[k] for k in params}
    return new_params, MomentumState(velocity)


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    if state is None:
        state = AdamState(0, {k: 0.0 for k in params}, {k: 0.0 for k in params})
    t = state.t + 1
    first = {k: beta1 * state.first[k] + (1.0 - beta1) * grads[k] for k in params}
    second = {k: beta2 * state.second[k] + (1.0 - beta2) * np.square(grads[k]) for k in params}
    c1 = 1.0 - beta1 ** t
    c2 = 1.0 - beta2 ** t
    new_params = {
        k: params[k] - lr * (first[k] / c1) / (np.sqrt(second[k] / c2) + eps) for k in params
    }
    return new_params, AdamState(t, first, second)
