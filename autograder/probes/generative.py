"""Probes for the generative suites, test_vae.py and test_gan.py.

The probes run inside the sandboxed child and hold no reference value: each builds what cannot
cross the boundary (torch modules from weight arrays, a test function f from its coefficients,
leaf tensors that require grad), calls the student's function through base.call_checked (so
that an input changed in place, its .grad included, is reported as submission.call reports
it), runs autograd on the student's result, and returns plain data.

The grader builds the same objects from the same arrays with the same helpers (leaves_of,
mlp_module, weighted_grads), so "the gradient of L" means one thing on both sides; its side of
these probes is suites/generative_checks.py.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.probes.base import call_checked, probe, student_function

NOT_DIFFERENTIABLE = ("does not require grad: no autograd graph links it to the inputs (it was "
                      "computed under no_grad, detached, or through numpy or Python numbers)")


def _detached(value):
    """The student's result with every tensor detached (a tensor with grad may cross, but its
    graph is of no use to the grader); other values are returned as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return [_detached(v) for v in value]
    return value


def leaves_of(args, differentiable) -> tuple[list, list]:
    """(args with args[i] a fresh leaf requiring grad for i in `differentiable`, those leaves)."""
    args = list(args)
    for i in differentiable:
        args[i] = args[i].detach().clone().requires_grad_(True)
    return args, [args[i] for i in differentiable]


def weighted_grads(output, weights, leaves):
    """Gradients of L = sum_i sum(weights[i] * output_i) with respect to `leaves` (output_i the
    i-th output, or the output itself; a None weight skips an output).

    Returns (grads, reason): grads[j] is a tensor, or None when no gradient reached leaves[j];
    reason is None when L could be formed, else the fact that prevented it.
    """
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    if len(outputs) != len(weights):
        return [None] * len(leaves), f"expected {len(weights)} results, got {len(outputs)}"
    total = None
    for i, (out, w) in enumerate(zip(outputs, weights)):
        if w is None:
            continue
        name = "the result" if len(weights) == 1 else f"result {i + 1} of {len(weights)}"
        if not isinstance(out, torch.Tensor):
            return [None] * len(leaves), f"{name} is a {type(out).__name__}, not a tensor"
        if tuple(out.shape) != tuple(w.shape):
            return [None] * len(leaves), (f"{name} has shape {tuple(out.shape)}, expected "
                                          f"{tuple(w.shape)}")
        if not out.requires_grad:
            return [None] * len(leaves), f"{name} {NOT_DIFFERENTIABLE}"
        term = (w * out).sum()
        total = term if total is None else total + term
    if total is None:
        return [None] * len(leaves), "nothing to differentiate"
    grads = torch.autograd.grad(total, leaves, allow_unused=True, retain_graph=True)
    return [None if g is None else g.detach().clone() for g in grads], None


def mlp_module(weights: list, flatten_input: bool, out_shape: list | None) -> nn.Sequential:
    """nn.Sequential([Flatten,] Linear, Tanh, Linear[, Unflatten]) in float64, weights copied in;
    weights = [W1, b1, W2, b2] with W of shape (out, in) as nn.Linear."""
    W1, b1, W2, b2 = weights
    first = nn.Linear(W1.shape[1], W1.shape[0], dtype=torch.float64)
    second = nn.Linear(W2.shape[1], W2.shape[0], dtype=torch.float64)
    with torch.no_grad():
        first.weight.copy_(W1)
        first.bias.copy_(b1)
        second.weight.copy_(W2)
        second.bias.copy_(b2)
    layers = [first, nn.Tanh(), second]
    if flatten_input:
        layers.insert(0, nn.Flatten())
    if out_shape is not None:
        layers.append(nn.Unflatten(1, tuple(out_shape)))
    return nn.Sequential(*layers)


def module_parameters(module: nn.Sequential) -> list:
    """[W1, b1, W2, b2] of an mlp_module."""
    linear = [layer for layer in module if isinstance(layer, nn.Linear)]
    return [p for layer in linear for p in (layer.weight, layer.bias)]


# --- probes (in the child) --------------------------------------------------------------------
@probe
def call_with_grads(module: str, function: str, args: list, differentiable: list, weights: list):
    """Call module.function(*args) with args[i] a fresh leaf requiring grad for i in
    `differentiable`, then back-propagate L = sum_i sum(weights[i] * result_i).

    Returns {"value": the result, detached; "modified": the inputs it changed in place;
    "grads": one entry per differentiable argument (None when no gradient reached it);
    "reason": why L could not be formed, or None}.
    """
    args, leaves = leaves_of(args, differentiable)
    with torch.enable_grad():
        reply = call_checked(student_function(module, function), args, {})
        grads, reason = weighted_grads(reply["value"], weights, leaves)
    return {"value": _detached(reply["value"]), "modified": reply["modified"], "grads": grads,
            "reason": reason}


@probe
def call_autoencoder(module: str, function: str, encoder_weights: list, decoder_weights: list,
                     out_shape: list, x, eps, weights: list):
    """Q5.1: build encoder = Flatten, Linear, Tanh, Linear and decoder = Linear, Tanh, Linear,
    Unflatten(out_shape) from the weight arrays (float64), call <module>.<function> (module is
    "vae"): ae_forward(x, encoder, decoder), vae_forward(x, encoder, decoder, eps) or
    vae_generate(decoder, eps); back-propagate L = sum_i sum(weights[i] * result_i).

    Returns {"value", "modified" (x or eps changed in place), "reason", "encoder_grads"
    [W1, b1, W2, b2], "decoder_grads" [...]}.
    """
    encoder = mlp_module(encoder_weights, True, None)
    decoder = mlp_module(decoder_weights, False, out_shape)
    own = student_function(module, function)
    call, args = {"ae_forward": (lambda x: own(x, encoder, decoder), [x]),
                  "vae_forward": (lambda x, eps: own(x, encoder, decoder, eps), [x, eps]),
                  "vae_generate": (lambda eps: own(decoder, eps), [eps])}[function]
    params = module_parameters(encoder) + module_parameters(decoder)
    with torch.enable_grad():
        reply = call_checked(call, args, {})
        grads, reason = weighted_grads(reply["value"], weights, params)
    return {"value": _detached(reply["value"]), "modified": reply["modified"], "reason": reason,
            "encoder_grads": grads[:4], "decoder_grads": grads[4:]}


@probe
def pathwise_quadratic(a, c, mu, sigma, eps):
    """Q5.2: vae.pathwise_grad(f, mu, sigma, eps) with f(z) = sum_d a_d z_d^2 + c_d z_d over the
    last axis (so f maps (S, D) to (S,), and one z of shape (D,) to a scalar).

    Returns {"value": the student's result, "modified": the inputs it changed in place}.
    """
    def f(z):
        return (a * z**2 + c * z).sum(dim=-1)

    own = student_function("vae", "pathwise_grad")
    reply = call_checked(lambda mu, sigma, eps: own(f, mu, sigma, eps), [mu, sigma, eps], {})
    return {"value": _detached(reply["value"]), "modified": reply["modified"]}


@probe
def score_function_table(table, logits, samples):
    """Q5.2: vae.score_function_grad(f, logits, samples) with f(k) = table[k] (a lookup that
    works on an int, a 0-d or an (S,) int64 tensor).

    Returns {"value": the student's result, "modified": the inputs it changed in place}.
    """
    def f(k):
        return table[k]

    own = student_function("vae", "score_function_grad")
    reply = call_checked(lambda logits, samples: own(f, logits, samples), [logits, samples], {})
    return {"value": _detached(reply["value"]), "modified": reply["modified"]}
