"""The known mistakes of training.py (Part 2), grown from its docstrings.

Each function takes the inputs of the student function of the same name plus `expected` (the
reference the caller computed on them, with torch where torch has it) and returns
{hint: what the mistaken formula returns on those inputs}; a grader shows a hint only when the
student's result matches it. Where a result is random (dropout's mask, Glorot's weights,
minibatches' order) the mistakes are of what is graded: the output given the student's own
mask, the statistics of the law, the batch sizes.

Shipped to students with the public checks: nothing here computes a correct result of a graded
function in numpy. A mistake is `expected` transformed, or a formula computed with torch with
one ingredient wrong; early stopping's walker refuses to run without a mistake. Hints name the
misconception, never the question.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

#: For checks.strict_result on sigmoid and sigmoid_grad at |x| up to 1e4: the kind of numpy
#: floating-point error -> what produces it there (no division happens in these formulas).
FLOATING_POINT = {
    "overflow": "exp overflows for |x| in the hundreds; compute with exp(−|x|), which is at "
                "most 1 (np.where does not help: it evaluates both branches everywhere)",
    "invalid": "inf / inf: an exponential overflowed; compute with exp(−|x|), which is at most "
               "1 (np.where does not help: it evaluates both branches everywhere)",
}


def _t(a) -> torch.Tensor:
    """A float64 tensor holding a copy of `a` (inputs stay untouched and may be read-only)."""
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _labels(y) -> torch.Tensor:
    return torch.tensor(np.asarray(y, dtype=np.int64))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


# ---------------------------------------------------------------------------------------------
# Q2.1 — early stopping, L2, dropout
# ---------------------------------------------------------------------------------------------

def _stopping_walk(losses, patience, *, ties=False, late=False, rule_first=False,
                   return_stop=False) -> int:
    """What an early stopping with the named mistake returns (never without one)."""
    if not (ties or late or rule_first or return_stop):
        raise ValueError("a mistaken walk needs a mistake")
    best, stop = 0, len(losses) - 1
    for epoch, loss in enumerate(losses):
        if rule_first and epoch - best >= patience:
            stop = epoch
            break
        if loss < losses[best] or (ties and loss == losses[best]):
            best = epoch
        if not rule_first and epoch - best >= patience + late:
            stop = epoch
            break
    return stop if return_stop else best


def early_stopping(dev_losses, patience, expected) -> dict:
    """The best epoch when training stops: patience ignored (the best of the whole curve), a
    tie counted as a new minimum, stopping one epoch late, the stopping rule tested before the
    epoch's new minimum is recorded, the stopping epoch returned."""
    losses = list(dev_losses)
    return {
        "returned the best epoch of the whole curve: training stops as soon as `patience` "
        "epochs pass without a new minimum": int(np.argmin(losses)),
        "a loss equal to the minimum is not a new minimum: it must be strictly lower":
            _stopping_walk(losses, patience, ties=True),
        "stopped one epoch late: stop at the first epoch e with e − best >= patience":
            _stopping_walk(losses, patience, late=True),
        "tested the stopping rule before recording the epoch's loss: a new minimum at epoch e "
        "resets the count": _stopping_walk(losses, patience, rule_first=True),
        "returned the epoch where training stopped: return the best epoch, whose parameters "
        "are kept": _stopping_walk(losses, patience, return_stop=True),
    }


def l2_grad(params, grads, weight_decay, expected) -> dict:
    """grads + weight_decay · params for every key: the biases (1-D arrays) left out, the
    penalty missing, the factor halved or doubled, the penalty subtracted, the penalty's gradient
    alone, the penalty itself instead of its gradient. Each hint is true of one key."""
    wd = weight_decay
    return {
        "the biases were left out: torch.optim.SGD(weight_decay) decays every parameter, "
        "biases included": {k: expected[k] if np.ndim(params[k]) > 1 else grads[k]
                            for k in expected},
        "used weight_decay / 2: the gradient of (wd/2)||theta||^2 is wd * theta":
            {k: expected[k] - wd / 2 * params[k] for k in expected},
        "used 2 * weight_decay: the gradient of (wd/2)||theta||^2 is wd * theta":
            {k: expected[k] + wd * params[k] for k in expected},
        "subtracted the penalty's gradient: it is added, the step then subtracts it":
            {k: expected[k] - 2 * wd * params[k] for k in expected},
        "the penalty's gradient is missing: l2_grad adds weight_decay * params to grads":
            {k: grads[k] for k in expected},
        "returned the penalty's gradient alone: add it to the loss's gradient":
            {k: expected[k] - grads[k] for k in expected},
        "added the penalty (wd/2) theta^2 itself: add its gradient, wd * theta":
            {k: grads[k] + wd / 2 * params[k] ** 2 for k in expected},
    }


