"""The known mistakes of softmax.py (Q3.1), grown from its docstrings.

Each function takes the inputs of the student function of the same name plus `expected` (the
torch reference the caller computed on them) and returns {hint: what the mistaken formula
returns on those inputs}; a grader shows a hint only when the student's result matches it.
Shipped to students with the public checks: every formula here is computed with torch, or is
`expected` transformed. Hints name the misconception, never the question.
"""
from __future__ import annotations

import numpy as np
import torch

#: For checks.strict_result at logits of ±1e4: the kind of numpy floating-point error -> what
#: produces it there.
FLOATING_POINT = {
    "overflow": "exp overflows for large logits; subtract the maximum along the axis before "
                "exponentiating",
    "divide": "log(0) or a division by 0: exponentials underflowed to 0, and a log or a "
              "division followed, of their sum (subtract the maximum along the axis first: the "
              "largest term is then 1) or of a probability (compute log_softmax as "
              "(z − max) − logsumexp(z − max): never take log(softmax(z)))",
    "invalid": "0/0 or inf − inf: the exponentials of a whole slice underflowed to 0, or "
               "overflowed: subtract the maximum along the axis (keepdims=True) before "
               "exponentiating, so that each slice's largest exponential is 1",
}

_UNSTABLE = ("exp overflowed: inf / inf and inf − inf give nan; subtract the maximum along the "
             "axis before exponentiating")
_GLOBAL_SHIFT = ("shifted by the maximum of the whole array: a slice far below it underflows to 0 "
                 "entirely; subtract the maximum along the axis (keepdims=True)")


def _t(a) -> torch.Tensor:
    """A float64 tensor holding a copy of `a` (inputs stay untouched and may be read-only)."""
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _over_other_axes(function, z, axis, verb: str) -> dict:
    """The torch `function` (softmax, log_softmax or logsumexp) over the whole array, and over
    every axis of z but `axis`."""
    t = _t(z)
    whole = function(t.reshape(-1), 0)
    mistakes = {f"{verb} over the whole array: work along `axis` only":
                _np(whole.reshape(t.shape) if whole.numel() == t.numel() else whole)}
    for other in range(t.ndim):
        if other != axis % t.ndim:
            mistakes[f"{verb} over axis {other} instead of axis={axis}: use the `axis` "
                     f"argument"] = _np(function(t, other))
    return mistakes


def _without_keepdims(reduced: torch.Tensor, t: torch.Tensor, combine):
    """`combine(t, reduced)` when `reduced` (the axis removed) broadcasts against t, else None:
    what forgetting keepdims=True gives where numpy aligns it with the wrong axes."""
    try:
        value = combine(t, reduced)
    except RuntimeError:
        return None
    return _np(value) if value.shape == t.shape else None


def softmax(z, axis, expected) -> dict:
    """exp(z) / Σ exp(z) along `axis`: another axis or the whole array, no normalisation, the
    log-softmax instead, the sum without keepdims, the unstable formulas (no shift, one shift
    for the whole array)."""
    t = _t(z)
    e = torch.exp(t)
    shifted = t - t.amax(axis, keepdim=True)
    whole = torch.exp(t - t.max())
    mistakes = {
        **_over_other_axes(torch.softmax, z, axis, "normalised"),
        "exp(z − max) without dividing by its sum along the axis": _np(torch.exp(shifted)),
        "returned log_softmax(z): softmax is its exp": _np(torch.log_softmax(t, axis)),
        _UNSTABLE: _np(e / e.sum(axis, keepdim=True)),
        _GLOBAL_SHIFT: _np(whole / whole.sum(axis, keepdim=True)),
    }
    wrong = _without_keepdims(torch.exp(shifted).sum(axis), t,
                              lambda t, s: torch.exp(t - t.amax(axis, keepdim=True)) / s)
    if wrong is not None:
        mistakes["the sum was taken without keepdims=True, so it broadcast along the wrong "
                 "axis"] = wrong
    return mistakes


def log_softmax(z, axis, expected) -> dict:
    """z − logsumexp(z) along `axis`: another axis or the whole array, the logsumexp missing,
    the sign, the softmax itself, the logsumexp without keepdims, the unstable formulas (no
    shift, log of softmax, one shift for the whole array)."""
    t = _t(z)
    e = torch.exp(t)
    shifted = t - t.amax(axis, keepdim=True)
    whole = t - t.max()
    mistakes = {
        **_over_other_axes(torch.log_softmax, z, axis, "normalised"),
        "z − max(z) alone: the logsumexp(z − max) term is missing": _np(shifted),
        "the sign is flipped: log_softmax(z) = z − logsumexp(z) is ≤ 0": -expected,
        "returned softmax(z), not its log": _np(torch.softmax(t, axis)),
        _UNSTABLE: _np(torch.log(e / e.sum(axis, keepdim=True))),
        "log(softmax(z)) is −inf where a probability underflows to 0: compute "
        "(z − max) − logsumexp(z − max), never take log(softmax(z))":
            _np(torch.log(torch.softmax(t, axis))),
        _GLOBAL_SHIFT: _np(whole - torch.log(torch.exp(whole).sum(axis, keepdim=True))),
    }
    wrong = _without_keepdims(torch.logsumexp(t, axis), t, lambda t, s: t - s)
    if wrong is not None:
        mistakes["the logsumexp was subtracted without keepdims=True, so it broadcast along "
                 "the wrong axis"] = wrong
    return mistakes


def logsumexp(z, axis, expected) -> dict:
    """log Σ exp(z) along `axis`, which is removed: another axis or the whole array, the axis
    kept, the maximum not added back or alone, a mean instead of the sum, the unstable formulas
    (no shift, one shift for the whole array)."""
    t = _t(z)
    top = t.amax(axis)
    whole = t.max()
    return {
        **_over_other_axes(torch.logsumexp, z, axis, "reduced"),
        "kept the reduced axis: logsumexp removes `axis` (keepdims=False), its result has z's "
        "shape without that axis": np.expand_dims(expected, axis),
        "log Σ exp(z − max) without adding the maximum back: logsumexp(z) = max + "
        "log Σ exp(z − max)": expected - _np(top),
        "returned the maximum alone: the log Σ exp(z − max) term is missing": _np(top),
        "log of the MEAN of exp(z): logsumexp sums the exponentials":
            expected - np.log(t.shape[axis]),
        _UNSTABLE: _np(torch.log(torch.exp(t).sum(axis))),
        _GLOBAL_SHIFT: _np(whole + torch.log(torch.exp(t - whole).sum(axis))),
    }
