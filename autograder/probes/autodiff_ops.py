"""The ops of Part 3's autodiff module, defined once (in the manner of minitorch's scalar functions).

Each op names the student's module function, its arity, its numpy forward (which steers the
suite's graph generator, and which the probe uses to give a Q3.3 test correct forward values),
how it is written as an operator, method or attribute, and its torch counterpart. The probe
(probes/autodiff.py, in the child) and the suite (suites/test_autodiff.py, in the grader) both
read this table, so the two cannot drift apart.

This module imports numpy only: the children of the numpy-only parts import it, and they
have no torch. `torch_forward` imports torch when the grader calls it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Op:
    name: str                  # the module function autodiff.<name>
    arity: int                 # operands, each a Var or a constant
    numpy: Callable            # the forward value from numpy operands (axis=, keepdims= if reduces)
    sugar: Callable            # the same op written as an operator, a method or an attribute
    sugar_text: str            # how that is written, "{0}" and "{1}" for the operands
    reduces: bool = False      # takes axis= and keepdims=

    def text(self, names: list[str], style: str, kwargs: dict) -> str:
        """'add(v1, v2)', 'v1 + v2', 'v3.sum(axis=0)': the op as the program writes it."""
        extra = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        if style == "fn":
            return f"{self.name}({', '.join(names + ([extra] if extra else []))})"
        return self.sugar_text.format(*names, kw=extra)


OPS: dict[str, Op] = {op.name: op for op in (
    Op("add", 2, np.add, lambda a, b: a + b, "{0} + {1}"),
    Op("sub", 2, np.subtract, lambda a, b: a - b, "{0} - {1}"),
    Op("mul", 2, np.multiply, lambda a, b: a * b, "{0} * {1}"),
    Op("div", 2, np.divide, lambda a, b: a / b, "{0} / {1}"),
    Op("matmul", 2, np.matmul, lambda a, b: a @ b, "{0} @ {1}"),
    Op("neg", 1, np.negative, lambda x: -x, "-{0}"),
    Op("exp", 1, np.exp, lambda x: x.exp(), "{0}.exp()"),
    Op("log", 1, np.log, lambda x: x.log(), "{0}.log()"),
    Op("tanh", 1, np.tanh, lambda x: x.tanh(), "{0}.tanh()"),
    Op("sigmoid", 1, _sigmoid, lambda x: x.sigmoid(), "{0}.sigmoid()"),
    Op("relu", 1, lambda x: np.maximum(x, 0.0), lambda x: x.relu(), "{0}.relu()"),
    Op("sum", 1, np.sum, lambda x, **kw: x.sum(**kw), "{0}.sum({kw})", reduces=True),
    Op("mean", 1, np.mean, lambda x, **kw: x.mean(**kw), "{0}.mean({kw})", reduces=True),
    Op("transpose", 1, lambda x: x.T.copy(), lambda x: x.T, "{0}.T"),
)}
BINARY = tuple(name for name, op in OPS.items() if op.arity == 2)
ELEMENTWISE = ("add", "sub", "mul", "div")
UNARY = ("neg", "exp", "log", "tanh", "sigmoid", "relu")
REDUCE = tuple(name for name, op in OPS.items() if op.reduces)

#: In-place methods (Q3.4): their numpy effect on the target's value.
INPLACE: dict[str, Callable] = {"add_": np.add, "mul_": np.multiply}


def numpy_forward(name: str, operands: list, kwargs: dict):
    """The op's value on numpy operands, as a float64 array (nan/inf left to the caller)."""
    with np.errstate(all="ignore"):
        return np.asarray(OPS[name].numpy(*operands, **kwargs), dtype=np.float64)


def torch_forward(name: str, operands: list, kwargs: dict):
    """The op on torch tensors (in the grader only): axis/keepdims become dim/keepdim, and the
    transpose is a copy, as a Var owns its value (torch's .T is a view sharing the version)."""
    import torch

    if name == "transpose":
        (x,) = operands
        return x.permute(*reversed(range(x.dim()))).clone()
    if OPS[name].reduces:
        (x,) = operands
        axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
        dims = tuple(range(x.dim())) if axis is None else axis
        if axis is None and not (keepdims and dims):
            return getattr(torch, name)(x)
        return getattr(torch, name)(x, dim=dims, keepdim=keepdims)
    return getattr(torch, name)(*operands)