def dropout(x, p, mask, expected, train=True) -> dict:
    """`out` given the mask the student returned: expected is x · mask / (1 − p) in training,
    x in evaluation. Not inverted, scaled by (1 − p) or by 1/p, dropout or a scaling applied in
    evaluation."""
    if not train:
        mistakes = {
            "scaled by (1 − p) at evaluation: with inverted dropout the scaling happens in "
            "training, evaluation is the identity": expected * (1 - p),
            "scaled by 1 / (1 − p) at evaluation: evaluation is the identity":
                expected / (1 - p),
        }
        if not np.all(np.asarray(mask) == 1):
            mistakes["dropout was applied with train=False: in evaluation mode dropout is the "
                     "identity, out = x with a mask of ones"] = expected * mask / (1 - p)
        return mistakes
    mistakes = {
        "dropout is not inverted: the kept units must be scaled by 1 / (1 − p) in training, so "
        "that nothing changes at evaluation": expected * (1 - p),
        "multiplied by (1 − p): inverted dropout divides the kept units by (1 − p)":
            expected * (1 - p) ** 2,
    }
    if p > 0:
        mistakes["divided by p: p is the probability of DROPPING an element, kept ones are "
                 "scaled by 1 / (1 − p)"] = expected * (1 - p) / p
    return mistakes


def dropout_kept_fraction(p, expected) -> dict:
    """The fraction of elements kept, expected 1 − p: p taken as the keep probability."""
    return {"p is the probability of DROPPING an element (as in torch): keep each with "
            "probability 1 − p": float(p)} if p != 0.5 else {}


# ---------------------------------------------------------------------------------------------
# Q2.2 — stable learning rate, gradient clipping
# ---------------------------------------------------------------------------------------------

def max_stable_lr(H, expected) -> dict:
    """2 / λmax(H): 1 / λmax, λmax / 2, the smallest eigenvalue, the largest diagonal entry, the
    trace."""
    eigenvalues = torch.linalg.eigvalsh(_t(H))
    return {
        "returned 1 / λmax: gradient descent converges for every lr < 2 / λmax, where "
        "|1 − lr·λ| < 1 for all eigenvalues": expected / 2,
        "inverted: the threshold is 2 / λmax, not λmax / 2": 1 / expected,
        "used the smallest eigenvalue: the step must be stable along the steepest direction, "
        "λmax (eigvalsh sorts in ascending order)": float(2 / eigenvalues[0]),
        "used the largest diagonal entry: it is not λmax unless H is diagonal":
            float(2 / np.max(np.diag(H))),
        "used the trace, the sum of all eigenvalues: the threshold is 2 / λmax":
            float(2 / np.trace(H)),
    }


def clip_grad_norm(grads, max_norm, expected) -> dict:
    """(clipped, total_norm), expected as torch.nn.utils.clip_grad_norm_ gives them: the norm
    after clipping, the sum of the per-tensor norms or the squared norm (and the clipping that
    follows from it), each tensor clipped on its own norm, a rescaling although the norm was
    below max_norm, the factor inverted, clipping by value."""
    clipped, total = expected
    scale = min(1.0, max_norm / total)
    norms = {k: float(torch.linalg.vector_norm(_t(g))) for k, g in grads.items()}

    def rescaled(factor):   # the gradients multiplied by `factor` instead of `scale`
        return {k: clipped[k] * (factor / scale) for k in clipped}

    summed, squared = sum(norms.values()), total ** 2
    return {
        "returned the norm after clipping: total_norm is the global norm before clipping":
            (clipped, min(total, max_norm)),
        "summed the per-tensor norms: the total norm is the L2 norm of all entries of all "
        "tensors together": (rescaled(min(1.0, max_norm / summed)), summed),
        "returned the squared norm: take the square root":
            (rescaled(min(1.0, max_norm / squared)), squared),
        "clipped each tensor on its own norm: clip_grad_norm scales all gradients by one "
        "factor, max_norm / (global norm)":
            ({k: clipped[k] / scale * min(1.0, max_norm / norms[k]) for k in clipped}, total),
        "rescaled to max_norm although the norm was below it: gradients are changed only when "
        "the total norm exceeds max_norm": (rescaled(max_norm / total), total),
        "multiplied by total_norm / max_norm: the factor is max_norm / total_norm":
            (rescaled(max(1.0, total / max_norm)), total),
        "clipped each entry to [−max_norm, max_norm] (clipping by value): clip_grad_norm "
        "rescales the whole gradient":
            ({k: _np(torch.clamp(_t(g), -max_norm, max_norm)) for k, g in grads.items()}, total),
    }


