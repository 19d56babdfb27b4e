"""Known mistakes in autodiff.py (Part 3, Q3.2–Q3.4), grown from its docstrings.

Nothing here computes a correct result: every mistaken value is built from the expected one
(computed with torch by the caller) or from ingredients the caller computed with torch, with
only the mistake applied on top. A hint is shown only when the student's result matches the
mistaken value on the same input.

Q3.2, forward values: `forward(op, kwargs, expected, constant_first)`; ownership:
`owned_value`; parents: `parents`.
Q3.3, back-propagation: `LOCAL` lists, per op, mistaken local derivatives (a formula of the
upstream gradient g, the correct contribution c, the operands and the output, which the caller
evaluates on torch tensors while it runs the whole backward pass with that mistake); `ORDER`
lists mistakes of the backward pass itself (overwriting instead of accumulating, the order the
closures run in, the seed, the reduction of a broadcast operand's gradient).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


# --- Q3.2: forward values -----------------------------------------------------------------------
def forward(op: str, kwargs: dict, expected, constant_first: bool) -> dict[str, np.ndarray]:
    """Mistaken values of one op's result, from the expected result (and its reductions)."""
    expected = np.asarray(expected, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        if op in ("sub", "div"):
            swapped = -expected if op == "sub" else 1.0 / expected
            out[("the reflected operator (__rsub__, __rtruediv__) computed its operands swapped: "
                 "`c - x` must put the constant first" if constant_first else
                 f"{op}(a, b) computed with the operands swapped")] = swapped
        if op == "sigmoid":
            out["sigmoid(x) is 1 / (1 + exp(-x)), not 1 / (1 + exp(x))"] = 1.0 - expected
        if op in ("sum", "mean"):
            axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
            if keepdims and axis is not None:
                out["keepdims=True ignored: the reduced axis must stay, with size 1"] = \
                    np.squeeze(expected, axis=axis)
            if keepdims and axis is None:
                out["keepdims=True ignored: the reduced axes must stay, with size 1"] = \
                    expected.reshape(())
            if axis is not None:
                # the mean of equal-size groups' means, the sum of their sums: every entry
                whole = np.mean(expected) if op == "mean" else np.sum(expected)
                out[f"axis={axis} ignored: reduced over every entry"] = \
                    np.full((1,) * expected.ndim, whole) if keepdims else np.asarray(whole)
    return out


def mean_as_sum(expected, count: float) -> dict[str, np.ndarray]:
    """A mean computed as a sum over `count` entries."""
    return {"mean computed as a sum: divide by the number of entries averaged":
            np.asarray(expected, dtype=np.float64) * count}


def owned_value(expected, delta: float) -> dict[str, np.ndarray]:
    """A Var that kept the caller's array sees the caller's later `+= delta`."""
    return {"Var(value) must copy value: the Var kept the caller's array, so a later change of "
            "that array changed the Var": np.asarray(expected, dtype=np.float64) + delta}


def parents(expected: list, kinds: list) -> dict[str, list]:
    """Mistaken .parents of one node: `expected` are the Var operands' slots in argument order,
    `kinds` every operand as a slot (a Var) or '<float>' / '<ndarray>' (a constant)."""
    out = {}
    deduplicated = list(dict.fromkeys(expected))
    if deduplicated != expected:
        out["an operand used twice is a parent twice: x * x has parents (x, x)"] = deduplicated
    if expected[::-1] != expected:
        out["parents follow the argument order: sub(a, b) has parents (a, b)"] = expected[::-1]
    if kinds != expected:
        out["constants (numbers, arrays) are not parents: only Var operands are"] = kinds
    return out


# --- Q3.3: local derivatives ----------------------------------------------------------------------
@dataclass(frozen=True)
class Local:
    """A mistaken gradient that op sends to operand `role` (0 or 1): formula(g, c, x) with g the
    upstream gradient, c the correct contribution (both before summing back a broadcast), x the
    operands and the output as (a, b, out) or (x, out)."""
    hint: str
    role: int
    formula: Callable


LOCAL: dict[str, tuple[Local, ...]] = {
    "sub": (
        Local("sub's backward gives b the wrong sign: b receives −out.grad", 1, lambda g, c, x: g),
        Local("sub's backward gives a the wrong sign: a receives +out.grad", 0, lambda g, c, x: -g),
    ),
    "mul": (
        Local("mul's backward: a receives out.grad * b, the other operand (not a itself)", 0,
              lambda g, c, x: g * x[0]),
        Local("mul's backward: b receives out.grad * a, the other operand (not b itself)", 1,
              lambda g, c, x: g * x[1]),
    ),
    "div": (
        Local("div's backward: a receives out.grad / b (not out.grad * b)", 0,
              lambda g, c, x: g * x[1]),
        Local("div's backward gives b the wrong sign: b receives −out.grad · a / b²", 1,
              lambda g, c, x: -c),
        Local("div's backward: b receives −out.grad · a / b², with b squared", 1,
              lambda g, c, x: c * x[1]),
        Local("div's backward: b receives −out.grad · a / b², the dividend a included", 1,
              lambda g, c, x: -g / (x[1] * x[1])),
    ),
    "matmul": (
        Local("matmul's backward: a receives out.grad @ bᵀ (b must be transposed)", 0,
              lambda g, c, x: g @ x[1]),
        Local("matmul's backward: a receives out.grad @ bᵀ, not its transpose b @ out.gradᵀ", 0,
              lambda g, c, x: c.T),
        Local("matmul's backward: b receives aᵀ @ out.grad (a must be transposed)", 1,
              lambda g, c, x: x[0] @ g),
        Local("matmul's backward: b receives aᵀ @ out.grad, not its transpose out.gradᵀ @ a", 1,
              lambda g, c, x: c.T),
    ),
    "neg": (Local("neg's backward gives x the wrong sign: x receives −out.grad", 0,
                  lambda g, c, x: g),),
    "exp": (Local("exp's backward: x receives out.grad * exp(x), the output (not the input x)", 0,
                  lambda g, c, x: g * x[0]),),
    "log": (
        Local("log's backward gives the wrong sign: x receives +out.grad / x", 0,
              lambda g, c, x: -c),
        Local("log's backward: x receives out.grad / x (not out.grad * x)", 0,
              lambda g, c, x: g * x[0]),
    ),
    "tanh": (
        Local("tanh's backward: 1 − tanh(x)², read from the output (not 1 − x² of the input)", 0,
              lambda g, c, x: g * (1 - x[0] * x[0])),
        Local("tanh's backward: 1 − tanh(x)², squared (not 1 − tanh(x))", 0,
              lambda g, c, x: g * (1 - x[1])),
    ),
    "sigmoid": (
        Local("sigmoid's backward: σ(x)(1 − σ(x)), read from the output (not x(1 − x) of the "
              "input)", 0, lambda g, c, x: g * x[0] * (1 - x[0])),
        Local("sigmoid's backward: σ(x)(1 − σ(x)), the factor (1 − σ(x)) included", 0,
              lambda g, c, x: g * x[1]),
    ),
    "relu": (
        Local("relu's backward at 0: the derivative there is 0, as torch's (pass the gradient "
              "only where the output is > 0)", 0, lambda g, c, x: g * (x[0] >= 0)),
        Local("relu's backward passed the gradient everywhere, negative inputs included: pass it "
              "only where the output is positive", 0, lambda g, c, x: g),
    ),
    "mean": (
        Local("mean's backward: the gradient must be divided by the number of entries averaged",
              0, lambda g, c, x: c * float(np.prod(x[0].shape) / np.prod(x[1].shape))),
    ),
    "transpose": (Local("transpose's backward: x receives out.gradᵀ (transposed back)", 0,
                        lambda g, c, x: g),),
}


# --- Q3.3: the backward pass ------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """A mistaken backward pass: `overwrite` (ops whose closures assign .grad instead of adding,
    "*" for all), `order` ("reverse", "forward" or "recursive"), `seed` ("one", "zero",
    "value"), `wrong_axis` (a broadcast 1-D bias's gradient summed over axis 1)."""
    hint: str
    overwrite: str = ""
    order: str = "reverse"
    seed: str = "one"
    wrong_axis: bool = False


OVERWRITE = ("{op}'s backward assigns its operands' .grad (=) instead of adding to it (+=): a Var "
             "used several times must receive the sum of its uses' contributions")
ORDER: tuple[Order, ...] = (
    Order("the closures ran in forward (topological) order: run them in reverse topological "
          "order, so that a node's gradient is complete before it is passed on", order="forward"),
    Order("backward recursed into the parents, passing a shared node's gradient on once per "
          "path: run each node's backward once, in reverse topological order",
          order="recursive"),
    Order("the seed: out.grad must be 1 (∂out/∂out = 1) when the closures run; it was 0",
          seed="zero"),
    Order("the seed: out.grad must be 1 (∂out/∂out = 1) when the closures run, not out's "
          "value", seed="value"),
    Order("the gradient of a 1-D bias broadcast over the rows is summed over the rows (axis 0), "
          "not over axis 1", wrong_axis=True),
    Order(OVERWRITE.format(op="every op"), overwrite="*"),
)


def overwrite(op: str) -> Order:
    """Only `op`'s closures overwrite."""
    return Order(OVERWRITE.format(op=op), overwrite=op)


# --- Q3.4: in-place operations -------------------------------------------------------------------
def inplace_values(expected, unchanged, added, multiplied) -> dict[str, np.ndarray]:
    """A Var's value after add_/mul_, from torch's runs of the program with them left out, with
    mul_ done as add_, and add_ done as mul_."""
    return {"add_/mul_ must change .value of the Var in place": unchanged,
            "mul_ must multiply .value in place (it added)": added,
            "add_ must add to .value in place (it multiplied)": multiplied}
