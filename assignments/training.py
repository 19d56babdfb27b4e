"""Part 2 — Neural network training (questions 2.1 to 2.8).

Each exam question about training becomes a few small functions: early stopping, weight decay
and dropout against overfitting (2.1); a stable learning rate and gradient clipping against
divergence (2.2); perceptron and hinge losses (2.3); the sigmoid and vanishing gradients (2.4);
Glorot initialisation (2.5); ReLU and dead units (2.6); minibatches (2.7); momentum and Adam
(2.8). The hidden tests compare every result with PyTorch (autograd, torch.optim,
torch.nn.utils, torch.linalg).

Conventions (the whole kit follows them):
- numpy only: torch is not available when this module is graded. An unused `import torch`
  costs nothing; a question whose checks run into torch scores 0.
- Arrays are float64 and batch first. A linear layer's weight is (out, in) and its bias (out,),
  as in torch.nn.Linear, so a layer computes ``h @ W.T + b``.
- Labels are integer class indices of shape (B,). Losses are means over the batch, and the
  gradient functions return the gradient of that mean.
- Randomness comes only from the ``rng`` argument (a ``numpy.random.Generator``), never from
  ``np.random.*`` global state.
- Parameters, gradients and optimiser state are dicts of arrays. No function modifies its
  inputs (arrays, dicts or state): functions that update return new dicts.
"""

import numpy as np


# ---------------------------------------------------------------------------------------------
# Q2.1 — the dev loss goes up while the training loss goes down: overfitting
# ---------------------------------------------------------------------------------------------

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
    raise NotImplementedError("Q2.1: implement early_stopping")


