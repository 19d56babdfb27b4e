"""Trusted stand-ins: the kit's own versions of the student functions that other questions call.

One mistake must cost one question. When a hidden test of question Q runs a student function
that calls a student function of ANOTHER question (mlp_backward -> linear, elbo -> gaussian_kl,
vae_forward -> reparameterize, cnn_forward -> conv2d, Var.backward -> topological_order, ...),
the child replaces that callee by its stand-in for the duration of the call, so that a bug in
the callee is charged to the callee's own question only (probes/substitution.py does the
replacing; the plugin decides which stand-ins a question's tests get).

These are correct implementations of graded functions, so they never enter a child whole: a
question's child receives the source of the stand-ins of OTHER questions only (`sources`), at
spawn; this module is imported by the grader alone. Each function stands alone (it calls no
other stand-in) and needs only `np` and `sliding_window_view`, or imports torch itself (Part 5,
whose children have torch).
"""
from __future__ import annotations

import functools
import inspect
import textwrap
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


# --- Part 1 (mlp.py, Q1.1): used by Q1.2/Q1.3 and by Part 2 modules that import them -------
def linear(x, W, b):
    return x @ W.T + b


def tanh(x):
    return np.tanh(x)


def log_softmax(z):
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def mlp_forward(x, params):
    h = np.tanh(x @ params["W1"].T + params["b1"])
    return h @ params["W2"].T + params["b2"]


def nll_loss(logits, y):
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y]))


# --- Part 2 (training.py): activations that Q2.4 and Q2.5 functions may call ----------------
def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return s * (1.0 - s)


def relu(x):
    return np.maximum(x, 0.0)


def relu_grad(x):
    return (np.asarray(x) > 0).astype(np.float64)


def leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def leaky_relu_grad(x, slope=0.01):
    return np.where(np.asarray(x) > 0, 1.0, slope)


# --- Part 3 (autodiff.py, Q3.2): the order Var.backward (Q3.3) walks ------------------------
def topological_order(out):
    """Every node reachable from `out` through `.parents`, once, after all its parents."""
    order, seen, stack = [], set(), [(out, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(tuple(node.parents)) if id(p) not in seen)
    return order


# --- Part 4 (cnn.py, Q4.1): what cnn_forward and conv2d_backward (Q4.2) may call --------------
def conv2d(x, w, b=None, stride=1, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwij,ocij->nohw", windows, w)
    return out if b is None else out + b[None, :, None, None]


def conv_output_shape(h, w, k, stride=1, padding=0):
    return (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1


# --- Part 5 (vae.py): Q5.6 and Q5.5, called by vae_forward (Q5.1) and elbo (Q5.4) ------------
def reparameterize(mu, logvar, eps):
    import torch

    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu, logvar):
    import torch

    return 0.5 * torch.sum(mu**2 + torch.exp(logvar) - 1.0 - logvar, dim=-1)


#: "module.function" -> the stand-in. The grader reads the names (plugin.py); the child runs them.
STAND_INS: dict[str, Callable] = {
    **{f"mlp.{f.__name__}": f for f in (linear, tanh, log_softmax, mlp_forward, nll_loss)},
    **{f"training.{f.__name__}": f for f in (sigmoid, sigmoid_grad, relu, relu_grad,
                                             leaky_relu, leaky_relu_grad)},
    "autodiff.topological_order": topological_order,
    "cnn.conv2d": conv2d,
    "cnn.conv_output_shape": conv_output_shape,
    "vae.reparameterize": reparameterize,
    "vae.gaussian_kl": gaussian_kl,
}


def sources(names) -> dict[str, str]:
    """{"module.function": the stand-in's source} for `names`: what a child receives."""
    return {name: _source(name) for name in names}


@functools.cache
def _source(name: str) -> str:
    return textwrap.dedent(inspect.getsource(STAND_INS[name]))