# ---------------------------------------------------------------------------------------------
# Q2.3 — perceptron and hinge losses, and their gradients
# ---------------------------------------------------------------------------------------------

def _score_parts(scores, y, margin=1.0):
    """(s, rows, labels, gold score, best wrong score and its class, argmax) in torch."""
    s, labels = _t(scores), _labels(y)
    rows = torch.arange(s.shape[0])
    others = s.clone()
    others[rows, labels] = -math.inf
    rival, rival_class = others.max(dim=1)
    return s, rows, labels, s[rows, labels], rival, rival_class, s.argmax(dim=1)


def _plus_minus(shape, rows, plus, minus, weight) -> torch.Tensor:
    """+weight at (rows, plus), −weight at (rows, minus), added."""
    d = torch.zeros(shape, dtype=torch.float64)
    d.index_put_((rows, plus), weight, accumulate=True)
    d.index_put_((rows, minus), -weight, accumulate=True)
    return d


def perceptron_loss(scores, y, expected) -> dict:
    """mean of max_j s_j − s_y: a sum, the sign, the per-example losses, the best WRONG class
    instead of the max over all, a margin added."""
    s, rows, labels, gold, rival, _, _ = _score_parts(scores, y)
    B = s.shape[0]
    return {
        "summed over the batch: the loss is the mean over the examples": B * expected,
        "the opposite sign: the perceptron loss max_j s_j − s_y is ≥ 0": -expected,
        "returned the per-example losses: the loss is their mean, a float":
            _np(s.max(dim=1).values - gold),
        "took the best WRONG class: the perceptron loss compares s_y with the max over all "
        "classes, so it is 0 when the gold class wins": float((rival - gold).mean()),
        "added a margin: the perceptron loss has none (that is the hinge loss)": expected + 1,
    }


def hinge_loss(scores, y, margin, expected) -> dict:
    """mean of max(0, margin + max_{j≠y} s_j − s_y): a sum, the max over all classes, a sum of
    per-class hinges (Weston–Watkins), no clamp at 0, the margin ignored, the hinge squared,
    the per-example losses."""
    s, rows, labels, gold, rival, _, _ = _score_parts(scores, y)
    B = s.shape[0]
    per_class = torch.clamp(margin + s - gold[:, None], min=0)
    per_class[rows, labels] = 0
    hinge = torch.clamp(margin + rival - gold, min=0)
    mistakes = {
        "summed over the batch: the loss is the mean over the examples": B * expected,
        "took the max over all classes, the gold one included: the hinge compares s_y with "
        "the best WRONG class, max over j ≠ y":
            float(torch.clamp(margin + s.max(dim=1).values - gold, min=0).mean()),
        "summed a hinge per wrong class (Weston-Watkins): this hinge loss uses the best wrong "
        "class only": float(per_class.sum(dim=1).mean()),
        "no clamp at 0: the hinge is max(0, margin + max_{j ≠ y} s_j − s_y)":
            float((margin + rival - gold).mean()),
        "squared the hinge: the loss is max(0, ...) itself": float((hinge ** 2).mean()),
        "returned the per-example losses: the loss is their mean, a float": _np(hinge),
    }
    if margin != 1:
        mistakes["the margin argument was ignored (1 used instead)"] = \
            float(torch.clamp(1 + rival - gold, min=0).mean())
    return mistakes


