"""Part 2 — Neural network training (questions 2.1 to 2.8), numpy only.

Style choices of this submission (all within the contract):
- early_stopping keeps a running minimum with float('inf') and stops as soon as
  epoch − best ≥ patience.
- dropout draws its mask as rng.random(x.shape) >= p (keep with probability 1 − p).
- sigmoid is exp(−softplus(−x)) with softplus from np.logaddexp(0, ·), and sigmoid_grad is
  exp(−softplus(x) − softplus(−x)) = σ(x)σ(−x): neither can overflow; the underflow of exp for
  |x| in the hundreds/thousands is exact (the result is 0 or tiny) and is silenced locally with
  np.errstate(under="ignore"), so nothing is raised even under np.errstate(all="raise").
- hidden_grad_norms runs its own float64 forward/backward with a dict of activation
  derivatives.
- minibatches shuffles a fresh np.arange(n) with rng.shuffle (when iteration starts).
- Optimiser states use their own layout: momentum keeps a list [(name, buffer), ...];
  Adam keeps {"beta_powers": (β1^t, β2^t), "moments": {name: (m, v)}} and applies the
  update as torch does, p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps).
- No function modifies its inputs: new dicts of new arrays everywhere.
"""

import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Q2.1
# ---------------------------------------------------------------------------------------------

def early_stopping(dev_losses, patience):
    """Q2.1 — early stopping: the epoch whose parameters you keep.

    An epoch sets a new minimum when its loss is strictly lower than every earlier loss
    (epoch 0 always does); the best epoch is the first epoch that reached the current minimum.
    Training stops at the first epoch e with e - best >= patience. If it never stops, the best
    epoch over the whole list is returned.

    Args:
        dev_losses: sequence of floats of length E >= 1, the dev loss after each epoch.
        patience: int >= 0, how many epochs without a new minimum are tolerated.

    Returns:
        best: int in [0, E), index of the best epoch at the moment training stops.
    """
    lowest = float("inf")
    best = 0
    for epoch, loss in enumerate(dev_losses):
        if epoch == 0 or float(loss) < lowest:
            lowest = float(loss)
            best = epoch
        if epoch - best >= patience:
            break
    return int(best)


def l2_grad(params, grads, weight_decay):
    """Q2.1 — gradient of the loss plus an L2 penalty (weight_decay / 2) * ||theta||^2.

    Args:
        params: dict name -> array, the parameters theta.
        grads: dict with the same keys, arrays of the same shapes, dL/dtheta.
        weight_decay: float >= 0.

    Returns:
        new_grads: a new dict, new_grads[k] = grads[k] + weight_decay * params[k] for every key.
    """
    return {k: _f64(g) + weight_decay * _f64(params[k]) for k, g in grads.items()}


