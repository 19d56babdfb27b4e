"""Drivers of the public checks: small programs that run in the process where your Parts 1-4
modules run (support/runner.py), to do what one call cannot, and send back plain data only.

`autodiff_program` builds a graph of your Var from a list of instructions; each instruction
fills the next slot (a Var, a constant, or None) and names earlier slots by their index:

    ["leaf", value]                     Var(value)
    ["const", value]                    a constant operand (a number or an array, never a Var)
    ["op", name, style, [i, j], kw]     the op `name` on slots i (and j): style "fn" calls
                                        autodiff.name(a, b, **kw), "sugar" writes a + b, x.exp(),
                                        x.sum(**kw), x.T (a constant may stand on either side)
    ["inplace", "add_" | "mul_", i, j]  slots[i].add_(slots[j])
    ["poke", i, delta]                  the caller adds delta, in place, to the array it gave
                                        to Var() (slot i a leaf) or to the constant (slot i)
    ["backward", i]                     slots[i].backward(); an exception is reported, not raised

`report` names what to send back: "values", "dtypes", "grads", "parents", "versions", "shares"
(pairs of Vars whose values share memory), "order" (a slot: its topological_order), "returns"
(for each add_/mul_, whether it returned the Var itself).
`forward_values`, when given, holds torch's value of every Var: before backward, a Var whose value differs gets
torch's, written into its array, so that the gradients a Q3.3 check reads do not depend on your
Q3.2 forward formulas (as the grader does). `strict` raises numpy's overflow, invalid and
divide warnings as errors. Nothing here computes a result of yours.
"""
import numpy as np

from autograder.probes.base import probe, student_module

SUGAR = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "matmul": lambda a, b: a @ b, "neg": lambda x: -x,
    "exp": lambda x: x.exp(), "log": lambda x: x.log(), "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: x.relu(),
    "sum": lambda x, **kw: x.sum(**kw), "mean": lambda x, **kw: x.mean(**kw),
    "transpose": lambda x: x.T,
}


@probe
def autodiff_program(program, report=None, forward_values=None, strict=False):
    if strict:    # numpy's overflow, invalid and divide warnings raised, as in call_strict
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            return autodiff_program(program, report, forward_values)
    report = report or {}
    ad = student_module("autodiff")
    Var = ad.Var
    slots, given = [], {}          # given: slot -> the array the caller passed (leaf or const)
    returns = []                   # for each add_/mul_: did it return the Var itself
    outcome = "not run"
    for ins in program:
        made = None
        if ins[0] == "leaf":
            given[len(slots)] = ins[1]
            made = _var(Var(ins[1]), Var, "Var(value)")
        elif ins[0] == "const":
            given[len(slots)] = made = ins[1]
        elif ins[0] == "op":
            name, style, operands, kwargs = ins[1], ins[2], [slots[i] for i in ins[3]], ins[4]
            function = getattr(ad, name) if style == "fn" else SUGAR[name]
            made = _var(function(*operands, **kwargs), Var, f"{name} ({style})")
        elif ins[0] == "inplace":
            returns.append(getattr(slots[ins[2]], ins[1])(slots[ins[3]]) is slots[ins[2]])
        elif ins[0] == "poke":
            given[ins[1]] += ins[2]
        elif ins[0] == "backward":
            if forward_values is not None:
                _write_values(slots, forward_values, Var)
            outcome = _backward(slots[ins[1]], ad)
        slots.append(made)
    result = _report(slots, report, ad, Var, outcome)
    if report.get("returns"):
        result["returns"] = returns
    return result


def _var(result, Var, text):
    if not isinstance(result, Var):
        raise TypeError(f"{text} returned {type(result).__name__}, not a Var"
                        + (" (numpy took over the operator: give Var __array_ufunc__ = None)"
                           if isinstance(result, np.ndarray) else ""))
    return result


def _write_values(slots, values, Var):
    for var, value in zip(slots, values):
        if isinstance(var, Var) and value is not None:
            mine = var.value
            if not (isinstance(mine, np.ndarray) and mine.shape == value.shape):
                var.value = value.copy()
            elif not np.allclose(mine, value, rtol=1e-6, atol=1e-9, equal_nan=True):
                np.copyto(mine, value)       # in place: the closures read this array


def _backward(out, ad):
    try:
        out.backward()
    except Exception as error:       # the test decides what an exception means
        return {"type": type(error).__name__, "message": str(error)[:500],
                "inplace": isinstance(error, getattr(ad, "InplaceError", ())),
                "runtime": isinstance(error, RuntimeError)}
    return None


def _report(slots, report, ad, Var, outcome):
    is_var = [isinstance(v, Var) for v in slots]
    index = {id(v): i for i, (v, ok) in enumerate(zip(slots, is_var)) if ok}
    result = {"outcome": outcome}
    if report.get("values"):
        result["values"] = [_plain(v.value) if ok else None for v, ok in zip(slots, is_var)]
    if report.get("dtypes"):
        result["dtypes"] = [str(getattr(v.value, "dtype", type(v.value).__name__)) if ok else None
                            for v, ok in zip(slots, is_var)]
    if report.get("grads"):
        result["grads"] = [_plain(v.grad) if ok and v.grad is not None else None
                           for v, ok in zip(slots, is_var)]
    if report.get("versions"):
        result["versions"] = [v.version if ok and isinstance(v.version, int) else None
                              for v, ok in zip(slots, is_var)]
    if report.get("parents"):
        result["parents"] = [_slots(v.parents, index, Var) if ok else None
                             for v, ok in zip(slots, is_var)]
    if report.get("order") is not None:
        try:
            result["order"] = _slots(ad.topological_order(slots[report["order"]]), index, Var)
        except Exception as error:     # the check that reads it says so
            result["order"] = f"<{type(error).__name__}: {str(error)[:200]}>"
    if report.get("shares"):
        arrays = [(i, v.value) for i, (v, ok) in enumerate(zip(slots, is_var))
                  if ok and isinstance(v.value, np.ndarray)]
        result["shares"] = [[i, j] for n, (i, a) in enumerate(arrays) for j, b in arrays[n + 1:]
                            if np.shares_memory(a, b)]
    return result


def _plain(x):
    """A float64 copy of an array-like, or '<type>' when it is not numbers."""
    try:
        return np.array(x, dtype=np.float64)
    except Exception:
        return f"<{type(x).__name__}>"


def _slots(nodes, index, Var):
    """The slots of a sequence of Vars: -1 for a Var that is no slot, '<type>' for a non-Var."""
    try:
        nodes = list(nodes)
    except TypeError:
        return f"<{type(nodes).__name__}>"
    return [index.get(id(n), -1) if isinstance(n, Var) else f"<{type(n).__name__}>"
            for n in nodes]