def perceptron_loss_grad(scores, y, expected) -> dict:
    """(B, K): +1/B at the argmax, −1/B at the gold class. Assigned instead of added (−1 where
    the gold class wins), not divided by B, the sign, the argmax term or the gold term missing."""
    s, rows, labels, _, _, _, argmax = _score_parts(scores, y)
    B = s.shape[0]
    assigned = torch.zeros_like(s)
    assigned[rows, argmax] = 1.0
    assigned[rows, labels] = -1.0
    return {
        "assigned +1 then −1 (d[rows, argmax] = 1; d[rows, y] = −1): when the gold class is the "
        "argmax the two cancel and the gradient is 0": _np(assigned / B),
        "not divided by B: the gradient of the MEAN loss is divided by the batch size":
            B * expected,
        "the opposite sign: +1 at the argmax, −1 at the gold class": -expected,
        "the +1 at the argmax class is missing: ∂(max_j s_j)/∂s is 1 at the argmax":
            _np(-F.one_hot(labels, s.shape[1]).double() / B),
        "the −1 at the gold class is missing: ∂(−s_y)/∂s is −1 at y":
            _np(F.one_hot(argmax, s.shape[1]).double() / B),
    }


def hinge_loss_grad(scores, y, margin, expected) -> dict:
    """(B, K): +1/B at the best wrong class, −1/B at the gold class, on rows whose hinge is
    active. Every row counted, the rival over all classes, not divided by B, the sign, the
    Weston–Watkins gradient, the margin ignored in the activity test."""
    s, rows, labels, gold, rival, rival_class, argmax = _score_parts(scores, y)
    B, K = s.shape

    def rows_weighted(active, plus):
        return _np(_plus_minus(s.shape, rows, plus, labels, active.double()) / B)

    per_class = ((margin + s - gold[:, None]) > 0).double()
    per_class[rows, labels] = 0
    weston = per_class.clone()
    weston[rows, labels] = -per_class.sum(dim=1)
    mistakes = {
        "a gradient on every row: rows whose hinge is inactive (the gold score beats every "
        "other by more than the margin) have gradient 0": rows_weighted(torch.ones(B), rival_class),
        "took the rival over all classes, the gold one included: it is the best WRONG class":
            rows_weighted(margin + s.max(dim=1).values - gold > 0, argmax),
        "not divided by B: the gradient of the MEAN loss is divided by the batch size":
            B * expected,
        "the opposite sign: +1 at the best wrong class, −1 at the gold class": -expected,
        "the gradient of a hinge per wrong class (Weston-Watkins): this hinge loss uses the "
        "best wrong class only": _np(weston / B),
    }
    if margin != 1:
        mistakes["the margin argument was ignored in the activity test (1 used instead)"] = \
            rows_weighted(1 + rival - gold > 0, rival_class)
    return mistakes


# ---------------------------------------------------------------------------------------------
# Q2.4 — sigmoid, its derivative, gradient norms through a deep network
# ---------------------------------------------------------------------------------------------

def sigmoid(x, expected) -> dict:
    """1 / (1 + e^−x): the sign of the exponent, tanh, the derivative, e^x / (1 + e^x), which is
    inf / inf = nan for large x."""
    t = _t(x)
    return {
        "1 / (1 + e^x) is σ(−x): σ(x) = 1 / (1 + e^−x)": _np(torch.sigmoid(-t)),
        "computed tanh, not the logistic sigmoid": _np(torch.tanh(t)),
        "returned the derivative σ(x)(1 − σ(x)), not σ(x)": expected * (1 - expected),
        "e^x / (1 + e^x) is inf / inf = nan for large x: compute with exp(−|x|), which is at "
        "most 1": _np(torch.exp(t) / (1 + torch.exp(t))),
    }