def l2_grad(params, grads, weight_decay):
    """Q2.1 — gradient of the loss plus an L2 penalty (weight_decay / 2) * ||theta||^2.

    This is what torch.optim.SGD(weight_decay=...) adds to every gradient: biases included.

    Args:
        params: dict name -> array, the parameters theta.
        grads: dict with the same keys, arrays of the same shapes, dL/dtheta.
        weight_decay: float >= 0.

    Returns:
        new_grads: a new dict, new_grads[k] = grads[k] + weight_decay * params[k] for every key.
    """
    raise NotImplementedError("Q2.1: implement l2_grad")


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
        out: array of x's shape, out = x * mask / (1 - p); x itself or a copy of x when
            train is False (an input returned unchanged is allowed).
        mask: float64 array of x's shape holding 1.0 (kept) or 0.0 (dropped); all ones when
            train is False.
    """
    raise NotImplementedError("Q2.1: implement dropout")


# ---------------------------------------------------------------------------------------------
# Q2.2 — the training loss goes up: the steps are too large
# ---------------------------------------------------------------------------------------------

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
    raise NotImplementedError("Q2.2: implement max_stable_lr")


def clip_grad_norm(grads, max_norm):
    """Q2.2 — clip the global norm of all gradients, as torch.nn.utils.clip_grad_norm_.

    The total norm is the L2 norm of all gradient entries of all keys taken together. When it
    exceeds max_norm, every gradient is multiplied by max_norm / total_norm (so the new total
    norm is max_norm); otherwise the gradients are unchanged.

    Args:
        grads: dict name -> array.
        max_norm: float > 0.

    Returns:
        clipped: a new dict with the same keys and shapes.
        total_norm: float, the global norm BEFORE clipping.
    """
    raise NotImplementedError("Q2.2: implement clip_grad_norm")


# ---------------------------------------------------------------------------------------------
# Q2.3 — perceptron loss vs hinge loss
# ---------------------------------------------------------------------------------------------

def perceptron_loss(scores, y):
    """Q2.3 — multiclass perceptron loss: mean over the batch of max_j s_j - s_y.

    It is 0 as soon as the gold class has the highest score, however small the gap.

    Args:
        scores: array of shape (B, K), class scores.
        y: int array of shape (B,), gold classes in [0, K).

    Returns:
        loss: float.
    """
    raise NotImplementedError("Q2.3: implement perceptron_loss")


def hinge_loss(scores, y, margin=1.0):
    """Q2.3 — multiclass hinge loss: mean over the batch of max(0, margin + max_{j != y} s_j - s_y).

    Unlike the perceptron loss, it stays positive until the gold score beats every other score
    by at least the margin.

    Args:
        scores: array of shape (B, K), class scores, K >= 2.
        y: int array of shape (B,), gold classes in [0, K).
        margin: float >= 0.

    Returns:
        loss: float.
    """
    raise NotImplementedError("Q2.3: implement hinge_loss")


def perceptron_loss_grad(scores, y):
    """Q2.3 — gradient of the mean perceptron loss with respect to the scores.

    Per example the gradient is +1 at the argmax class and -1 at the gold class (so 0 when the
    gold class is the argmax), divided by B. Inputs stay away from ties for the argmax.

    Args:
        scores: array of shape (B, K).
        y: int array of shape (B,).

    Returns:
        dscores: float64 array of shape (B, K).
    """
    raise NotImplementedError("Q2.3: implement perceptron_loss_grad")


def hinge_loss_grad(scores, y, margin=1.0):
    """Q2.3 — subgradient of the mean hinge loss with respect to the scores.

    Per example whose hinge is active (margin + max_{j != y} s_j - s_y > 0) the gradient is +1
    at the best wrong class and -1 at the gold class; it is 0 for the other examples. The result
    is divided by B. Inputs stay away from the kink and from ties.

    Args:
        scores: array of shape (B, K), K >= 2.
        y: int array of shape (B,).
        margin: float >= 0.

    Returns:
        dscores: float64 array of shape (B, K).
    """
    raise NotImplementedError("Q2.3: implement hinge_loss_grad")


# ---------------------------------------------------------------------------------------------
# Q2.4 — the sigmoid saturates: gradients vanish in deep networks
# ---------------------------------------------------------------------------------------------

def sigmoid(x):
    """Q2.4 — numerically stable logistic sigmoid 1 / (1 + exp(-x)).

    Must be exact (as torch.sigmoid) for |x| up to 1e4 with no overflow, invalid-value or
    divide-by-zero warning (an exponential that underflows to 0 is fine: sigma is then 0 or 1
    to float64 precision). The naive formula overflows exp(-x) for x very negative.

    Args:
        x: array of any shape, float64.

    Returns:
        s: float64 array of x's shape, values in [0, 1].
    """
    raise NotImplementedError("Q2.4: implement sigmoid")


def sigmoid_grad(x):
    """Q2.4 — derivative of the sigmoid, sigma'(x) = sigma(x) (1 - sigma(x)).

    It is at most 1/4 (at x = 0) and vanishes as |x| grows: a saturated unit passes almost no
    gradient back. Same stability requirement as sigmoid.

    Args:
        x: array of any shape, the PRE-activation (not sigma(x)).

    Returns:
        ds: float64 array of x's shape.
    """
    raise NotImplementedError("Q2.4: implement sigmoid_grad")


def hidden_grad_norms(x, y, weights, biases, activation):
    """Q2.4 — how the gradient's size changes from layer to layer of a deep MLP.

    The network is h_0 = x, h_l = act(h_{l-1} @ W_l.T + b_l) for the hidden layers, and
    logits = h_{L-1} @ W_L.T + b_L for the last (linear) layer. The loss is the mean
    cross-entropy of the logits against y (F.cross_entropy). Compute the gradients by hand
    (backpropagation) and return the Frobenius norm of dL/dh_l over the whole batch for every
    hidden output h_l (after the activation). With sigmoid these norms shrink towards the input.

    Args:
        x: array of shape (B, D), the inputs.
        y: int array of shape (B,), classes in [0, K).
        weights: list of L arrays, weights[l] of shape (H_{l+1}, H_l); the last is (K, H_{L-1}).
        biases: list of L arrays, biases[l] of shape (H_{l+1},).
        activation: "sigmoid", "tanh" or "relu" (relu'(0) = 0, as torch).

    Returns:
        norms: list of L - 1 floats, ||dL/dh_1||, ..., ||dL/dh_{L-1}|| (input side first).
    """
    raise NotImplementedError("Q2.4: implement hidden_grad_norms")


# ---------------------------------------------------------------------------------------------
# Q2.5 — initialising a deep tanh network
# ---------------------------------------------------------------------------------------------

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
    raise NotImplementedError("Q2.5: implement glorot_uniform")


def activation_stds(x, weights, activation="tanh"):
    """Q2.5 — the spread of the activations, layer after layer, of a bias-free MLP.

    Starting from h = x, every weight W gives a layer h <- act(h @ W.T). With a good
    initialisation the stds stay of the same order; with too small (too large) weights they
    collapse to 0 (tanh saturates at +-1).

    Args:
        x: array of shape (B, D).
        weights: list of arrays, weights[l] of shape (H_{l+1}, H_l) with H_0 = D.
        activation: "tanh", "sigmoid", "relu", or a callable applied elementwise.

    Returns:
        stds: list of len(weights) floats, the population std (ddof=0) over all B * H_{l+1}
            entries of each layer's output h.
    """
    raise NotImplementedError("Q2.5: implement activation_stds")


# ---------------------------------------------------------------------------------------------
# Q2.6 — ReLU: a gradient that does not saturate, but can be exactly 0
# ---------------------------------------------------------------------------------------------

def relu(x):
    """Q2.6 — rectified linear unit, max(x, 0).

    Args:
        x: array of any shape, float64.

    Returns:
        out: float64 array of x's shape.
    """
    raise NotImplementedError("Q2.6: implement relu")


def relu_grad(x):
    """Q2.6 — derivative of relu: 1 where x > 0, 0 where x <= 0 (torch's choice at 0).

    Args:
        x: array of any shape, the pre-activation.

    Returns:
        d: float64 array of x's shape, entries 0.0 or 1.0.
    """
    raise NotImplementedError("Q2.6: implement relu_grad")


def leaky_relu(x, slope=0.01):
    """Q2.6 — leaky ReLU: x where x > 0, slope * x where x <= 0.

    Args:
        x: array of any shape, float64.
        slope: float, the slope of the negative side.

    Returns:
        out: float64 array of x's shape.
    """
    raise NotImplementedError("Q2.6: implement leaky_relu")


def leaky_relu_grad(x, slope=0.01):
    """Q2.6 — derivative of the leaky ReLU: 1 where x > 0, slope where x <= 0.

    Args:
        x: array of any shape, the pre-activation.
        slope: float.

    Returns:
        d: float64 array of x's shape.
    """
    raise NotImplementedError("Q2.6: implement leaky_relu_grad")


def dead_units(pre_activations):
    """Q2.6 — fraction of dead ReLU units on a batch.

    A unit is dead when its pre-activation is <= 0 for EVERY example of the batch: its relu
    gradient is then 0 everywhere and its incoming weights stop learning.

    Args:
        pre_activations: array of shape (B, H), one column per unit.

    Returns:
        fraction: float in [0, 1], (number of dead units) / H.
    """
    raise NotImplementedError("Q2.6: implement dead_units")


# ---------------------------------------------------------------------------------------------
# Q2.7 — minibatches
# ---------------------------------------------------------------------------------------------

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
    raise NotImplementedError("Q2.7: implement minibatches")


# ---------------------------------------------------------------------------------------------
# Q2.8 — beyond plain SGD: momentum and Adam
# ---------------------------------------------------------------------------------------------

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
    raise NotImplementedError("Q2.8: implement momentum_step")


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
    raise NotImplementedError("Q2.8: implement adam_step")
