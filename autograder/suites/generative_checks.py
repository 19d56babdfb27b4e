"""The grader's side of Part 5's probes (probes/generative.py): the calls the suites make, torch's
references as plain data, and the gradient comparison, shared by test_vae.py and test_gan.py."""
from __future__ import annotations

import torch

from autograder.checks import Mismatch, SuiteError, assert_gradient, describe_call, matching_hints
from autograder.probes.generative import weighted_grads


def call_student_with_grads(submission, module: str, function: str, args, differentiable,
                            weights) -> dict:
    """The grader's call of the probe call_with_grads: module.function(*args), its value and the
    gradients of sum_i sum(weights[i] * result_i) w.r.t. args[differentiable], inputs checked."""
    return submission.checked_probe("call_with_grads", module, function, list(args),
                                    list(differentiable), list(weights), module=module,
                                    where=describe_call(function, args))


def plain(value):
    """Tensors as numpy arrays, tuples as lists, recursively: what a @reference may return."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def reference_of(function, mistakes_of, args, leaves=(), weights=None) -> dict:
    """torch's answer to one call, as plain data for a @reference:
    {"value": function(*args), "mistakes": mistakes_of(*args, value) (hint -> value)}, and with
    `weights` also "grads" (of L = sum_i sum(weights[i] * value_i) w.r.t. `leaves`, tensors of
    args or parameters that require grad, as call_with_grads forms it) and "mistake_grads"
    (hint -> the same gradients of that mistaken value; None where none reached a leaf)."""
    with torch.enable_grad():
        value = function(*args)
        wrong = mistakes_of(*args, value)
        found = {"value": value, "mistakes": wrong}
        if weights is not None:
            grads, reason = weighted_grads(value, weights, leaves)
            if reason is not None:
                raise SuiteError(f"{getattr(function, '__name__', function)}: the reference "
                                 f"cannot be differentiated: {reason}")
            found["grads"] = grads
            found["mistake_grads"] = {hint: weighted_grads(v, weights, leaves)[0]
                                      for hint, v in wrong.items()}
    return plain(found)


def assert_gradients(reply, expected: dict, names: list, *, check: str, inputs: dict,
                     where: list | None = None, candidates=None) -> None:
    """The gradients of a call_with_grads (or call_autoencoder) reply against `expected`, a
    reference_of with weights: a fact when L could not be formed, then each gradient (names[j]
    None: not compared; where[j]: a mask of the entries compared). A gradient's hints come from
    the mistaken formulas (among `candidates`, if given) that give both the student's value and
    that gradient (a nan or a zero gradient alone fits many formulas)."""
    if reply["reason"] is not None:
        raise Mismatch(f"{check}: cannot back-propagate through the result: {reply['reason']}")
    grads = reply["grads"] if "grads" in reply else reply["encoder_grads"] + reply["decoder_grads"]
    got = reply["value"] if isinstance(reply["value"], (list, tuple)) else [reply["value"]]

    def same_value(value) -> bool:
        value = value if isinstance(value, (list, tuple)) else [value]
        return len(value) == len(got) and all(
            matching_hints(g, {"": v}) for g, v in zip(got, value))

    fitting = {hint for hint, value in expected["mistakes"].items() if same_value(value)
               and (candidates is None or hint in candidates)}
    for j, name in enumerate(names):
        if name is None:
            continue
        wrong = {hint: g[j] for hint, g in expected["mistake_grads"].items()
                 if hint in fitting and g[j] is not None}
        assert_gradient(grads[j], expected["grads"][j], name=name, check=check, inputs=inputs,
                        where=None if where is None else where[j], mistakes=wrong)
