"""Trusted stand-ins: the kit's own versions of the student functions that other questions call.

One mistake must cost one question. When a hidden test of question Q runs a student function
that calls a student function of ANOTHER question (mlp_backward -> linear, elbo -> gaussian_kl,
vae_forward -> reparameterize, cnn_forward -> conv2d, Var.backward -> topological_order, ...),
that callee is replaced for the duration of the call, so that a bug in it is charged to its own
question only (probes/substitution.py does the replacing in the child; the plugin decides which
stand-ins a question's tests get: those of every other question's functions).

These are correct implementations of graded functions, so they never enter a child: a replaced
function asks the grader, which computes here (`answer`) on the arguments the child sends, as
plain data. A child learns only values it could compute with torch on its own machine.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAX_ELEMENTS = 1_000_000         # numbers in the arguments of one stand-in request
MAX_CONV_PRODUCTS = 100_000_000  # multiplications of one conv2d stand-in
MAX_NODES = 100_000              # nodes of one graph to order


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
    """The contract's signature; the child asks for `ordered` with the graph's shape instead."""
    raise NotImplementedError


def ordered(parents: list[list[int]]) -> list[int]:
    """Node 0 and every node reachable from it, once, each after all its parents: the graph
    given as each node's parent indices."""
    order, seen, stack = [], set(), [(0, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(parents[node]) if p not in seen)
    return order


# --- Part 4 (cnn.py, Q4.1): what cnn_forward and conv2d_backward (Q4.2) may call --------------
def conv2d(x, w, b=None, stride=1, padding=0):
    products = np.prod(x.shape) * w.shape[0] * w.shape[2] * w.shape[3] // max(1, stride) ** 2
    if products > MAX_CONV_PRODUCTS:
        raise ValueError(f"a convolution of {products} products is more than a test needs")
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


@dataclass(frozen=True)
class StandIn:
    """How a child asks for a stand-in ("value", "differentiable", "order") and the function
    whose signature is the contract's (what a call must bind to, to be stood in)."""
    kind: str
    function: Callable

    def spec(self) -> dict:
        """What a child is told: the kind and the contract's parameters."""
        parameters = inspect.signature(self.function).parameters.values()
        return {"kind": self.kind, "parameters": [[p.name, p.default is not p.empty]
                                                   for p in parameters]}


STAND_INS: dict[str, StandIn] = {
    **{f"mlp.{f.__name__}": StandIn("value", f)
       for f in (linear, tanh, log_softmax, mlp_forward, nll_loss)},
    **{f"training.{f.__name__}": StandIn("value", f)
       for f in (sigmoid, sigmoid_grad, relu, relu_grad, leaky_relu, leaky_relu_grad)},
    "autodiff.topological_order": StandIn("order", topological_order),
    "cnn.conv2d": StandIn("value", conv2d),
    "cnn.conv_output_shape": StandIn("value", conv_output_shape),
    "vae.reparameterize": StandIn("differentiable", reparameterize),
    "vae.gaussian_kl": StandIn("differentiable", gaussian_kl),
}


def answer(name: str, kind: str, payload) -> object:
    """The stand-in `name`'s answer to a child's request; ValueError or TypeError when the
    arguments are not something the stand-in can take (the student's code then sees an error,
    as if its own function had raised)."""
    stand_in = STAND_INS[name]
    if _elements(payload) > MAX_ELEMENTS:
        raise ValueError(f"more than {MAX_ELEMENTS} numbers passed to {name}")
    if kind == "order" and stand_in.kind == "order":
        if len(payload) > MAX_NODES or not all(type(p) is list and all(
                type(i) is int and 0 <= i < len(payload) for i in p) for p in payload):
            raise ValueError("not a graph of parent indices")
        return ordered(payload)
    if kind == "value" and stand_in.kind in ("value", "differentiable"):
        args, kwargs = payload
        return stand_in.function(*args, **kwargs)
    if kind == "vjp" and stand_in.kind == "differentiable":
        import torch

        inputs, grad_output = payload
        leaves = [a.detach().clone().requires_grad_(True) if _is_float_tensor(a) else a
                  for a in inputs]
        with torch.enable_grad():
            value = stand_in.function(*leaves)
            wanted = [a for a in leaves if _is_float_tensor(a)]
            grads = iter(torch.autograd.grad(value, wanted, grad_output, allow_unused=True))
        return [next(grads) if _is_float_tensor(a) else None for a in leaves]
    raise ValueError(f"{name} cannot answer a {kind!r} request")


def _is_float_tensor(value) -> bool:
    return hasattr(value, "detach") and value.is_floating_point()


def _elements(value) -> int:
    if isinstance(value, (list, tuple)):
        return sum(map(_elements, value))
    if isinstance(value, dict):
        return sum(map(_elements, value.values()))
    return int(np.prod(np.shape(value))) if hasattr(value, "shape") else 1


def specs(names) -> dict[str, dict]:
    """{"module.function": what its child is told} for `names`."""
    return {name: STAND_INS[name].spec() for name in names}
