"""Part 1 — a one-hidden-layer perceptron for classification, written with numpy only.

The network maps a batch x of shape (B, D) to class scores (logits) of shape (B, K):

    h = tanh(x W1ᵀ + b1)        hidden layer, (B, H)
    z = h W2ᵀ + b2              logits, (B, K)

and is trained on the mean negative log-likelihood of the true classes (cross-entropy).

Conventions (the same for every function of this module):
- Arrays are float64 and batch first. Labels y are integer class indices of shape (B,).
- A layer's weight has shape (out, in) and its bias (out,), as in torch.nn.Linear.
- Parameters travel as a dict {"W1": (H, D), "b1": (H,), "W2": (K, H), "b2": (K,)}; gradients
  use the same keys and shapes.
- No function modifies its inputs (arrays or dicts): results are new arrays and new dicts.
- numpy only: torch is not available when this module is graded. An unused `import torch`
  costs nothing; a question whose checks run into torch scores 0.
"""

import numpy as np


def linear(x, W, b):
    """Q1.1 — affine layer x Wᵀ + b, as torch.nn.Linear computes it.

    Args:
        x: (B, n_in) inputs.
        W: (n_out, n_in) weight.
        b: (n_out,) bias, added to every row.

    Returns:
        (B, n_out) array.
    """
    raise NotImplementedError("Q1.1: implement linear")


def tanh(x):
    """Q1.1 — hyperbolic tangent, elementwise.

    Args:
        x: array of any shape.

    Returns:
        array of the same shape, values in [-1, 1].
    """
    raise NotImplementedError("Q1.1: implement tanh")


def log_softmax(z):
    """Q1.1 — log of the softmax over the last axis: z_k − log Σ_j exp(z_j).

    Must be exact for logits as large as ±1e4 without any overflow, invalid-value or
    divide-by-zero warning (an exponential that underflows to 0 is fine): a naive
    exp-then-log overflows there.

    Args:
        z: (K,) or (B, K) logits.

    Returns:
        array of z's shape; exp of each row sums to 1.
    """
    raise NotImplementedError("Q1.1: implement log_softmax")


def mlp_forward(x, params):
    """Q1.1 — logits of the network: linear, tanh, linear.

    Args:
        x: (B, D) inputs.
        params: {"W1": (H, D), "b1": (H,), "W2": (K, H), "b2": (K,)}.

    Returns:
        (B, K) logits (no softmax applied).
    """
    raise NotImplementedError("Q1.1: implement mlp_forward")


def nll_loss(logits, y):
    """Q1.1 — mean cross-entropy of the true classes, from logits (torch's F.cross_entropy).

    The loss of one example is −log softmax(logits)[y]; the result is the mean over the batch.
    Like log_softmax, it must be exact for logits up to ±1e4 with no overflow, invalid-value or
    divide-by-zero warning.

    Args:
        logits: (B, K) unnormalised scores.
        y: (B,) integer class indices in [0, K).

    Returns:
        a Python float.
    """
    raise NotImplementedError("Q1.1: implement nll_loss")


def sgd_update(params, grads, lr):
    """Q1.2 — one step of plain gradient descent: p ← p − lr · ∂L/∂p for every parameter.

    Args:
        params: dict name -> array.
        grads: dict with the same names and shapes.
        lr: learning rate, a float.

    Returns:
        a new dict of new arrays; params and grads are left untouched.
    """
    raise NotImplementedError("Q1.2: implement sgd_update")


def output_layer_grads(x, y, params):
    """Q1.3 — gradient of the mean cross-entropy with respect to the output layer only.

    With h the hidden activations and p = softmax(z) the predicted probabilities, the gradient
    of the loss with respect to the logits of example i is (p_i − onehot(y_i)) / B, so
    ∂L/∂W2 is the batch average of (p_i − onehot(y_i)) h_iᵀ and ∂L/∂b2 the batch average
    of (p_i − onehot(y_i)).

    Args:
        x: (B, D) inputs.
        y: (B,) integer class indices.
        params: {"W1": (H, D), "b1": (H,), "W2": (K, H), "b2": (K,)}.

    Returns:
        {"W2": (K, H), "b2": (K,)}.
    """
    raise NotImplementedError("Q1.3: implement output_layer_grads")


def mlp_backward(x, y, params):
    """Q1.3 — back-propagation: gradient of the mean cross-entropy for all four parameters.

    Go on from the output layer's gradient through W2 and then through tanh, whose derivative
    is 1 − tanh², down to W1 and b1.

    Args:
        x: (B, D) inputs.
        y: (B,) integer class indices.
        params: {"W1": (H, D), "b1": (H,), "W2": (K, H), "b2": (K,)}.

    Returns:
        {"W1": (H, D), "b1": (H,), "W2": (K, H), "b2": (K,)}, shaped like params.
    """
    raise NotImplementedError("Q1.3: implement mlp_backward")
