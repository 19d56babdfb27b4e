"""Part 2 with torch's per-parameter state layout ({name: {"momentum_buffer"}}, {name: {"step",
"exp_avg", "exp_avg_sq"}}), early stopping by a running argmin, the largest eigenvalue by power
iteration, the sigmoid from np.logaddexp (its internal underflow silenced, as the contract asks),
a transposed Glorot draw, np.split minibatches of int32."""
import numpy as np


def early_stopping(dev_losses, patience):
    """Q2.1 — early stopping: the epoch whose parameters you keep.

    Walk through the dev losses epoch by epoch. An epoch sets a new minimum when its loss is
    strictly lower than every earlier loss (epoch 0 always does); the best epoch is the first
    epoch that reached the current minimum. Training stops at the first epoch e with
    e - best >= patience. If it never stops, the best epoch over the whole list is returned.

    Args:
        dev_losses: sequence of floats of length E >= 1, the dev loss after each epoch.
        patience: int >= 0, how many epochs without a new minimum are tolerated.

    Returns:
        best: int in [0, E), index of the best epoch at the moment training stops.
    """
    losses = np.asarray(dev_losses, dtype=float)
    for e in range(len(losses)):
        best = int(np.argmin(losses[:e + 1]))
        if e - best >= patience:
            return best
    return int(np.argmin(losses))


def dropout(x, p, rng, train=True):
    """Q2.1 — inverted dropout.

    In training every element is kept independently with probability 1 - p and the kept ones
    are scaled by 1 / (1 - p), so that the expected output equals x and nothing needs to change
    at evaluation time. In evaluation (train=False) dropout is the identity.

    Args:
        x: array of any shape, float64.
        p: float in [0, 1), the probability of DROPPING an element (as in torch).
        rng: numpy.random.Generator, the only source of randomness.
        train: bool, training mode (dropout applied) or evaluation mode (identity).

    Returns:
        out: array of x's shape, out = x * mask / (1 - p); a copy of x when train is False.
        mask: float64 array of x's shape holding 1.0 (kept) or 0.0 (dropped); all ones when
            train is False.
    """
    if train:
        mask = np.where(rng.uniform(size=np.shape(x)) < 1 - p, 1.0, 0.0)
        return np.multiply(x, mask) * (1.0 / (1.0 - p)), mask
    return x.copy(), np.ones(np.shape(x))


def max_stable_lr(H):
    """Q2.2 — largest learning rate for which gradient descent converges on a quadratic loss.

    For L(theta) = 1/2 theta^T H theta, one step multiplies the component of theta along an
    eigenvector of H by (1 - lr * lambda). Every component shrinks iff |1 - lr * lambda| < 1 for
    all eigenvalues, i.e. iff lr < 2 / lambda_max(H).

    Args:
        H: array of shape (D, D), symmetric positive definite (the Hessian).

    Returns:
        lr_max: float, 2 / lambda_max(H).
    """
    v = np.ones(len(H))
    for _ in range(5000):
        v = H @ v
        v /= np.linalg.norm(v)
    return 2.0 / float(v @ H @ v)


def sigmoid(x):
    """Q2.4 — numerically stable logistic sigmoid 1 / (1 + exp(-x)).

    Must be exact (as torch.sigmoid) for |x| up to 1e4 and raise nothing under
    np.errstate(all="raise"): no overflow, no invalid value, no division by zero, and no
    underflow either. The naive formula overflows exp(-x) for x very negative.

    Args:
        x: array of any shape, float64.

    Returns:
        s: float64 array of x's shape, values in [0, 1].
    """
    with np.errstate(under="ignore"):   # log1p(e^-1e4) underflows inside logaddexp: harmless
        return np.exp(-np.logaddexp(0.0, -x))


def sigmoid_grad(x):
    """Q2.4 — derivative of the sigmoid, sigma'(x) = sigma(x) (1 - sigma(x)).

    It is at most 1/4 (at x = 0) and vanishes as |x| grows: a saturated unit passes almost no
    gradient back. Same stability requirement as sigmoid.

    Args:
        x: array of any shape, the PRE-activation (not sigma(x)).

    Returns:
        ds: float64 array of x's shape.
    """
    with np.errstate(under="ignore"):
        return np.exp(-np.logaddexp(0.0, -x) - np.logaddexp(0.0, x))


