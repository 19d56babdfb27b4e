"""Probes for the generative suites, test_vae.py and test_gan.py (run inside the sandboxed child).

They hold no reference value: each builds what cannot cross the boundary (torch modules from
weight arrays, a test function f from its coefficients, leaf tensors that require grad), calls the
student's function, runs autograd on the student's result, and returns plain data. The grader
builds the same objects from the same arrays and computes the references itself.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.probes.base import probe, student_function


def _detached(value):
    """The student's result with every tensor detached (a tensor with grad may cross, but its
    graph is of no use to the grader); other values are returned as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return [_detached(v) for v in value]
    return value


def _grads(output, weights, leaves):
    """Gradients of L = sum_i sum(weights[i] * output_i) with respect to `leaves`.

    Returns (grads, reason): grads[j] is a tensor, or None when no gradient reached leaves[j];
    reason is None when L could be formed, else why not (the grader reports it).
    """
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    if len(outputs) != len(weights):
        return [None] * len(leaves), f"expected {len(weights)} result(s), got {len(outputs)}"
    total = None
    for out, w in zip(outputs, weights):
        if w is None:
            continue
        if not isinstance(out, torch.Tensor):
            return [None] * len(leaves), f"the result is a {type(out).__name__}, not a tensor"
        if tuple(out.shape) != tuple(w.shape):
            return [None] * len(leaves), f"the result has shape {tuple(out.shape)}"
        if not out.requires_grad:
            return [None] * len(leaves), ("the result does not require grad: it was computed "
                                          "outside autograd (detached, no_grad, numpy)")
        term = (w * out).sum()
        total = term if total is None else total + term
    if total is None:
        return [None] * len(leaves), "nothing to differentiate"
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    return [None if g is None else g.detach().clone() for g in grads], None


@probe
def call_with_grads(module: str, function: str, args: list, differentiable: list, weights: list):
    """Call module.function(*args) with args[i] a fresh leaf requiring grad for i in
    `differentiable`, then back-propagate L = sum_i sum(weights[i] * result_i) (result_i the
    i-th output, or the result itself; a None weight skips an output).

    Returns {"value": the result, detached; "grads": one entry per differentiable argument
    (None when no gradient reached it); "reason": why L could not be formed, or None}.
    """
    args = list(args)
    leaves = []
    for i in differentiable:
        args[i] = args[i].detach().clone().requires_grad_(True)
        leaves.append(args[i])
    with torch.enable_grad():
        output = student_function(module, function)(*args)
        grads, reason = _grads(output, weights, leaves)
    return {"value": _detached(output), "grads": grads, "reason": reason}


def _mlp(weights: list, flatten_input: bool, out_shape: list | None) -> nn.Sequential:
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


@probe
def call_autoencoder(module: str, function: str, encoder_weights: list, decoder_weights: list,
                     out_shape: list, x, eps, weights: list):
    """Q5.1: build encoder = Flatten, Linear, Tanh, Linear and decoder = Linear, Tanh, Linear,
    Unflatten(out_shape) from the weight arrays (float64), call <module>.<function> (module is
    "vae"):
    ae_forward(x, encoder, decoder), vae_forward(x, encoder, decoder, eps) or
    vae_generate(decoder, eps); back-propagate L = sum_i sum(weights[i] * result_i).

    Returns {"value", "reason", "encoder_grads" [W1, b1, W2, b2], "decoder_grads" [...],
    "x", "eps" (the inputs as they are after the call)}.
    """
    encoder = _mlp(encoder_weights, True, None)
    decoder = _mlp(decoder_weights, False, out_shape)
    call_args = {"ae_forward": (x, encoder, decoder), "vae_forward": (x, encoder, decoder, eps),
                 "vae_generate": (decoder, eps)}[function]
    enc_params = [encoder[1].weight, encoder[1].bias, encoder[3].weight, encoder[3].bias]
    dec_params = [decoder[0].weight, decoder[0].bias, decoder[2].weight, decoder[2].bias]
    with torch.enable_grad():
        output = student_function(module, function)(*call_args)
        grads, reason = _grads(output, weights, enc_params + dec_params)
    return {"value": _detached(output), "reason": reason, "encoder_grads": grads[:4],
            "decoder_grads": grads[4:], "x": x, "eps": eps}


@probe
def pathwise_quadratic(a, c, mu, sigma, eps):
    """Q5.2: vae.pathwise_grad(f, mu, sigma, eps) with f(z) = sum_d a_d z_d^2 + c_d z_d over the
    last axis (so f maps (S, D) to (S,), and one z of shape (D,) to a scalar).

    Returns {"value": the student's result, "mu", "sigma", "eps": the inputs after the call}.
    """
    def f(z):
        return (a * z**2 + c * z).sum(dim=-1)

    result = student_function("vae", "pathwise_grad")(f, mu, sigma, eps)
    return {"value": _detached(result), "mu": mu.detach(), "sigma": sigma.detach(), "eps": eps}


@probe
def score_function_table(table, logits, samples):
    """Q5.2: vae.score_function_grad(f, logits, samples) with f(k) = table[k] (a lookup that
    works on an int, a 0-d or an (S,) int64 tensor).

    Returns {"value": the student's result, "logits", "samples": the inputs after the call}.
    """
    def f(k):
        return table[k]

    result = student_function("vae", "score_function_grad")(f, logits, samples)
    return {"value": _detached(result), "logits": logits.detach(), "samples": samples}
