"""Probes for the autodiff suites (run inside the sandboxed child).

`autodiff_program` interprets a small expression language with the student's `Var`. A program is
a list of instructions; each one fills the next slot (a Var, a constant, or None for an
instruction that makes nothing) and refers to earlier slots by index:

    ["leaf", value]                      Var(value), value an array or a Python number
    ["const", number_or_array]           a constant operand (never wrapped in a Var)
    [op, style, i, j]                    op in add sub mul div matmul; style "fn" calls
                                         autodiff.op(a, b), "op" writes a + b (a constant may
                                         stand on either side: reflected operators)
    ["neg", style, i]                    autodiff.neg(x) | -x
    [op, style, i]                       op in exp log tanh sigmoid relu: autodiff.op(x) | x.op()
    [op, style, i, axis, keepdims]       op in sum mean: autodiff.op(x, ...) | x.op(...)
    ["T", style, i]                      autodiff.transpose(x) | x.T
    ["add_" | "mul_", i, j]              slots[i].add_(slots[j]) (j a Var or a constant)
    ["poke", i, delta]                   adds delta in place to the caller's array behind slot i
                                         (the array given to Var() for a leaf, the constant
                                         itself for a constant): a Var must not see it
    ["backward", i]                      slots[i].backward(); an exception is recorded, not raised

`report` names what to send back, read only when asked (so a test of one question never touches
the attributes another question grades): "values", "dtypes", "grads", "parents", "versions",
"shares", and "order" (an int: the slot whose topological_order is wanted). The probe holds no
reference value: it only drives the student's code and returns plain data.
"""
from __future__ import annotations

import operator

import numpy as np

from autograder.probes.base import probe, student_module

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
          "div": operator.truediv, "matmul": operator.matmul}
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@"}
UNARY = ("exp", "log", "tanh", "sigmoid", "relu")
REDUCE = ("sum", "mean")


@probe
def autodiff_program(program, report=None):
    report = report or {}
    ad = student_module("autodiff")
    Var = ad.Var
    slots: list = []
    sources: dict[int, np.ndarray] = {}
    outcome = "not run"

    def kind_of(x):
        return "Var" if isinstance(x, Var) else type(x).__name__

    def checked(result, text):
        if not isinstance(result, Var):
            raise TypeError(f"{text} returned {type(result).__name__}, not a Var"
                            + (" (numpy took over the operator: Var needs __array_ufunc__ = None)"
                               if isinstance(result, np.ndarray) else ""))
        return result

    for ins in program:
        kind = ins[0]
        made = None
        if kind == "leaf":
            if isinstance(ins[1], np.ndarray):
                sources[len(slots)] = ins[1]
            made = checked(Var(ins[1]), "Var(value)")
        elif kind == "const":
            made = ins[1]
        elif kind in BINARY:
            style, a, b = ins[1], slots[ins[2]], slots[ins[3]]
            if style == "fn":
                made = checked(getattr(ad, kind)(a, b),
                               f"autodiff.{kind}({kind_of(a)}, {kind_of(b)})")
            else:
                made = checked(BINARY[kind](a, b), f"{kind_of(a)} {SYMBOL[kind]} {kind_of(b)}")
        elif kind == "neg":
            x = slots[ins[2]]
            made = checked(ad.neg(x) if ins[1] == "fn" else -x,
                           "autodiff.neg(x)" if ins[1] == "fn" else "-x")
        elif kind in UNARY:
            x = slots[ins[2]]
            made = checked(getattr(ad, kind)(x) if ins[1] == "fn" else getattr(x, kind)(),
                           f"autodiff.{kind}(x)" if ins[1] == "fn" else f"x.{kind}()")
        elif kind in REDUCE:
            x, axis, keepdims = slots[ins[2]], ins[3], ins[4]
            kwargs = {}
            if axis is not None:
                kwargs["axis"] = axis
            if keepdims:
                kwargs["keepdims"] = True
            made = checked(getattr(ad, kind)(x, **kwargs) if ins[1] == "fn"
                           else getattr(x, kind)(**kwargs), f"{kind}(x, **{kwargs})")
        elif kind == "T":
            x = slots[ins[2]]
            made = checked(ad.transpose(x) if ins[1] == "fn" else x.T,
                           "autodiff.transpose(x)" if ins[1] == "fn" else "x.T")
        elif kind in ("add_", "mul_"):
            getattr(slots[ins[1]], kind)(slots[ins[2]])
        elif kind == "poke":
            target = sources.get(ins[1], slots[ins[1]])
            target += ins[2]
        elif kind == "backward":
            try:
                slots[ins[1]].backward()
                outcome = None
            except Exception as error:  # reported to the grader, which decides
                try:
                    message = str(error)[:500]
                except Exception:
                    message = "<unprintable>"
                outcome = {"type": type(error).__name__, "message": message,
                           "inplace": isinstance(error, getattr(ad, "InplaceError", ())),
                           "runtime": isinstance(error, RuntimeError)}
        else:
            raise ValueError(f"unknown instruction {kind!r}")
        slots.append(made)

    is_var = [isinstance(v, Var) for v in slots]
    result: dict = {"outcome": outcome}
    if report.get("values"):
        result["values"] = [_plain(v.value) if ok else None for v, ok in zip(slots, is_var)]
    if report.get("dtypes"):
        result["dtypes"] = [str(getattr(v.value, "dtype", type(v.value).__name__)) if ok else None
                            for v, ok in zip(slots, is_var)]
    if report.get("grads"):
        result["grads"] = [_plain(v.grad) if ok and v.grad is not None else None
                           for v, ok in zip(slots, is_var)]
    if report.get("versions"):
        result["versions"] = [_plain_int(v.version) if ok else None
                              for v, ok in zip(slots, is_var)]
    index = {id(v): i for i, (v, ok) in enumerate(zip(slots, is_var)) if ok}
    if report.get("parents"):
        result["parents"] = [_indices(v.parents, index, Var) if ok else None
                             for v, ok in zip(slots, is_var)]
    if report.get("order") is not None:
        result["order"] = _indices(ad.topological_order(slots[report["order"]]), index, Var)
    if report.get("shares"):
        arrays = [(i, v.value) for i, (v, ok) in enumerate(zip(slots, is_var))
                  if ok and isinstance(v.value, np.ndarray)]
        result["shares"] = [[i, j] for n, (i, a) in enumerate(arrays) for j, b in arrays[n + 1:]
                            if np.may_share_memory(a, b) and np.shares_memory(a, b)]
    return result


def _plain(x):
    """A float64 copy of an array-like, or '<type>' when it is not numeric data."""
    try:
        return np.array(x, dtype=np.float64)
    except Exception:
        return f"<{type(x).__name__}>"


def _plain_int(x):
    return int(x) if isinstance(x, (int, np.integer)) else f"<{type(x).__name__}: {x!r:.40}>"


def _indices(nodes, index, Var):
    """Slot indices of a sequence of Vars: -1 for a Var that is no slot, '<type>' for a non-Var."""
    try:
        nodes = list(nodes)
    except TypeError:
        return f"<{type(nodes).__name__}>"
    return [index.get(id(n), -1) if isinstance(n, Var) else f"<{type(n).__name__}>"
            for n in nodes]