def sigmoid_grad(x, expected) -> dict:
    """σ(x)(1 − σ(x)) of the pre-activation x: the formula applied to x itself, 1 − σ², σ
    itself, the sign, tanh's derivative, the derivative taken at σ(x)."""
    t = _t(x)
    s = torch.sigmoid(t)
    twice = torch.sigmoid(s)
    return {
        "sigmoid_grad takes the PRE-activation x: compute s = sigmoid(x), then s · (1 − s) "
        "(x · (1 − x) is the formula written for the output)": x * (1 - x),
        "1 − sigmoid(x)² is not the sigmoid's derivative: it is s · (1 − s)": _np(1 - s ** 2),
        "returned σ(x) itself, not its derivative": _np(s),
        "the opposite sign: σ'(x) = σ(x)(1 − σ(x)) is ≥ 0": -expected,
        "used tanh's derivative 1 − tanh(x)²": _np(1 - torch.tanh(t) ** 2),
        "the derivative was taken at σ(x): σ'(x) = σ(x)(1 − σ(x)) with σ applied once":
            _np(twice * (1 - twice)),
    }


_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def _deep_gradients(x, y, weights, biases, activation, derivative=None):
    """Norms of ∂L/∂h_l and ∂L/∂a_l per hidden layer, of ∂L/∂x and of ∂L/∂logits, by torch
    autograd; or, with `derivative(a, h)`, the norms of ∂L/∂h_l backpropagated by hand with
    that (mistaken) local derivative."""
    act = _ACTIVATIONS[activation]
    h = _t(x).requires_grad_(derivative is None)
    inputs, hiddens, pres = h, [], []
    for W, b in zip(weights[:-1], biases[:-1]):
        a = F.linear(h, _t(W), _t(b))
        h = act(a)
        if derivative is None:
            a.retain_grad()
            h.retain_grad()
        pres.append(a)
        hiddens.append(h)
    logits = F.linear(h, _t(weights[-1]), _t(biases[-1]))
    labels = _labels(y)
    if derivative is None:
        logits.retain_grad()
        F.cross_entropy(logits, labels).backward()
        norm = lambda t: float(t.grad.norm())   # noqa: E731
        return ([norm(t) for t in hiddens], [norm(t) for t in pres], norm(inputs), norm(logits))
    with torch.no_grad():
        dz = (torch.softmax(logits, -1) - F.one_hot(labels, logits.shape[1])) / len(labels)
        dh = dz @ _t(weights[-1])
        norms = [float(dh.norm())]
        for l in range(len(hiddens) - 1, 0, -1):
            dh = (dh * derivative(pres[l], hiddens[l])) @ _t(weights[l])
            norms.append(float(dh.norm()))
    return norms[::-1]


def hidden_grad_norms(x, y, weights, biases, activation, expected) -> dict:
    """‖∂L/∂h_l‖ per hidden layer, input side first: the pre-activations' gradients, the order
    reversed, the loss summed, ∂L/∂x or ∂L/∂logits listed too, squared norms, per-example norms
    averaged, the activation's derivative forgotten or taken at the output h."""
    _, pre, input_norm, logit_norm = _deep_gradients(x, y, weights, biases, activation)
    B = len(y)
    mistakes = {
        "listed the gradients w.r.t. the pre-activations a_l: the question asks for ∂L/∂h_l, "
        "h_l = act(a_l) the layer's output": pre,
        "listed output side first: the list starts at the first hidden layer": expected[::-1],
        "the loss was summed over the batch: L is the MEAN cross-entropy":
            [B * n for n in expected],
        "listed ∂L/∂x too: the list holds one norm per hidden layer output, len(weights) − 1 "
        "numbers": [input_norm] + list(expected),
        "listed ∂L/∂logits too: the list holds one norm per hidden layer output, "
        "len(weights) − 1 numbers": list(expected) + [logit_norm],
        "returned squared norms: take the square root of the sum of squares":
            [n ** 2 for n in expected],
        "the activation's derivative is missing: ∂L/∂a_l = ∂L/∂h_l · act'(a_l)":
            _deep_gradients(x, y, weights, biases, activation, lambda a, h: 1.0),
    }
    at_output = {"sigmoid": lambda a, h: torch.sigmoid(h) * (1 - torch.sigmoid(h)),
                 "tanh": lambda a, h: 1 - torch.tanh(h) ** 2}   # relu'(h) = relu'(a)
    if activation in at_output:
        mistakes["the activation's derivative was taken at the output h_l = act(a_l): it is "
                 "act'(a_l), of the pre-activation"] = _deep_gradients(
            x, y, weights, biases, activation, at_output[activation])
    return mistakes


# ---------------------------------------------------------------------------------------------
# Q2.5 — Glorot initialisation, activation statistics
# ---------------------------------------------------------------------------------------------

