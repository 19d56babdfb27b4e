"""Part 2 with float32 internals and loops: a patience counter for early stopping, a binomial
dropout mask, eigvals in float32, the sigmoid through tanh, Glorot from rng.random, momentum in
velocity form with a tuple state, Adam with a [t, m, v] list state."""
import numpy as np

f32 = np.float32


def early_stopping(dev_losses, patience):
    best_loss, best, wait = float("inf"), 0, 0
    for epoch, loss in enumerate(dev_losses):
        if loss < best_loss:
            best_loss, best, wait = loss, epoch, 0
        else:
            wait += 1
        if wait >= patience:
            break
    return best


def l2_grad(params, grads, weight_decay):
    out = {}
    for k in grads:
        out[k] = (grads[k].astype(f32) + f32(weight_decay) * params[k].astype(f32)).astype(np.float64)
    return out


def dropout(x, p, rng, train=True):
    if not train:
        return x.copy(), np.ones_like(x, dtype=np.float64)
    mask = rng.binomial(1, 1 - p, size=x.shape).astype(np.float64)
    return (x.astype(f32) * mask.astype(f32) / f32(1 - p)).astype(np.float64), mask


def max_stable_lr(H):
    lam = np.linalg.eigvals(H.astype(f32)).real.max()
    return 2.0 / float(lam)


def clip_grad_norm(grads, max_norm):
    sq = 0.0
    for g in grads.values():
        for v in np.ravel(g):
            sq += float(v) * float(v)
    total = sq ** 0.5
    out = {}
    for k, g in grads.items():
        out[k] = g * (max_norm / total) if total > max_norm else g.copy()
    return out, total


def perceptron_loss(scores, y):
    total = 0.0
    for i in range(len(y)):
        total += float(np.max(scores[i])) - float(scores[i, y[i]])
    return total / len(y)


def _rival(row, gold):
    best, arg = -np.inf, -1
    for j, v in enumerate(row):
        if j != gold and v > best:
            best, arg = v, j
    return best, arg


def hinge_loss(scores, y, margin=1.0):
    total = 0.0
    for i in range(len(y)):
        best, _ = _rival(scores[i], y[i])
        total += max(0.0, margin + best - scores[i, y[i]])
    return total / len(y)


def perceptron_loss_grad(scores, y):
    d = np.zeros(scores.shape)
    for i in range(len(y)):
        d[i, int(np.argmax(scores[i]))] += 1
        d[i, y[i]] -= 1
    return d / len(y)


def hinge_loss_grad(scores, y, margin=1.0):
    d = np.zeros(scores.shape)
    for i in range(len(y)):
        best, arg = _rival(scores[i], y[i])
        if margin + best - scores[i, y[i]] > 0:
            d[i, arg] += 1
            d[i, y[i]] -= 1
    return d / len(y)


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))


def sigmoid_grad(x):
    t = np.tanh(0.5 * np.asarray(x, dtype=f32))
    return (0.25 * (1 - t * t)).astype(np.float64)


def hidden_grad_norms(x, y, weights, biases, activation):
    acts = {"sigmoid": (sigmoid, lambda h: h * (1 - h)), "tanh": (np.tanh, lambda h: 1 - h * h),
            "relu": (lambda a: np.maximum(a, 0), lambda h: (h > 0) * 1.0)}
    act, dact = acts[activation]
    ws = [w.astype(f32) for w in weights]
    bs = [b.astype(f32) for b in biases]
    hs = [x.astype(f32)]
    for W, b in zip(ws[:-1], bs[:-1]):
        hs.append(act(hs[-1] @ W.T + b))
    z = hs[-1] @ ws[-1].T + bs[-1]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    g = p / len(y) @ ws[-1]
    out = []
    for l in range(len(ws) - 1, 0, -1):
        out.insert(0, float(np.sqrt(np.sum(g.astype(np.float64) ** 2))))
        g = (g * dact(hs[l])) @ ws[l - 1]
    return out


def glorot_uniform(fan_in, fan_out, rng):
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    return rng.random((fan_out, fan_in)) * 2 * a - a


def activation_stds(x, weights, activation="tanh"):
    if callable(activation):
        act = activation
    else:
        act = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda a: a * (a > 0)}[activation]
    h = x.astype(f32)
    out = []
    for W in weights:
        h = act(h @ W.astype(f32).T)
        out.append(float(np.sqrt(np.mean((h - h.mean()) ** 2))))
    return out


def relu(x):
    return x * (x > 0)


def relu_grad(x):
    return np.heaviside(x, 0.0)


def leaky_relu(x, slope=0.01):
    out = x.copy()
    out[x <= 0] *= slope
    return out


def leaky_relu_grad(x, slope=0.01):
    d = np.ones_like(x)
    d[x <= 0] = slope
    return d


def dead_units(pre_activations):
    h = pre_activations.shape[1]
    dead = sum(1 for j in range(h) if not (pre_activations[:, j] > 0).any())
    return dead / h


def minibatches(n, batch_size, rng, shuffle=True):
    idx = np.arange(n)
    if shuffle:
        rng.shuffle(idx)
    start = 0
    while start < n:
        yield idx[start:start + batch_size].copy()
        start += batch_size


def momentum_step(params, grads, state, lr, momentum):
    # velocity form: v = mu v - lr g, p <- p + v (the same as torch for a constant lr)
    velocity = {} if state is None else state[0]
    new_v = {k: (momentum * velocity[k] if k in velocity else 0.0) - lr * g for k, g in grads.items()}
    return {k: params[k] + new_v[k] for k in params}, (new_v,)


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    if state is None:
        state = [0, {}, {}]
    t = state[0] + 1
    new_m, new_v, new_p = {}, {}, {}
    for k, g in grads.items():
        g32 = g.astype(f32)
        m = b1 * state[1].get(k, 0.0) + (1 - b1) * g32
        v = b2 * state[2].get(k, 0.0) + (1 - b2) * g32 * g32
        new_m[k], new_v[k] = m, v
        step = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        new_p[k] = params[k] - lr * step.astype(np.float64)
    return new_p, [t, new_m, new_v]
