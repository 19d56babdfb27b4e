"""Part 2 — neural network training, numpy only (held-out corpus, style: vectorised numpy)."""

import numpy as np


# Q2.1 -----------------------------------------------------------------------------------------

def early_stopping(dev_losses, patience):
    losses = [float(v) for v in dev_losses]
    best = 0
    best_loss = losses[0]
    for epoch in range(len(losses)):
        if losses[epoch] < best_loss:
            best, best_loss = epoch, losses[epoch]
        if epoch - best >= patience:
            return best
    return best


def l2_grad(params, grads, weight_decay):
    return {k: grads[k] + weight_decay * params[k] for k in grads}


def dropout(x, p, rng, train=True):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy(), np.ones_like(x)
    mask = (rng.random(x.shape) >= p).astype(np.float64)
    return x * mask / (1.0 - p), mask


# Q2.2 -----------------------------------------------------------------------------------------

def max_stable_lr(H):
    eigenvalues = np.linalg.eigvalsh(np.asarray(H, dtype=np.float64))
    return float(2.0 / eigenvalues[-1])


def clip_grad_norm(grads, max_norm):
    total_norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    scale = max_norm / total_norm if total_norm > max_norm else 1.0
    return {k: g * scale for k, g in grads.items()}, total_norm


# Q2.3 -----------------------------------------------------------------------------------------

def _gold(scores, y):
    return scores[np.arange(scores.shape[0]), y]


def _best_wrong(scores, y):
    masked = np.array(scores, dtype=np.float64)
    masked[np.arange(scores.shape[0]), y] = -np.inf
    return masked.max(axis=1), masked.argmax(axis=1)


def perceptron_loss(scores, y):
    return float(np.mean(scores.max(axis=1) - _gold(scores, y)))


def hinge_loss(scores, y, margin=1.0):
    best_wrong, _ = _best_wrong(scores, y)
    return float(np.mean(np.maximum(0.0, margin + best_wrong - _gold(scores, y))))


def perceptron_loss_grad(scores, y):
    batch = scores.shape[0]
    rows = np.arange(batch)
    grad = np.zeros(scores.shape, dtype=np.float64)
    grad[rows, scores.argmax(axis=1)] += 1.0
    grad[rows, y] -= 1.0
    return grad / batch


def hinge_loss_grad(scores, y, margin=1.0):
    batch = scores.shape[0]
    rows = np.arange(batch)
    best_wrong, j = _best_wrong(scores, y)
    active = (margin + best_wrong - _gold(scores, y) > 0).astype(np.float64)
    grad = np.zeros(scores.shape, dtype=np.float64)
    grad[rows, j] += active
    grad[rows, y] -= active
    return grad / batch


# Q2.4 -----------------------------------------------------------------------------------------

def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(x))                       # in (0, 1]: never overflows
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x):
    s = sigmoid(x)
    with np.errstate(under="ignore"):
        return s * (1.0 - s)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


_ACTS = {
    "sigmoid": (lambda a: sigmoid(a), lambda a: sigmoid_grad(a)),
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "relu": (lambda a: relu(a), lambda a: relu_grad(a)),
}


def hidden_grad_norms(x, y, weights, biases, activation):
    act, act_grad = _ACTS[activation]
    h = np.asarray(x, dtype=np.float64)
    pre = []
    for W, b in zip(weights[:-1], biases[:-1]):
        a = h @ W.T + b
        pre.append(a)
        h = act(a)
    logits = h @ weights[-1].T + biases[-1]
    batch = logits.shape[0]
    dlogits = _softmax(logits)
    dlogits[np.arange(batch), y] -= 1.0
    dlogits /= batch
    dh = dlogits @ weights[-1]
    norms = [float(np.linalg.norm(dh))]
    for layer in range(len(pre) - 1, 0, -1):
        da = dh * act_grad(pre[layer])
        dh = da @ weights[layer]
        norms.append(float(np.linalg.norm(dh)))
    return norms[::-1]


# Q2.5 -----------------------------------------------------------------------------------------

def glorot_uniform(fan_in, fan_out, rng):
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_out, fan_in))


def activation_stds(x, weights, activation="tanh"):
    if callable(activation):
        act = activation
    else:
        act = _ACTS[activation][0]
    h = np.asarray(x, dtype=np.float64)
    stds = []
    for W in weights:
        h = act(h @ W.T)
        stds.append(float(np.std(h)))
    return stds


# Q2.6 -----------------------------------------------------------------------------------------

def relu(x):
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def relu_grad(x):
    return (np.asarray(x) > 0).astype(np.float64)


def leaky_relu(x, slope=0.01):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, slope * x)


def leaky_relu_grad(x, slope=0.01):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, slope)


def dead_units(pre_activations):
    dead = np.all(np.asarray(pre_activations) <= 0, axis=0)
    return float(dead.mean())


# Q2.7 -----------------------------------------------------------------------------------------

def minibatches(n, batch_size, rng, shuffle=True):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


# Q2.8 -----------------------------------------------------------------------------------------

def momentum_step(params, grads, state, lr, momentum):
    new_buf = {}
    new_params = {}
    for k in params:
        g = grads[k]
        if state is None:
            buf = np.array(g, dtype=np.float64)
        else:
            buf = momentum * state["buf"][k] + g
        new_buf[k] = buf
        new_params[k] = params[k] - lr * buf
    return new_params, {"buf": new_buf}


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    if state is None:
        t = 1
        m_old = {k: np.zeros_like(params[k], dtype=np.float64) for k in params}
        v_old = {k: np.zeros_like(params[k], dtype=np.float64) for k in params}
    else:
        t = state["step"] + 1
        m_old, v_old = state["m"], state["v"]
    new_params, m_new, v_new = {}, {}, {}
    for k in params:
        g = grads[k]
        m = beta1 * m_old[k] + (1.0 - beta1) * g
        v = beta2 * v_old[k] + (1.0 - beta2) * g * g
        m_hat = m / (1.0 - beta1 ** t)
        v_hat = v / (1.0 - beta2 ** t)
        new_params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
        m_new[k], v_new[k] = m, v
    return new_params, {"step": t, "m": m_new, "v": v_new}