def glorot_uniform(fan_in, fan_out, expected) -> dict:
    """The statistics of the law the weights are drawn from, {"mean", "square"} (the mean of w
    and of w²); expected is U(−a, a)'s, a = √(6 / (fan_in + fan_out)): {0, 2 / (fan_in + fan_out)}.
    Other bounds, and U(0, a)."""
    a_squared = 3 * expected["square"]

    def bound(text, b_squared):
        return (f"this is the variance of U(−a, a) with a = {text}; Glorot's bound is "
                f"sqrt(6 / (fan_in + fan_out)), a compromise between the forward and the "
                f"backward pass"), {"mean": 0.0, "square": b_squared / 3}

    return dict([
        bound("sqrt(6 / fan_in)", 6 / fan_in),
        bound("sqrt(6 / fan_out)", 6 / fan_out),
        bound("sqrt(2 / (fan_in + fan_out)), the std used as the bound: U(−a, a) has variance "
              "a² / 3", 2 / (fan_in + fan_out)),
        bound("sqrt(3 / fan_in)", 3 / fan_in),
        bound("sqrt(1 / fan_in)", 1 / fan_in),
        ("drew from U(0, a): the law is U(−a, a), of mean 0",
         {"mean": math.sqrt(a_squared) / 2, "square": expected["square"]}),
    ])


def _stds(x, weights, activation, *, measure="output", correction=0, per_unit=False,
          transpose=True):
    """Per-layer std of a bias-free torch forward, with the named mistake; None when the
    mistaken forward does not fit the shapes."""
    act = activation if callable(activation) else _ACTIVATIONS[activation]
    h = _t(x)
    out = []
    for W in weights:
        W = _t(W)
        if not transpose:
            if W.shape[0] != h.shape[1]:
                return None
            W = W.T
        a = h @ W.T
        h = a if measure == "linear" else act(a)
        t = a if measure == "pre" else h
        out.append(float(t.std(dim=0, correction=correction).mean()) if per_unit
                   else float(t.std(correction=correction)))
    return out


def activation_stds(x, weights, activation, expected) -> dict:
    """Population std of each layer's output act(h Wᵀ); `activation` a name, a callable on
    tensors, or None when the call left it to its default (tanh). The sample std, the
    pre-activations, per-unit stds averaged, no activation, the input's std listed, variances,
    h W instead of h Wᵀ, another default activation."""
    name = "tanh" if activation is None else activation
    mistakes = {
        "used the sample std (ddof=1): the contract asks for the population std, ddof=0":
            _stds(x, weights, name, correction=1),
        "measured the pre-activations h Wᵀ: the std is of each layer's output act(h Wᵀ)":
            _stds(x, weights, name, measure="pre"),
        "averaged per-unit stds: the std is over all B * H entries of the layer":
            _stds(x, weights, name, per_unit=True),
        "no activation was applied between the layers": _stds(x, weights, name, measure="linear"),
        "listed the input's std first: one std per weight matrix":
            [float(_t(x).std(correction=0))] + list(expected),
        "returned variances: take the square root": [s ** 2 for s in expected],
        "computed h @ W: a weight is (out, in), the layer is h @ W.T":
            _stds(x, weights, name, transpose=False),
    }
    if activation is None:
        for other in ("relu", "sigmoid"):
            mistakes[f"the default activation is tanh, not {other}"] = _stds(x, weights, other)
    return {hint: value for hint, value in mistakes.items() if value is not None}


# ---------------------------------------------------------------------------------------------
# Q2.6 — ReLU, leaky ReLU, dead units
# ---------------------------------------------------------------------------------------------

def relu(x, expected) -> dict:
    """max(x, 0): the negative part, the derivative, |x|."""
    t = _t(x)
    return {
        "returned min(x, 0), the negative part: relu keeps the positive part":
            _np(t - torch.relu(t)),
        "returned the derivative (1 where x > 0), not relu(x)": _np((torch.relu(t) > 0).double()),
        "returned |x|: relu is 0 on the negative side": _np(t.abs()),
    }