def dropout(x, p, rng, train=True):
    """Q2.1 — inverted dropout.

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
    x = _f64(x)
    if not train:
        return x.copy(), np.ones(x.shape, dtype=np.float64)
    mask = (rng.random(x.shape) >= p).astype(np.float64)
    return x * mask / (1.0 - p), mask


# ---------------------------------------------------------------------------------------------
# Q2.2
# ---------------------------------------------------------------------------------------------

def max_stable_lr(H):
    """Q2.2 — largest learning rate for which gradient descent converges on a quadratic loss.

    Args:
        H: array of shape (D, D), symmetric positive definite (the Hessian).

    Returns:
        lr_max: float, 2 / lambda_max(H).
    """
    eigenvalues = np.linalg.eigvalsh(_f64(H))
    return float(2.0 / eigenvalues[-1])      # eigvalsh sorts ascending


def clip_grad_norm(grads, max_norm):
    """Q2.2 — clip the global norm of all gradients, as torch.nn.utils.clip_grad_norm_.

    Args:
        grads: dict name -> array.
        max_norm: float > 0.

    Returns:
        clipped: a new dict with the same keys and shapes.
        total_norm: float, the global norm BEFORE clipping.
    """
    squares = 0.0
    for g in grads.values():
        g = _f64(g)
        squares += float(np.sum(g * g))
    total = float(np.sqrt(squares))
    factor = max_norm / total if total > max_norm else 1.0
    return {k: _f64(g) * factor for k, g in grads.items()}, total


# ---------------------------------------------------------------------------------------------
# Q2.3
# ---------------------------------------------------------------------------------------------

def _gold(scores, y):
    return np.take_along_axis(scores, np.asarray(y, dtype=np.int64)[:, None], axis=1)[:, 0]


def _best_wrong(scores, y):
    """Index and score of the highest-scoring class other than y, per row."""
    masked = scores.copy()
    masked[np.arange(scores.shape[0]), np.asarray(y, dtype=np.int64)] = -np.inf
    idx = np.argmax(masked, axis=1)
    return idx, masked[np.arange(scores.shape[0]), idx]


def perceptron_loss(scores, y):
    """Q2.3 — multiclass perceptron loss: mean over the batch of max_j s_j - s_y.

    Args:
        scores: array of shape (B, K), class scores.
        y: int array of shape (B,), gold classes in [0, K).

    Returns:
        loss: float.
    """
    scores = _f64(scores)
    return float(np.mean(scores.max(axis=1) - _gold(scores, y)))


def hinge_loss(scores, y, margin=1.0):
    """Q2.3 — multiclass hinge loss: mean of max(0, margin + max_{j != y} s_j - s_y).

    Args:
        scores: array of shape (B, K), class scores, K >= 2.
        y: int array of shape (B,), gold classes in [0, K).
        margin: float >= 0.

    Returns:
        loss: float.
    """
    scores = _f64(scores)
    _, wrong = _best_wrong(scores, y)
    return float(np.mean(np.maximum(0.0, margin + wrong - _gold(scores, y))))


def perceptron_loss_grad(scores, y):
    """Q2.3 — gradient of the mean perceptron loss with respect to the scores.

    Args:
        scores: array of shape (B, K).
        y: int array of shape (B,).

    Returns:
        dscores: float64 array of shape (B, K).
    """
    scores = _f64(scores)
    B = scores.shape[0]
    rows = np.arange(B)
    d = np.zeros_like(scores)
    np.add.at(d, (rows, np.argmax(scores, axis=1)), 1.0)
    np.add.at(d, (rows, np.asarray(y, dtype=np.int64)), -1.0)
    return d / B


def hinge_loss_grad(scores, y, margin=1.0):
    """Q2.3 — subgradient of the mean hinge loss with respect to the scores.

    Args:
        scores: array of shape (B, K), K >= 2.
        y: int array of shape (B,).
        margin: float >= 0.

    Returns:
        dscores: float64 array of shape (B, K).
    """
    scores = _f64(scores)
    B = scores.shape[0]
    y = np.asarray(y, dtype=np.int64)
    idx, wrong = _best_wrong(scores, y)
    active = (margin + wrong - _gold(scores, y)) > 0
    d = np.zeros_like(scores)
    rows = np.arange(B)[active]
    d[rows, idx[active]] += 1.0
    d[rows, y[active]] -= 1.0
    return d / B


# ---------------------------------------------------------------------------------------------
# Q2.4
# ---------------------------------------------------------------------------------------------

def _softplus(x):
    """log(1 + exp(x)), exact and overflow-free."""
    return np.logaddexp(0.0, x)


def sigmoid(x):
    """Q2.4 — numerically stable logistic sigmoid 1 / (1 + exp(-x)).

    Computed as exp(−softplus(−x)); raises nothing under np.errstate(all="raise").

    Args:
        x: array of any shape, float64.

    Returns:
        s: float64 array of x's shape, values in [0, 1].
    """
    x = _f64(x)
    with np.errstate(under="ignore"):
        return np.exp(-_softplus(-x))


def sigmoid_grad(x):
    """Q2.4 — derivative of the sigmoid, sigma'(x) = sigma(x) (1 - sigma(x)) = σ(x)σ(−x).

    Args:
        x: array of any shape, the PRE-activation (not sigma(x)).

    Returns:
        ds: float64 array of x's shape.
    """
    x = _f64(x)
    with np.errstate(under="ignore"):
        return np.exp(-(_softplus(x) + _softplus(-x)))


def _tanh_grad(a):
    t = np.tanh(a)
    return 1.0 - t * t


_ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (np.tanh, _tanh_grad),
    "relu": (lambda a: np.where(a > 0, a, 0.0), lambda a: (a > 0).astype(np.float64)),
}


def hidden_grad_norms(x, y, weights, biases, activation):
    """Q2.4 — how the gradient's size changes from layer to layer of a deep MLP.

    Args:
        x: array of shape (B, D), the inputs.
        y: int array of shape (B,), classes in [0, K).
        weights: list of L arrays, weights[l] of shape (H_{l+1}, H_l); the last is (K, H_{L-1}).
        biases: list of L arrays, biases[l] of shape (H_{l+1},).
        activation: "sigmoid", "tanh" or "relu" (relu'(0) = 0, as torch).

    Returns:
        norms: list of L - 1 floats, ||dL/dh_1||, ..., ||dL/dh_{L-1}|| (input side first).
    """
    act, dact = _ACTIVATIONS[activation]
    Ws = [_f64(W) for W in weights]
    bs = [_f64(b) for b in biases]
    h = _f64(x)
    pre = []
    for W, b in zip(Ws[:-1], bs[:-1]):
        a = h @ W.T + b
        pre.append(a)
        h = act(a)
    z = h @ Ws[-1].T + bs[-1]
    # softmax by max shift
    z = z - z.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    B = p.shape[0]
    p[np.arange(B), np.asarray(y, dtype=np.int64)] -= 1.0
    dz = p / B
    dh = dz @ Ws[-1]                       # dL/dh_{L-1}
    norms = []
    for layer in range(len(Ws) - 2, -1, -1):
        norms.append(float(np.sqrt(np.sum(dh * dh))))
        da = dh * dact(pre[layer])
        dh = da @ Ws[layer]
    norms.reverse()
    return norms


# ---------------------------------------------------------------------------------------------
# Q2.5
# ---------------------------------------------------------------------------------------------

def glorot_uniform(fan_in, fan_out, rng):
    """Q2.5 — Glorot (Xavier) uniform initialisation of a linear layer's weight.

    Args:
        fan_in: int, the layer's number of inputs.
        fan_out: int, the layer's number of outputs.
        rng: numpy.random.Generator (use rng.uniform).

    Returns:
        W: float64 array of shape (fan_out, fan_in), as torch.nn.Linear's weight.
    """
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float64)


def activation_stds(x, weights, activation="tanh"):
    """Q2.5 — the spread of the activations, layer after layer, of a bias-free MLP.

    Args:
        x: array of shape (B, D).
        weights: list of arrays, weights[l] of shape (H_{l+1}, H_l) with H_0 = D.
        activation: "tanh", "sigmoid", "relu", or a callable applied elementwise.

    Returns:
        stds: list of len(weights) floats, the population std (ddof=0) of each layer's output.
    """
    act = activation if callable(activation) else _ACTIVATIONS[activation][0]
    h = _f64(x)
    stds = []
    for W in weights:
        h = _f64(act(h @ _f64(W).T))
        stds.append(float(np.std(h)))
    return stds


# ---------------------------------------------------------------------------------------------
# Q2.6
# ---------------------------------------------------------------------------------------------

def relu(x):
    """Q2.6 — rectified linear unit, max(x, 0).

    Args:
        x: array of any shape, float64.

    Returns:
        out: float64 array of x's shape.
    """
    x = _f64(x)
    return np.where(x > 0, x, 0.0)


def relu_grad(x):
    """Q2.6 — derivative of relu: 1 where x > 0, 0 where x <= 0 (torch's choice at 0).

    Args:
        x: array of any shape, the pre-activation.

    Returns:
        d: float64 array of x's shape, entries 0.0 or 1.0.
    """
    return (_f64(x) > 0).astype(np.float64)


def leaky_relu(x, slope=0.01):
    """Q2.6 — leaky ReLU: x where x > 0, slope * x where x <= 0.

    Args:
        x: array of any shape, float64.
        slope: float, the slope of the negative side.

    Returns:
        out: float64 array of x's shape.
    """
    x = _f64(x)
    return np.where(x > 0, x, slope * x)


def leaky_relu_grad(x, slope=0.01):
    """Q2.6 — derivative of the leaky ReLU: 1 where x > 0, slope where x <= 0.

    Args:
        x: array of any shape, the pre-activation.
        slope: float.

    Returns:
        d: float64 array of x's shape.
    """
    x = _f64(x)
    return np.where(x > 0, 1.0, float(slope)).astype(np.float64)


def dead_units(pre_activations):
    """Q2.6 — fraction of dead ReLU units on a batch (pre-activation <= 0 for every example).

    Args:
        pre_activations: array of shape (B, H), one column per unit.

    Returns:
        fraction: float in [0, 1], (number of dead units) / H.
    """
    a = _f64(pre_activations)
    alive = np.any(a > 0, axis=0)
    return float(np.count_nonzero(~alive) / a.shape[1])


# ---------------------------------------------------------------------------------------------
# Q2.7
# ---------------------------------------------------------------------------------------------

def minibatches(n, batch_size, rng, shuffle=True):
    """Q2.7 — split the indices of a dataset of n examples into minibatches.

    A generator. With shuffle=True the order is np.arange(n) shuffled in place by rng.shuffle,
    once, when iteration starts; with shuffle=False it is 0, 1, ..., n - 1. Every batch has
    batch_size indices except possibly the last, which holds the remainder.

    Args:
        n: int >= 0, number of examples.
        batch_size: int >= 1.
        rng: numpy.random.Generator.
        shuffle: bool.

    Yields:
        idx: int array of shape (batch_size,) (the last one possibly shorter).
    """
    order = np.arange(n, dtype=np.int64)
    if shuffle:
        rng.shuffle(order)
    start = 0
    while start < n:
        yield order[start:start + batch_size].copy()
        start += batch_size


# ---------------------------------------------------------------------------------------------
# Q2.8
# ---------------------------------------------------------------------------------------------

def momentum_step(params, grads, state, lr, momentum):
    """Q2.8 — one step of SGD with momentum, exactly as torch.optim.SGD(lr, momentum).

    buf = g at the first step, then buf = momentum * buf + g; p <- p - lr * buf.

    Args:
        params: dict name -> array.
        grads: dict with the same keys and shapes.
        state: None at the first call, then the state returned by the previous call.
        lr: float > 0.
        momentum: float in [0, 1).

    Returns:
        new_params: a new dict of new arrays.
        new_state: a new list [(name, buffer), ...]; the one passed in is left untouched.
    """
    previous = {} if state is None else dict(state)
    new_params, new_state = {}, []
    for name, p in params.items():
        g = _f64(grads[name])
        if name in previous:
            buf = momentum * previous[name] + g
        else:
            buf = g.copy()
        new_state.append((name, buf))
        new_params[name] = _f64(p) - lr * buf
    return new_params, new_state


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    """Q2.8 — one step of Adam, exactly as torch.optim.Adam (no weight decay, no amsgrad).

    m = β1 m + (1 − β1) g; v = β2 v + (1 − β2) g²; with t the step number,
    p ← p − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps).

    Args:
        params: dict name -> array.
        grads: dict with the same keys and shapes.
        state: None at the first call, then the state returned by the previous call.
        lr: float > 0.
        betas: (beta1, beta2), floats in [0, 1).
        eps: float > 0, added to sqrt(v_hat).

    Returns:
        new_params: a new dict of new arrays.
        new_state: {"beta_powers": (β1^t, β2^t), "moments": {name: (m, v)}}, new; the one
            passed in is left untouched.
    """
    beta1, beta2 = betas
    if state is None:
        pow1, pow2, moments = 1.0, 1.0, {}
    else:
        (pow1, pow2), moments = state["beta_powers"], state["moments"]
    pow1, pow2 = pow1 * beta1, pow2 * beta2
    correction1 = 1.0 - pow1
    correction2_sqrt = np.sqrt(1.0 - pow2)
    new_params, new_moments = {}, {}
    for name, p in params.items():
        g = _f64(grads[name])
        if name in moments:
            m_old, v_old = moments[name]
        else:
            m_old, v_old = np.zeros_like(g), np.zeros_like(g)
        m = beta1 * m_old + (1.0 - beta1) * g
        v = beta2 * v_old + (1.0 - beta2) * g * g
        denom = np.sqrt(v) / correction2_sqrt + eps
        new_params[name] = _f64(p) - (lr / correction1) * m / denom
        new_moments[name] = (m, v)
    return new_params, {"beta_powers": (pow1, pow2), "moments": new_moments}