def glorot_uniform(fan_in, fan_out, rng):
    """Q2.5 — Glorot (Xavier) uniform initialisation of a linear layer's weight.

    Entries are drawn i.i.d. from U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), so their
    variance is 2 / (fan_in + fan_out): a compromise that keeps the variance of the activations
    (forward) and of the gradients (backward) roughly constant across tanh layers.

    Args:
        fan_in: int, the layer's number of inputs.
        fan_out: int, the layer's number of outputs.
        rng: numpy.random.Generator (use rng.uniform).

    Returns:
        W: float64 array of shape (fan_out, fan_in), as torch.nn.Linear's weight.
    """
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(low=-a, high=a, size=(fan_in, fan_out)).T.copy()


def minibatches(n, batch_size, rng, shuffle=True):
    """Q2.7 — split the indices of a dataset of n examples into minibatches.

    A generator: iterate over it to get one batch of indices at a time. With shuffle=True the
    order is a random permutation drawn from rng (rng.permutation) once, when iteration starts,
    so the same seed gives the same batches; with shuffle=False it is 0, 1, ..., n - 1. Every
    batch has batch_size indices except possibly the last, which holds the remainder.

    Args:
        n: int >= 0, number of examples.
        batch_size: int >= 1.
        rng: numpy.random.Generator.
        shuffle: bool.

    Yields:
        idx: int array of shape (batch_size,) (the last one possibly shorter); together the
            batches partition range(n).
    """
    order = rng.permutation(np.arange(n)) if shuffle else np.arange(n)
    cuts = list(range(batch_size, n, batch_size))
    yield from (b.astype(np.int32) for b in np.split(order, cuts) if b.size)


def momentum_step(params, grads, state, lr, momentum):
    """Q2.8 — one step of SGD with momentum, exactly as torch.optim.SGD(lr, momentum).

    For every key: buf = g at the first step, then buf = momentum * buf + g; and
    p <- p - lr * buf (no dampening, no Nesterov). The velocity carries the update through flat
    regions and damps oscillations across narrow valleys.

    Args:
        params: dict name -> array.
        grads: dict with the same keys and shapes.
        state: None at the first call, then the state returned by the previous call.
        lr: float > 0.
        momentum: float in [0, 1).

    Returns:
        new_params: a new dict of new arrays.
        new_state: a new state (here {"buf": dict name -> array}); the one passed in is left
            untouched.
    """
    if state is None:
        state = {k: {"momentum_buffer": np.zeros_like(g)} for k, g in grads.items()}
    new_state, new_params = {}, {}
    for k, g in grads.items():
        buf = momentum * state[k]["momentum_buffer"] + g
        new_state[k] = {"momentum_buffer": buf}
        new_params[k] = params[k] - lr * buf
    return new_params, new_state


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    """Q2.8 — one step of Adam, exactly as torch.optim.Adam (no weight decay, no amsgrad).

    With t the step number (1 at the first call) and for every key:
        m = beta1 * m + (1 - beta1) * g            (m = 0 before the first step)
        v = beta2 * v + (1 - beta2) * g**2         (v = 0 before the first step)
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    Each parameter gets its own step size, and the bias correction undoes the zero
    initialisation of m and v.

    Args:
        params: dict name -> array.
        grads: dict with the same keys and shapes.
        state: None at the first call, then the state returned by the previous call.
        lr: float > 0.
        betas: (beta1, beta2), floats in [0, 1).
        eps: float > 0, added to sqrt(v_hat).

    Returns:
        new_params: a new dict of new arrays.
        new_state: a new state (here {"step": t, "m": dict, "v": dict}); the one passed in is
            left untouched.
    """
    b1, b2 = betas
    state = state or {k: {"step": 0, "exp_avg": 0.0, "exp_avg_sq": 0.0} for k in grads}
    new_state, new_params = {}, {}
    for k, g in grads.items():
        s = state[k]
        t = s["step"] + 1
        m = s["exp_avg"] * b1 + g * (1 - b1)
        v = s["exp_avg_sq"] * b2 + (1 - b2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
        new_params[k] = params[k] - (lr / (1 - b1 ** t)) * m / denom
        new_state[k] = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    return new_params, new_state