def relu_grad(x, expected) -> dict:
    """1 where x > 0: 1 at x = 0 too, relu itself, the negative side."""
    t = _t(x)
    return {
        "relu'(0) is 0 (torch's convention): the derivative is 1 only where x > 0":
            _np((t >= 0).double()),
        "returned relu(x), not its derivative": _np(torch.relu(t)),
        "1 on the negative side: the derivative is 1 where x > 0": _np((t < 0).double()),
    }


def leaky_relu(x, slope, expected) -> dict:
    """x where x > 0, slope · x elsewhere: no slope (relu), the slope on the positive side."""
    t = _t(x)
    return {
        "the negative side is slope · x, not 0": _np(torch.relu(t)),
        "the slope applies to the NEGATIVE side: x where x > 0, slope · x where x ≤ 0":
            _np(torch.where(t > 0, slope * t, t)),
    }


def leaky_relu_grad(x, slope, expected) -> dict:
    """1 where x > 0, slope where x ≤ 0: 1 at x = 0, 0 on the negative side, leaky_relu itself."""
    t = _t(x)
    return {
        "the slope applies where x <= 0: the derivative at x = 0 is the slope, as torch":
            _np(torch.where(t >= 0, torch.ones_like(t), torch.full_like(t, slope))),
        "the negative side has derivative `slope`, not 0: that is what keeps leaky units alive":
            _np((t > 0).double()),
        "returned leaky_relu(x), not its derivative": _np(F.leaky_relu(t, slope)),
    }


def dead_units(pre_activations, expected) -> dict:
    """fraction of columns ≤ 0 on every row: < 0, any row, entries, a count, rows, live units."""
    t = _t(pre_activations)
    return {
        "x <= 0: a unit whose pre-activation is exactly 0 for every example is dead too (its "
        "relu gradient is 0)": float((t < 0).all(dim=0).double().mean()),
        "a unit is dead when it is <= 0 for EVERY example, not for some":
            float((t <= 0).any(dim=0).double().mean()),
        "counted entries: the fraction is over units (columns), a unit being dead on the whole "
        "batch": float((t <= 0).double().mean()),
        "returned a count: the result is the fraction of dead units": expected * t.shape[1],
        "used rows: units are the columns of the (B, H) array":
            float((t <= 0).all(dim=1).double().mean()),
        "returned the fraction of LIVE units: a dead unit is ≤ 0 for every example":
            1 - expected,
    }


# ---------------------------------------------------------------------------------------------
# Q2.7 — minibatches (the sizes of the batches; their content is random)
# ---------------------------------------------------------------------------------------------

def minibatches(n, batch_size, expected) -> dict:
    """The sizes of the batches, expected batch_size each and the remainder last: the last
    batch dropped, an empty batch at the end, np.array_split into the wrong number of parts,
    the remainder merged into the last batch."""
    full = n // batch_size
    mistakes = {"an empty batch at the end: stop when every index was yielded":
                list(expected) + [0]}
    if n % batch_size:
        mistakes[f"the last, smaller batch was dropped: it holds the remaining "
                 f"{n % batch_size} examples"] = [batch_size] * full
        mistakes["np.array_split into ceil(n / batch_size) parts makes sizes that differ by "
                 "one: every batch holds batch_size indices, the last the remainder"] = \
            [len(part) for part in np.array_split(np.empty(n), len(expected))]
        if full:
            mistakes["the remainder was merged into the last batch: it is a batch of its own"] = \
                [batch_size] * (full - 1) + [batch_size + n % batch_size]
            mistakes["np.array_split into n // batch_size parts: every batch holds batch_size "
                     "indices, the last the remainder"] = \
                [len(part) for part in np.array_split(np.empty(n), full)]
    return mistakes


# ---------------------------------------------------------------------------------------------
# Q2.8 — momentum and Adam over several steps
# ---------------------------------------------------------------------------------------------

def _momentum_run(params, grads_seq, lr, mu, mistake: str) -> list:
    """The params after each step of momentum with the named mistake, in torch."""
    p = {k: _t(v) for k, v in params.items()}
    buf, out = None, []
    for grads in grads_seq:
        g = {k: _t(v) for k, v in grads.items()}
        old = buf
        if buf is None or mistake == "restart":
            buf = dict(g)
        elif mistake == "dampening":
            buf = {k: mu * buf[k] + (1 - mu) * g[k] for k in g}
        elif mistake == "on gradient":
            buf = {k: buf[k] + mu * g[k] for k in g}
        else:
            buf = {k: mu * buf[k] + g[k] for k in g}
        step = {"nesterov": {k: g[k] + mu * buf[k] for k in g},
                "lagged": old if old is not None else g}.get(mistake, buf)
        p = {k: p[k] - lr * step[k] for k in p}
        out.append({k: _np(v) for k, v in p.items()})
    return out


