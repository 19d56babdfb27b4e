"""Trusted stand-ins: the kit's own versions of the student functions that other questions call.

One mistake must cost one question. When a hidden test of question Q runs a student function
that calls a student function of ANOTHER question (mlp_backward -> linear, elbo -> gaussian_kl,
vae_forward -> reparameterize, cnn_forward -> conv2d, Var.backward -> topological_order, ...),
the child replaces that callee by its stand-in for the duration of the call, so that a bug in
the callee is charged to the callee's own question only. The plugin decides which stand-ins a
test gets (every registered function of another question than the test's); `installed` puts
them in place here, in the child.

A stand-in is used only for a call the contract's signature accepts: a call with arguments of
the student's own invention goes to the student's own function. The grader also grades a
failing test again without stand-ins (see plugin.py), so a caller that relies on its own
helpers' behaviour is never worse off than without this mechanism.

Numpy stand-ins serve the numpy-only parts (their children cannot import torch); torch ones
serve Part 5, whose children have torch.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from typing import Callable, Iterator

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
    return linear(tanh(linear(x, params["W1"], params["b1"])), params["W2"], params["b2"])


def nll_loss(logits, y):
    return float(-np.mean(log_softmax(logits)[np.arange(len(y)), y]))


# --- Part 2 (training.py): activations that Q2.4 and Q2.5 functions may call ----------------
def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x):
    s = sigmoid(x)
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


class Calls:
    """The stand-ins that were called during one probe call (reported to the grader)."""

    def __init__(self):
        self.used: list[str] = []

    def note(self, name: str) -> None:
        if name not in self.used:
            self.used.append(name)


def _wrapper(name: str, stand_in: Callable, own: Callable, calls: Calls) -> Callable:
    signature = inspect.signature(stand_in)

    @functools.wraps(own)
    def call(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError:   # the student's own extension of the contract: their own function
            return own(*args, **kwargs)
        calls.note(name)
        return stand_in(*args, **kwargs)

    return call


@contextlib.contextmanager
def installed(names: list[str], student_dir: str) -> Iterator[Calls]:
    """Replace, in every student module already imported (from the folder `student_dir`), each function named in `names`
    (wherever the student bound it: `mlp.linear`, or `linear` imported into training.py) by a
    wrapper that runs its stand-in; everything is put back on exit."""
    calls = Calls()
    modules = [m for m in list(sys.modules.values())
               if isinstance(getattr(m, "__file__", None), str)
               and os.path.dirname(os.path.abspath(m.__file__)) == student_dir]
    owners = {m.__name__: m for m in modules}
    replaced = []
    for name in names:
        module_name, function = name.split(".")
        owner = owners.get(module_name)
        own = getattr(owner, function, None) if owner is not None else None
        if not callable(own):
            continue
        wrapper = _wrapper(name, STAND_INS[name], own, calls)
        for module in modules:
            for attribute, value in list(vars(module).items()):
                if value is own:
                    replaced.append((module, attribute, value))
                    setattr(module, attribute, wrapper)
    try:
        yield calls
    finally:
        for module, attribute, value in reversed(replaced):
            setattr(module, attribute, value)
