"""Probe for the autodiff suite (runs inside the sandboxed child).

`autodiff_program` runs a small program with the student's `Var`. A program is a list of
instructions; each fills the next slot (a Var, a constant, or None for an instruction that makes
nothing) and refers to earlier slots by index:

    ["leaf", value]                       Var(value), value an array or a Python number
    ["const", value]                      a constant operand (never wrapped in a Var)
    ["op", name, style, [i, j], kwargs]   an op of autodiff_ops.OPS on slots i (and j): style "fn"
                                          calls autodiff.name(...), "sugar" writes the operator,
                                          method or attribute (a + b, -x, x.exp(), x.sum(axis=0),
                                          x.T; a constant may stand on either side)
    ["inplace", "add_" | "mul_", i, j]    slots[i].add_(slots[j]) (j a Var or a constant)
    ["poke", i, delta]                    adds delta in place to the caller's array behind slot i
                                          (the array given to Var() for a leaf, the constant
                                          itself for a constant): a Var must not see it
    ["backward", i]                       slots[i].backward(); an exception is recorded, not raised

`report` names what to send back, each read only when asked (a test of one question never
touches the attributes another question grades): "values", "dtypes", "grads", "parents",
"versions", "shares", "returns" (whether each add_/mul_ returned its Var), and "order" (the
slot whose topological_order is wanted). `strict=True` runs the program with numpy's overflow,
invalid and divide warnings raised.

"kit_values": before backward, the value of every Var that is wrong is overwritten in place with
what the kit's numpy forward (autodiff_ops) gives for the program, so that the gradients a Q3.3 test
reads do not depend on the student's Q3.2 forward formulas (the closures read those arrays).
The probe holds no reference value: it only drives the student's code and returns plain data.
"""
from __future__ import annotations

import numpy as np

from autograder.checks import ATOL, RTOL
from autograder.probes.autodiff_ops import INPLACE, OPS, numpy_forward
from autograder.probes.base import probe, student_module


@probe
def autodiff_program(program, report=None, kit_values=False, strict=False):
    """Run `program`; `strict`: numpy's overflow, invalid and divide warnings raise."""
    if not strict:
        return _run(program, report or {}, kit_values)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        return _run(program, report or {}, kit_values)


def _run(program, report: dict, kit_values: bool) -> dict:
    ad = student_module("autodiff")
    Var = ad.Var
    slots: list = []
    kit: list = []                          # the kit's forward value of each slot
    sources: dict[int, np.ndarray] = {}     # leaf slot -> the caller's array
    returned_self: list[bool] = []          # whether each add_/mul_ returned its Var
    outcome = "not run"

    for ins in program:
        kind, made, value = ins[0], None, None
        if kind == "leaf":
            if isinstance(ins[1], np.ndarray):
                sources[len(slots)] = ins[1]
            value = np.array(ins[1], dtype=np.float64)
            made = _checked(Var(ins[1]), "Var(value)", Var)
        elif kind == "const":
            made, value = ins[1], np.array(ins[1], dtype=np.float64)
        elif kind == "op":
            name, style, args, kwargs = ins[1], ins[2], [slots[i] for i in ins[3]], ins[4]
            op = OPS[name]
            call = getattr(ad, name) if style == "fn" else op.sugar
            made = _checked(call(*args, **kwargs), op.text([_kind(a, Var) for a in args], style,
                                                           kwargs), Var)
            value = numpy_forward(name, [kit[i] for i in ins[3]], kwargs)
        elif kind == "inplace":
            returned_self.append(getattr(slots[ins[2]], ins[1])(slots[ins[3]]) is slots[ins[2]])
            kit[ins[2]] = INPLACE[ins[1]](kit[ins[2]], kit[ins[3]])
        elif kind == "poke":
            target = sources.get(ins[1], slots[ins[1]])
            target += ins[2]
        elif kind == "backward":
            if kit_values:
                _overwrite_values(slots, kit, Var)
            outcome = _backward(slots[ins[1]], ad)
        else:
            raise ValueError(f"unknown instruction {kind!r}")
        slots.append(made)
        kit.append(value)
    result = _report(slots, report, ad, Var, outcome)
    if report.get("returns"):
        result["returns"] = returned_self
    return result


def _kind(x, Var) -> str:
    return "Var" if isinstance(x, Var) else type(x).__name__


def _checked(result, text: str, Var):
    if not isinstance(result, Var):
        raise TypeError(f"{text} returned {type(result).__name__}, not a Var"
                        + (" (numpy took over the operator: Var needs __array_ufunc__ = None)"
                           if isinstance(result, np.ndarray) else ""))
    return result


def _overwrite_values(slots: list, kit: list, Var) -> None:
    """Write the kit's forward values into the student's value arrays where they fit and are
    wrong; a value within the graders' tolerance stays as it is (to the last bit: a Saved that
    compares values, a Q3.4 matter, must not see a change here)."""
    for var, value in zip(slots, kit):
        if isinstance(var, Var):
            try:
                have = var.value
                if not (isinstance(have, np.ndarray) and have.shape == value.shape):
                    continue
                scale = max(1.0, float(np.max(np.abs(value), initial=0.0)))
                if not np.allclose(have, value, rtol=RTOL, atol=ATOL * scale):
                    np.copyto(have, value)
            except Exception:   # a read-only or exotic value: left as the student made it
                pass


def _backward(out, ad):
    """None when out.backward() returned, else what it raised (for the grader to judge)."""
    try:
        out.backward()
        return None
    except Exception as error:
        try:
            message = str(error)[:500]
        except Exception:
            message = "<unprintable>"
        return {"type": type(error).__name__, "message": message,
                "inplace": isinstance(error, getattr(ad, "InplaceError", ())),
                "runtime": isinstance(error, RuntimeError)}


def _report(slots: list, report: dict, ad, Var, outcome) -> dict:
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