def momentum_step(params, grads_seq, lr, momentum, expected) -> dict:
    """The params after each of len(grads_seq) calls, the state threaded from None (expected:
    torch.optim.SGD(lr, momentum)'s). Dampening, Nesterov, the state dropped (plain SGD), the
    step taken with the previous buffer, the momentum on the gradient."""
    run = {mistake: _momentum_run(params, grads_seq, lr, momentum, mistake)
           for mistake in ("dampening", "nesterov", "restart", "lagged", "on gradient")}
    return {
        "dampening: torch's momentum adds the whole gradient, buf = momentum · buf + g":
            run["dampening"],
        "Nesterov's update: torch's default momentum steps along buf itself": run["nesterov"],
        "the velocity was not carried over: keep buf in the returned state and use the state "
        "passed in (plain SGD otherwise)": run["restart"],
        "stepped with the previous buffer: update buf first, then p ← p − lr · buf":
            run["lagged"],
        "the momentum multiplied the gradient: buf = momentum · buf + g": run["on gradient"],
    }


def _adam_run(params, grads_seq, lr, betas, eps, mistake: str) -> list:
    """The params after each Adam step with the named mistake, in torch."""
    b1, b2 = betas[::-1] if mistake == "swapped" else betas
    p = {k: _t(v) for k, v in params.items()}
    m = {k: torch.zeros_like(v) for k, v in p.items()}
    v = {k: torch.zeros_like(x) for k, x in p.items()}
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        tc = {"frozen": 1, "from zero": t - 1}.get(mistake, t)
        for k in p:
            g = _t(grads[k])
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g ** 2
            c1 = 1.0 if mistake == "no correction" else 1 - b1 ** tc
            c2 = 1.0 if mistake in ("no correction", "only m") else 1 - b2 ** tc
            if mistake == "eps hat":
                p[k] = p[k] - lr * math.sqrt(c2) / c1 * m[k] / (v[k].sqrt() + eps)
            elif mistake == "eps in sqrt":
                p[k] = p[k] - lr * (m[k] / c1) / (v[k] / c2 + eps).sqrt()
            elif mistake == "no sqrt":
                p[k] = p[k] - lr * (m[k] / c1) / (v[k] / c2 + eps)
            else:
                p[k] = p[k] - lr * (m[k] / c1) / ((v[k] / c2).sqrt() + eps)
        out.append({k: _np(x) for k, x in p.items()})
    return out


def adam_step(params, grads_seq, lr, betas, eps, expected) -> dict:
    """The params after each of len(grads_seq) calls, the state threaded from None (expected:
    torch.optim.Adam's). eps inside the square root, no square root, no bias correction or only
    m's, the step counter frozen or starting at 0, eps added before the bias correction, the
    betas swapped."""
    mistakes = {
        "eps inside the square root: torch divides by sqrt(v_hat) + eps": "eps in sqrt",
        "no square root: the step divides by sqrt(v_hat) + eps": "no sqrt",
        "no bias correction: divide m by 1 − beta1^t and v by 1 − beta2^t": "no correction",
        "only m was bias-corrected: v_hat = v / (1 − beta2^t) too": "only m",
        "the step counter t did not advance: t is 1 at the first call, then 2, 3, ... (keep it "
        "in the state)": "frozen",
        "the step counter started at 0: 1 − beta^0 = 0 divides by zero; t is 1 at the first "
        "call": "from zero",
        "eps added to sqrt(v) before the bias correction (the paper's eps-hat form): torch adds "
        "eps to sqrt(v_hat), which matters for small gradients": "eps hat",
        "beta1 and beta2 swapped: beta1 (0.9) averages g, beta2 (0.999) averages g²": "swapped",
    }
    return {hint: _adam_run(params, grads_seq, lr, betas, eps, mistake)
            for hint, mistake in mistakes.items()}
