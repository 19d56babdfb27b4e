"""Q3.2–Q3.4 — a computation graph of Vars, reverse mode, saved values and in-place changes.

Every test writes a small program (autograder.probes.autodiff documents the language: leaves,
constants, ops written as module functions, operators, reflected operators or methods, add_/mul_,
backward), runs it with the student's Var in the child (probe `autodiff_program`), and runs the
same program here with torch (float64 leaves that require grad, retain_grad on every op result,
constants as tensors that do not require grad, in-place changes under no_grad, x.T written as
a clone since a Var owns its value). Only the contract's API is used: Var(value), .value, .grad,
.parents, .version, the module's op functions, operators and methods, topological_order,
backward, add_, mul_ and InplaceError. Q3.2 and Q3.3 tests never call add_/mul_ nor read
.version; Q3.3 tests build graphs with the module functions only and never call
topological_order.

Bugs these checks catch, each named where it is caught:
Q3.2 (test_values_*, test_parents, test_topological_order, test_var_owns_its_value)
- a wrong forward formula (sigmoid sign, mean as a sum, sum/mean ignoring axis or keepdims);
- a reflected operator computing x - c for c - x (or x / c for c / x); numpy taking over
  `array + var` (no __array_ufunc__ = None), so the result is an array of Vars;
- a 1-D bias or a 0-d Var that does not broadcast;
- parents holding constants, deduplicated (x * x with parents (x,)), in the wrong order, or
  holding hidden intermediate Vars (sub written as add(a, neg(b)));
- a topological order with duplicates (no visited set), nodes told apart by value (two leaves
  with equal values collapse), leaves left out, unreachable nodes included, parents after
  their children, out not last (reversed order);
- Var(value) keeping the caller's array (np.asarray), x.T returning a view of x's value, an int
  input kept as an int array.
Q3.3 (test_grads_*)
- gradients overwritten (=) instead of accumulated (+=) at fan-out (hint names the use);
- a wrong sign or a missing contribution in one op's backward (hint names the op);
- nodes processed in a non-topological order (a node passes on an incomplete gradient), or a
  naive recursion that passes a node's gradient on once per use;
- the gradient of a broadcast 1-D bias or 0-d Var not summed back to its shape (hint);
- sum/mean(axis, keepdims) backward not expanding the gradient back, mean not dividing,
  transpose/matmul backward with the wrong transposes; on the Part 1 MLP in Vars.
Q3.4 (test_version_and_inplace_values, test_backward_raises_*, test_backward_works_*)
- add_/mul_ not adding 1 to .version, bumping another Var's version, not changing .value in place;
- saving a private copy of a value (backward never raises), or comparing values instead of
  versions (x.add_(1); x.add_(-1) restores the value, not the version);
- saving more than the backward formula reads (x * 2 then x.mul_(3) must work; exp/tanh/
  sigmoid/relu keep their output, not their input; log keeps its input, not its output;
  add, sub, neg, sum, mean and transpose keep nothing), or the version check on the wrong node;
- add_/mul_ recorded in the graph (the other operand receives a gradient);
- backward running over every Var ever made (a global tape) instead of out's graph;
- a constant operand kept by reference (the caller changes the array, backward sees it);
- raising something other than InplaceError, or an InplaceError that is not a RuntimeError.
"""
from __future__ import annotations

import functools
import re
from collections import Counter

import numpy as np
import pytest
import torch

from autograder.checks import Mismatch, assert_close, assert_true, case_rng

MODULE = "autodiff"
PROBE = "autodiff_program"
BINARY = ("add", "sub", "mul", "div", "matmul")
ELEMENTWISE = ("add", "sub", "mul", "div")
UNARY = ("neg", "exp", "log", "tanh", "sigmoid", "relu")
REDUCE = ("sum", "mean")
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@"}


# --- programs ----------------------------------------------------------------------------------
class Program:
    """A program of the probe's language, built here with numpy values to choose safe ops.

    The numpy values only steer the generator (no log of a negative, no huge exp); every
    expected value comes from torch (`run_torch`).
    """

    def __init__(self):
        self.ins: list[list] = []
        self.vals: list = []          # numpy value of each slot (None for non-values)
        self.var: list[bool] = []
        self.parents: list[list[int]] = []
        self.texts: list[str] = []

    # building
    def _add(self, ins, value, is_var, parents, text):
        self.ins.append(ins)
        self.vals.append(value)
        self.var.append(is_var)
        self.parents.append(parents)
        self.texts.append(text)
        return len(self.ins) - 1

    def leaf(self, value) -> int:
        array = np.array(value, dtype=np.float64)
        text = (f"Var({value!r})" if not isinstance(value, np.ndarray) else
                f"Var({'int ' if value.dtype.kind in 'iu' else ''}array {value.shape})")
        return self._add(["leaf", value], array, True, [], text)

    def const(self, value) -> int:
        return self._add(["const", value], np.array(value, dtype=np.float64), False, [], "")

    def op(self, name, *args, style="fn", axis=None, keepdims=False) -> int:
        values = [self.vals[a] for a in args]
        names = [self.name(a) for a in args]
        parents = [a for a in args if self.var[a]]
        if name in BINARY:
            a, b = values
            value = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                     "div": np.divide, "matmul": np.matmul}[name](a, b)
            text = (f"{name}({names[0]}, {names[1]})" if style == "fn"
                    else f"{names[0]} {SYMBOL[name]} {names[1]}")
            ins = [name, style, args[0], args[1]]
        elif name in UNARY:
            value = _np_unary(name, values[0])
            text = (f"{name}({names[0]})" if style == "fn"
                    else f"-{names[0]}" if name == "neg" else f"{names[0]}.{name}()")
            ins = [name, style, args[0]]
        elif name in REDUCE:
            value = getattr(np, name)(values[0], axis=axis, keepdims=keepdims)
            extra = (f"axis={axis}" if axis is not None else "") + (
                (", " if axis is not None else "") + "keepdims=True" if keepdims else "")
            text = (f"{name}({names[0]}{', ' + extra if extra else ''})" if style == "fn"
                    else f"{names[0]}.{name}({extra})")
            ins = [name, style, args[0], axis, keepdims]
        elif name == "T":
            value = values[0].T.copy()
            text = f"transpose({names[0]})" if style == "fn" else f"{names[0]}.T"
            ins = ["T", style, args[0]]
        else:
            raise ValueError(name)
        i = self._add(ins, np.asarray(value, dtype=np.float64), True, parents, "")
        self.texts[i] = f"v{i} = {text}"
        return i

    def inplace(self, name, target, other) -> None:
        value = self.vals[other]
        self.vals[target] = (self.vals[target] + value if name == "add_"
                             else self.vals[target] * value)
        self._add([name, target, other], None, False, [],
                  f"{self.name(target)}.{name}({self.name(other)})")

    def poke(self, target, delta) -> None:
        self._add(["poke", target, delta], None, False, [], f"(the caller adds {delta} to the "
                  f"array behind {self.name(target)})")

    def backward(self, out) -> None:
        self._add(["backward", out], None, False, [], f"{self.name(out)}.backward()")

    def copy(self) -> "Program":
        q = Program.__new__(Program)
        q.__dict__ = {k: list(v) for k, v in self.__dict__.items()}
        return q

    # reading
    def without_backward(self) -> list[list]:
        """The instructions with backward left out (slots kept in place), for Q3.2 tests."""
        return [["const", 0.0] if ins[0] == "backward" else ins for ins in self.ins]

    def listing(self) -> str:
        """'v0 = Var(array (3, 4)); v1 = exp(v0); v2 = sum(v1); v1.add_(1.0); v2.backward()'."""
        parts = []
        for i, ins in enumerate(self.ins):
            if ins[0] == "leaf":
                parts.append(f"v{i} = {self.texts[i]}")
            elif ins[0] == "const":
                if not isinstance(ins[1], float):
                    parts.append(f"c{i} = numpy array {self.vals[i].shape}")
            else:
                parts.append(self.texts[i])
        return "; ".join(parts)

    def name(self, i) -> str:
        if self.var[i]:
            return f"v{i}"
        value = self.ins[i][1]
        return repr(value) if isinstance(value, float) else f"c{i}"

    def describe(self, i) -> str:
        """'v9 = mul(v3, c7), where v3 = exp(v1), c7 = numpy array (3, 4)'."""
        if not self.var[i]:
            return self.texts[i]
        ins = self.ins[i]
        if ins[0] == "leaf":
            return f"the leaf v{i} = {self.texts[i]}"
        operands = [a for a in ins[2:] if isinstance(a, int) and not isinstance(a, bool)][:2]
        if ins[0] not in BINARY:
            operands = operands[:1]
        parts = []
        for a in dict.fromkeys(operands):
            if self.var[a]:
                parts.append(self.texts[a] if self.ins[a][0] != "leaf"
                             else f"v{a} = {self.texts[a]}")
            elif not isinstance(self.ins[a][1], float):
                parts.append(f"c{a} = numpy array {self.vals[a].shape}")
        return self.texts[i] + (f", where {'; '.join(parts)}" if parts else "")

    def operand_inputs(self, i, values) -> dict:
        ins = self.ins[i]
        if not self.var[i] or ins[0] == "leaf":
            return {f"v{i}": values[i]}
        count = 2 if ins[0] in BINARY else 1
        return {self.name(a): (values[a] if self.var[a] else self.vals[a])
                for a in ins[2:2 + count]}

    def var_slots(self) -> list[int]:
        return [i for i, v in enumerate(self.var) if v]

    def reachable(self, out) -> set[int]:
        seen, stack = set(), [out]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.parents[node])
        return seen

    def targets(self) -> list[int]:
        return list(dict.fromkeys(ins[1] for ins in self.ins if ins[0] in ("add_", "mul_")))

    def out(self) -> int | None:
        outs = [ins[1] for ins in self.ins if ins[0] == "backward"]
        return outs[-1] if outs else None


def _np_unary(name, x):
    with np.errstate(all="ignore"):
        return {"neg": np.negative, "exp": np.exp, "log": np.log, "tanh": np.tanh,
                "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
                "relu": lambda v: np.maximum(v, 0.0)}[name](x)


# --- the reference: the same program in torch ------------------------------------------------
TORCH_BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                "matmul": torch.matmul}
TORCH_UNARY = {"neg": torch.neg, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh,
               "sigmoid": torch.sigmoid, "relu": torch.relu}


def run_torch(program: Program, *, edges: bool = False, pokes_reach: bool = False) -> dict:
    """Values (after the whole program), grads and backward's outcome, computed by torch.

    edges: route every Var operand through its own clone (expanded to the broadcast shape),
        to read the contribution of each use of a node (for hints; programs without in-place).
    pokes_reach: let the caller's changes to a constant reach the op (through .data): what a
        Var that kept the caller's array would compute (for hints).
    """
    slots: list = []
    contributions: list[tuple[int, int, torch.Tensor]] = []
    outcome = "not run"

    def edge(consumer, source, tensor, shape):
        if not (edges and program.var[source]):
            return tensor
        clone = (tensor.expand(shape) if tuple(tensor.shape) != tuple(shape) else tensor).clone()
        clone.retain_grad()
        contributions.append((consumer, source, clone))
        return clone

    for k, ins in enumerate(program.ins):
        kind, made = ins[0], None
        if kind == "leaf":
            made = torch.tensor(np.asarray(ins[1], dtype=np.float64), requires_grad=True)
        elif kind == "const":
            made = torch.tensor(np.asarray(ins[1], dtype=np.float64))
        elif kind in BINARY:
            a, b = slots[ins[2]], slots[ins[3]]
            if kind == "matmul":
                a, b = edge(k, ins[2], a, a.shape), edge(k, ins[3], b, b.shape)
            else:
                shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
                a, b = edge(k, ins[2], a, shape), edge(k, ins[3], b, shape)
            made = TORCH_BINARY[kind](a, b)
        elif kind in UNARY:
            made = TORCH_UNARY[kind](edge(k, ins[2], slots[ins[2]], slots[ins[2]].shape))
        elif kind in REDUCE:
            x = edge(k, ins[2], slots[ins[2]], slots[ins[2]].shape)
            axis, keepdims = ins[3], ins[4]
            if axis is None:
                dims = tuple(range(x.dim()))
                made = getattr(torch, kind)(x, dim=dims, keepdim=True) if keepdims and dims \
                    else getattr(torch, kind)(x)
            else:
                made = getattr(torch, kind)(x, dim=axis, keepdim=keepdims)
        elif kind == "T":
            x = edge(k, ins[2], slots[ins[2]], slots[ins[2]].shape)
            made = x.permute(*reversed(range(x.dim()))).clone()   # a Var owns its value
        elif kind in ("add_", "mul_"):
            with torch.no_grad():
                getattr(slots[ins[1]], kind)(slots[ins[2]])
        elif kind == "poke":
            if pokes_reach and not program.var[ins[1]]:
                slots[ins[1]].data.add_(ins[2])
        elif kind == "backward":
            try:
                slots[ins[1]].backward()
                outcome = None
            except RuntimeError as error:
                if "modified by an inplace operation" not in str(error):
                    raise
                outcome = "inplace"
        if made is not None and made.requires_grad and not made.is_leaf:
            made.retain_grad()
        slots.append(made)

    def numpy(t):
        return None if t is None else t.detach().numpy().copy()

    result = {
        "values": [numpy(t) if program.var[i] else None for i, t in enumerate(slots)],
        "grads": [numpy(t.grad) if program.var[i] else None for i, t in enumerate(slots)],
        "outcome": outcome,
        "edges": [],
    }
    for consumer, source, clone in contributions:
        full = clone.grad if clone.grad is not None else torch.zeros_like(clone)
        reduced = full.sum_to_size(slots[source].shape)
        result["edges"].append((consumer, source, numpy(reduced), numpy(full)))
    return result


def run_student(submission, program: Program, *, forward_only: bool = False, **report) -> dict:
    """The probe's report on the program run with the student's Var (in the child)."""
    ins = program.without_backward() if forward_only else program.ins
    return submission.probe(PROBE, ins, report=report, module=MODULE)


# --- random graphs -----------------------------------------------------------------------------
STYLES_FN = {"binary": ["fn"], "neg": ["fn"], "unary": ["fn"], "reduce": ["fn"], "T": ["fn"]}
STYLES_OPERATORS = {"binary": ["op"], "neg": ["op"], "unary": ["method"], "reduce": ["method"],
                    "T": ["attr"]}
STYLES_MIXED = {"binary": ["fn", "op", "op"], "neg": ["fn", "op"], "unary": ["fn", "method"],
                "reduce": ["fn", "method"], "T": ["fn", "attr"]}


def _broadcastable(sa, sb) -> bool:
    """Shapes the contract grades: equal, a 0-d one, or a 1-D bias over the rows of a 2-D one."""
    return (sa == sb or sa == () or sb == () or (len(sa) == 2 and sb == (sa[1],))
            or (len(sb) == 2 and sa == (sb[1],)))


def random_graph(key: str, case: int, *, n_ops: int, styles: dict, consts: bool = True,
                 broadcast: bool = False, matrix: bool = False, unreachable: bool = False,
                 twins: bool = False, reflected: bool = False,
                 array_left_operators: bool = True) -> Program:
    """A random DAG with shared nodes and fan-out, summed into one 0-d out; backward last.

    broadcast: 1-D bias and 0-d leaves, x - x.mean() and bias additions;
    matrix: (m, n) and (m, k) leaves, matmul, transposes, sum/mean over an axis with keepdims;
    unreachable: one op result that out does not depend on; twins: two leaves of equal value;
    reflected: constants on the left (array - x, number / x, array * x, number + x, array @ x);
    array_left_operators=False writes an op with a numpy array on the left as a module function
    (so that graphs testing parents or the order do not depend on __array_ufunc__).
    """
    rng = case_rng("autodiff", key, case)
    p = Program()
    n, m = [(2, 3), (3, 4), (4, 3), (3, 5), (4, 2)][case % 5]
    pool = [p.leaf(rng.normal(0, 1, (n, m))) for _ in range(3)]
    pool.append(p.leaf(rng.uniform(0.5, 2.0, (n, m))))
    if twins:
        twin = rng.normal(0, 1, (n, m))
        pool += [p.leaf(twin), p.leaf(twin.copy())]
    style = lambda group: str(rng.choice(styles[group]))  # noqa: E731
    if broadcast:
        bias, scalar = p.leaf(rng.normal(0, 1, m)), p.leaf(float(rng.uniform(0.5, 1.5)))
        centred = p.op("sub", pool[0], p.op("mean", pool[0], style=style("reduce")),
                       style=style("binary"))
        pool += [bias, scalar, centred, p.op("add", pool[1], bias, style=style("binary")),
                 p.op("mul", scalar, pool[2], style=style("binary"))]
    if matrix:
        k = 2 + case % 3
        tall, side = p.leaf(rng.normal(0, 1, (m, n))), p.leaf(rng.normal(0, 1, (m, k)))
        pool += [tall, side, p.op("matmul", pool[0], side, style=style("binary")),
                 p.op("T", tall, style=style("T")),
                 p.op("mean", pool[3], axis=1, keepdims=True, style=style("reduce")),
                 p.op("sum", tall, axis=0, keepdims=True, style=style("reduce")),
                 p.op("mean", side, axis=0, style=style("reduce"))]
    if reflected:
        array_style = style("binary") if array_left_operators else "fn"
        pool += [p.op("sub", p.const(rng.normal(0, 1, (n, m))), pool[0], style=array_style),
                 p.op("div", p.const(round(float(rng.uniform(0.5, 2)), 3)), pool[3],
                      style=style("binary")),
                 p.op("mul", p.const(rng.normal(0, 1, (n, m))), pool[1], style=array_style),
                 p.op("add", p.const(round(float(rng.normal()), 3)), pool[2],
                      style=style("binary"))]
        if matrix:
            pool.append(p.op("matmul", p.const(rng.normal(0, 1, (2, n))), pool[2],
                             style=array_style))
    used: set[int] = set()

    def pick(condition=lambda i: True):
        candidates = [i for i in pool if condition(i)]
        if not candidates:
            return None
        weights = np.arange(1, len(candidates) + 1, dtype=float) ** 1.5
        return int(rng.choice(candidates, p=weights / weights.sum()))

    def constant_for(shape, positive=False):
        magnitude = rng.uniform(0.5, 2.0)
        if rng.random() < 0.5 or shape == ():
            return p.const(round(float(magnitude * (1 if positive else rng.choice([-1, 1]))), 3))
        if broadcast and len(shape) == 2 and rng.random() < 0.3:
            shape = (shape[1],)
        sign = 1 if positive else rng.choice([-1, 1], size=shape)
        return p.const(rng.uniform(0.5, 2.0, shape) * sign)

    def propose():
        kinds = ["binary"] * 5 + ["unary"] * 4 + (["reduce"] if broadcast or matrix else []) \
            + (["T", "matmul"] if matrix else [])
        kind = str(rng.choice(kinds))
        a = pick()
        sa = p.vals[a].shape
        if kind == "binary":
            name = str(rng.choice(ELEMENTWISE))
            r = rng.random()
            if r < 0.15:
                b = a
            elif consts and r < 0.45:
                b = constant_for(sa, positive=True) if name == "div" else constant_for(sa)
            else:
                b = pick(lambda i: _broadcastable(sa, p.vals[i].shape)
                         and (broadcast or p.vals[i].shape == sa))
            if b is None:
                return None
            if rng.random() < 0.5:
                a, b = b, a
            if name == "div" and np.min(np.abs(p.vals[b])) < 0.3:
                return None
            return ("binary", name, (a, b))
        if kind == "unary":
            name = str(rng.choice(UNARY))
            x = p.vals[a]
            if (name == "exp" and x.max() > 2.5) or (name == "log" and x.min() < 0.2) or (
                    name == "relu" and np.min(np.abs(x)) < 1e-2):
                return None
            return ("neg" if name == "neg" else "unary", name, (a,))
        if kind == "reduce":
            axis = rng.choice([None] + list(range(len(sa))) + ([-1] if len(sa) == 2 else []))
            keepdims = bool(matrix and rng.random() < 0.3)
            return ("reduce", str(rng.choice(REDUCE)),
                    (a,), None if axis is None else int(axis), keepdims)
        if kind == "T":
            return ("T", "T", (a,)) if len(sa) == 2 else None
        if len(sa) != 2:
            return None
        b = pick(lambda i: p.vals[i].ndim == 2 and p.vals[i].shape[0] == sa[1])
        if b is None or rng.random() < 0.3:
            b = p.const(rng.normal(0, 1, (sa[1], int(rng.integers(2, 4)))))
        if rng.random() < 0.3 and not p.var[b]:
            a, b = p.const(rng.normal(0, 1, (int(rng.integers(2, 4)), sa[0]))), a
        return ("binary", "matmul", (a, b))

    made = attempts = 0
    while made < n_ops:
        proposal = propose()
        if proposal is None:
            continue
        group, name, args = proposal[:3]
        extra = {"axis": proposal[3], "keepdims": proposal[4]} if group == "reduce" else {}
        attempts += 1
        if attempts > 5000:
            raise RuntimeError(f"suite error: random graph {key} {case} cannot grow")
        trial = p.copy()
        chosen = style(group)
        if not array_left_operators and not p.var[args[0]] and not isinstance(
                p.ins[args[0]][1], float):
            chosen = "fn"
        node = trial.op(name, *args, style=chosen, **extra)
        value = trial.vals[node]
        if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0) > 25:
            continue
        p.__dict__ = trial.__dict__
        pool.append(node)
        used.update(args)
        made += 1
    dangling = [i for i in pool if i not in used]
    if unreachable:
        left_out = [i for i in dangling if p.ins[i][0] != "leaf"]
        if left_out:
            dangling.remove(left_out[-1])
    terms = [i if p.vals[i].ndim == 0 else p.op("sum", i, style=style("reduce"))
             for i in dangling]
    out = terms[0]
    for t in terms[1:]:
        out = p.op("add", out, t, style=style("binary"))
    if p.vals[out].ndim:   # a single (1, 1) term: make out 0-d
        out = p.op("sum", out, style=style("reduce"))
    p.backward(out)
    return p


def ladder(case: int) -> Program:
    """A deep chain with fan-out at every step and skip connections:
    x_{k+1} = f(x_k) + g(x_{k-1})."""
    rng = case_rng("autodiff.ladder", case)
    p = Program()
    prev, cur = p.leaf(rng.normal(0, 1, (3, 4))), p.leaf(rng.normal(0, 1, (3, 4)))
    for k in range(12):
        if k % 3 == 0:
            left = p.op("mul", p.op("tanh", cur), cur)
        elif k % 3 == 1:
            left = p.op("mul", p.op("sigmoid", cur), p.const(1.5))
        else:
            left = p.op("sub", cur, p.op("mul", cur, p.op("tanh", prev)))
        prev, cur = cur, p.op("add", left, p.op("mul", prev, p.const(0.5)))
    out = p.op("mean", p.op("mul", cur, cur))
    p.backward(out)
    return p


def mlp_program(case: int) -> Program:
    """The Part 1 MLP in Vars: tanh hidden layer, log-softmax through the ops, mean NLL.

    Logits are kept (K, B) after the output layer so that subtracting the (B,) log-sum-exp is a
    1-D broadcast over rows (the only broadcasting the contract grades besides scalars).
    """
    rng = case_rng("autodiff.mlp", case)
    B, D, H, K = [(5, 4, 6, 3), (8, 3, 5, 4)][case]
    p = Program()
    x = p.const(rng.normal(0, 1, (B, D)))
    W1, b1 = p.leaf(rng.normal(0, 0.5, (H, D))), p.leaf(rng.normal(0, 0.1, H))
    W2, b2 = p.leaf(rng.normal(0, 0.5, (K, H))), p.leaf(rng.normal(0, 0.1, K))
    onehot_t = p.const(np.eye(K)[rng.integers(0, K, B)].T.copy())
    h = p.op("tanh", p.op("add", p.op("matmul", x, p.op("T", W1)), b1))
    z = p.op("add", p.op("matmul", h, p.op("T", W2)), b2)                 # (B, K)
    zt = p.op("T", z)                                                     # (K, B)
    lse = p.op("log", p.op("sum", p.op("exp", z), axis=1))                # (B,)
    logp_t = p.op("sub", zt, lse)                                         # (K, B) - (B,)
    picked = p.op("sum", p.op("mul", logp_t, onehot_t), axis=0)           # (B,)
    loss = p.op("neg", p.op("mean", picked))
    p.backward(loss)
    return p


GRAPHS = {
    # Q3.2
    "values_fn": lambda c: random_graph("values_fn", c, n_ops=16, styles=STYLES_FN,
                                        broadcast=True, matrix=True),
    "values_operators": lambda c: random_graph("values_operators", c, n_ops=16,
                                               styles=STYLES_OPERATORS, broadcast=True,
                                               matrix=True, reflected=True),
    "structure": lambda c: random_graph("structure", c, n_ops=14, styles=STYLES_MIXED,
                                        broadcast=c % 2 == 0, matrix=c % 2 == 1,
                                        unreachable=True, twins=True, reflected=True,
                                        array_left_operators=False),
    # Q3.3
    "elementwise": lambda c: random_graph("elementwise", c, n_ops=14, styles=STYLES_FN),
    "broadcast": lambda c: random_graph("broadcast", c, n_ops=12, styles=STYLES_FN,
                                        broadcast=True),
    "matrix": lambda c: random_graph("matrix", c, n_ops=12, styles=STYLES_FN, matrix=True),
    "unreachable": lambda c: random_graph("unreachable", c, n_ops=10, styles=STYLES_FN,
                                          unreachable=True),
    "ladder": ladder,
    "mlp": mlp_program,
}


@functools.cache
def graph(kind: str, case: int) -> Program:
    return GRAPHS[kind](case)


@functools.cache
def reference(kind: str, case: int, edges: bool = False) -> dict:
    return run_torch(graph(kind, case), edges=edges)


# --- Q3.2: the graph ---------------------------------------------------------------------------
def value_mistakes(p: Program, i: int, values: list) -> dict:
    """What known mistaken forward formulas give for node i, from the expected operands."""
    ins, out = p.ins[i], {}
    if ins[0] == "leaf":
        return out
    operand = lambda a: values[a] if p.var[a] else p.vals[a]  # noqa: E731
    with np.errstate(all="ignore"):
        if ins[0] in ("sub", "div"):
            a, b = operand(ins[2]), operand(ins[3])
            swapped = b - a if ins[0] == "sub" else b / a
            if not p.var[ins[2]]:
                out[f"{p.texts[i]} computed with the operands swapped: the reflected operator "
                    f"(__rsub__, __rtruediv__) must put the constant first (Q3.2)"] = swapped
            else:
                out["operands swapped (Q3.2)"] = swapped
        if ins[0] in REDUCE:
            x, axis, keepdims = values[ins[2]], ins[3], ins[4]
            f = getattr(np, ins[0])
            if keepdims:
                out["keepdims=True ignored: the reduced axes must stay, with size 1 (Q3.2)"] = \
                    f(x, axis=axis)
            if axis is not None:
                out[f"axis={axis} ignored: reduced over every entry (Q3.2)"] = \
                    f(x, keepdims=keepdims)
            if ins[0] == "mean":
                out["mean computed as a sum: divide by the number of entries averaged (Q3.2)"] = \
                    np.sum(x, axis=axis, keepdims=keepdims)
        if ins[0] == "sigmoid":
            out["sigmoid(x) is 1 / (1 + exp(-x)), not 1 / (1 + exp(x)) (Q3.2)"] = \
                1 / (1 + np.exp(values[ins[2]]))
    return out


def check_values(p: Program, got: list, expected: list, label: str, nodes=None) -> None:
    """Every Var's value, in creation order: the first mismatch is where the error starts."""
    for i in (p.var_slots() if nodes is None else nodes):
        assert_close(got[i], expected[i], check=f"{label}: the value of {p.describe(i)}",
                     inputs=p.operand_inputs(i, expected),
                     mistakes=value_mistakes(p, i, expected))


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_values_module_functions(submission, case):
    """Forward values of every node of random DAGs written with add(a, b), exp(x), sum(x, ...)."""
    p = graph("values_fn", case)
    got = run_student(submission, p, forward_only=True, values=True)
    check_values(p, got["values"], reference("values_fn", case)["values"],
                 f"random graph {case} (module functions)")


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_values_operators_and_methods(submission, case):
    """The same with operators (constants on either side: 2.0 - x, array * x), x.exp(), x.T."""
    p = graph("values_operators", case)
    got = run_student(submission, p, forward_only=True, values=True)
    check_values(p, got["values"], reference("values_operators", case)["values"],
                 f"random graph {case} (operators, reflected operators and methods)")


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("case", range(3))
def test_parents(submission, case):
    """.parents holds the Var operands in argument order: x * x has (x, x), constants none."""
    p = graph("structure", case)
    got = run_student(submission, p, forward_only=True, parents=True)["parents"]
    for i in p.var_slots():
        want, have = p.parents[i], got[i]
        if have == want:
            continue
        if not isinstance(have, list):
            hint = "parents must be a tuple of Vars"
        elif any(isinstance(h, str) for h in have):
            hint = "constants (numbers, arrays) are not parents: only Var operands are"
        elif -1 in have:
            hint = ("parents must be the operand Vars themselves, not copies or hidden "
                    "intermediate Vars (write each op directly, e.g. sub without add(a, neg(b)))")
        elif sorted(set(have)) == sorted(set(want)) and len(have) < len(want):
            hint = "an operand used twice is a parent twice: x * x has parents (x, x)"
        elif have == want[::-1]:
            hint = "parents must follow the argument order: sub(a, b) has parents (a, b)"
        else:
            hint = "parents are the Var operands of the op that made the node"
        names = lambda ids: "()" if not ids else "(" + ", ".join(  # noqa: E731
            f"v{j}" if isinstance(j, int) and j >= 0 else "a Var not in the program" if j == -1
            else str(j) for j in ids) + ("," if len(ids) == 1 else "") + ")"
        raise Mismatch(f"random graph {case}: .parents of {p.describe(i)}\n"
                       f"  expected: {names(want)}   got: "
                       f"{names(have) if isinstance(have, list) else have}\n  hint: {hint} (Q3.2)")


def topology_cases() -> list[tuple[Program, int, str]]:
    """(program, out, label): random DAGs with shared nodes, unreachable nodes, equal leaves."""
    cases = [(graph("structure", c), graph("structure", c).out(), f"random graph {c}")
             for c in range(3)]
    lad = graph("ladder", 0)
    cases.append((lad, lad.out(), "a ladder (every node used twice, skip connections)"))
    leafy = graph("structure", 0)
    cases.append((leafy, 0, "a leaf as out"))
    return cases


@pytest.mark.question("3.2", weight=3)
@pytest.mark.parametrize("case", range(5))
def test_topological_order(submission, case):
    """Every node out depends on exactly once, each after all its parents, out last; any valid
    order is accepted."""
    p, out, label = topology_cases()[case]
    order = run_student(submission, p, forward_only=True, order=out)["order"]
    check = f"topological_order(v{out}) on {label}"
    reach = p.reachable(out)
    assert_true(isinstance(order, list) and all(isinstance(j, int) and j >= 0 for j in order),
                f"{check}: expected a list of the graph's Vars, got {_short_list(order)}"
                + ("\n  hint: the order must hold the nodes themselves (Q3.2)"
                   if isinstance(order, list) else ""))
    counts = Counter(order)
    repeated = sorted(j for j, n in counts.items() if n > 1)
    assert_true(not repeated, f"{check}: v{repeated[0] if repeated else ''} is listed "
                f"{counts[repeated[0]] if repeated else 0} times\n  hint: a node shared by "
                f"several ops must be listed once: mark nodes as visited, by identity (Q3.2)")
    missing, extra = sorted(reach - set(order)), sorted(set(order) - reach)
    if missing:
        leaves = [j for j in missing if not p.parents[j]]
        twins = [j for j in missing if any(np.array_equal(p.vals[j], p.vals[k]) and j != k
                                           for k in order)]
        hint = ("two different Vars with equal values are two nodes: tell nodes apart by "
                "identity (id), never by value" if twins else
                "leaves are nodes too and must be listed" if len(leaves) == len(missing)
                else "every node out depends on must be listed")
        raise Mismatch(f"{check}: {len(missing)} of the {len(reach)} nodes are missing, e.g. "
                       f"{p.describe(missing[0])}\n  hint: {hint} (Q3.2)")
    assert_true(not extra, f"{check}: lists {p.describe(extra[0]) if extra else ''}, which out "
                f"does not depend on\n  hint: only nodes reachable from out through .parents "
                f"belong to its graph (Q3.2)")
    position = {j: n for n, j in enumerate(order)}
    for j in order:
        late = [a for a in p.parents[j] if position[a] > position[j]]
        if late:
            backwards = all(position[a] > position[c] for c in order for a in p.parents[c])
            raise Mismatch(f"{check}: v{late[0]} comes after {p.texts[j]}, which uses it\n  hint: "
                           + ("the order is reversed: parents first, out last (Q3.2)" if backwards
                              else "a node may be listed only once all its parents are (Q3.2)"))
    assert_true(order[-1] == out, f"{check}: the last node is v{order[-1]}, not out (v{out})"
                f"\n  hint: out depends on every other node, so it comes last (Q3.2)")


def _short_list(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}" + (" with nonzero entries" if np.any(x) else "")
    text = repr(x)
    return text if len(text) < 80 else text[:77] + "..."


def ownership_program(case: int) -> tuple[Program, list[int]]:
    """Leaves made from arrays that the caller changes afterwards, from ints and numbers; x.T."""
    rng = case_rng("autodiff.owns", case)
    p = Program()
    n, m = [(3, 4), (2, 5)][case]
    x = p.leaf(rng.normal(0, 1, (n, m)))
    ints = p.leaf(rng.integers(-3, 4, (n, m)))
    number = p.leaf(2 if case == 0 else 1.5)
    style = ["fn", "attr"][case]
    xt = p.op("T", x, style=style)
    y = p.op("mul", ints, number, style="op")
    yt = p.op("T", y, style="fn" if style == "attr" else "attr")
    s = p.op("sum", p.op("add", xt, yt, style="op"), axis=0, style="fn")
    p.op("exp", s, style="method")
    p.poke(x, 100.0)
    p.poke(ints, 7)
    return p, [x, ints]


@pytest.mark.question("3.2", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_var_owns_its_value(submission, case):
    """Var(value) copies value as float64; no two Vars share memory (x.T is a new array)."""
    p, sourced = ownership_program(case)
    got = run_student(submission, p, values=True, dtypes=True, shares=True)
    expected = run_torch(p)["values"]
    for i in sourced:
        assert_close(got["values"][i], expected[i], check=f"{p.describe(i)}, after the caller "
                     f"changed its array in place", inputs={f"v{i}": expected[i]}, mistakes={
                         "Var(value) must copy value: the Var kept the caller's array, so a "
                         "later change of that array changed the Var (Q3.2)": expected[i] + p.ins[
                             [k for k, ins in enumerate(p.ins) if ins[:2] == ["poke", i]][0]][2],
                     })
    for i in p.var_slots():
        assert_true(got["dtypes"][i] == "float64",
                    f"{p.describe(i)}: .value has dtype {got['dtypes'][i]}, expected float64\n"
                    f"  hint: Var(value) stores a float64 copy, even of an int array or a "
                    f"number (Q3.2)")
    if got["shares"]:
        i, j = got["shares"][0]
        raise Mismatch(f"{p.describe(j)}: its .value shares memory with the value of v{i}\n"
                       f"  hint: a Var owns its value: every op's result is a new array, x.T "
                       f"included (numpy's .T is a view: copy it) (Q3.2)")
    check_values(p, got["values"], expected, "after Var(value) and x.T",
                 nodes=[i for i in p.var_slots() if i not in sourced])


# --- Q3.3: back-propagation --------------------------------------------------------------------
def grad_mistakes(p: Program, i: int, expected: np.ndarray, edges: list, grads: list) -> dict:
    """Hints for node i: one use's contribution alone (overwrite), one contribution's sign
    flipped or missing, a mean's contribution not divided, relu's not masked."""
    mine = [(consumer, reduced) for consumer, source, reduced, _ in edges if source == i]
    out = {}
    for consumer, reduced in mine:
        ins = p.ins[consumer]
        if ins[0] == "mean":
            count = p.vals[i].size / max(p.vals[consumer].size, 1)
            out[f"{p.texts[consumer]}: the gradient of a mean must be divided by the number of "
                f"entries averaged ({count:g}) (Q3.3)"] = expected + (count - 1) * reduced
        if ins[0] == "relu" and grads[consumer] is not None:
            out[f"{p.texts[consumer]}: relu passes the gradient only where its output is "
                f"positive (Q3.3)"] = expected - reduced + grads[consumer]
    if len(mine) > 1:
        for consumer, reduced in mine:
            out[f"v{i} is used {len(mine)} times (fan-out), but its .grad is the contribution of "
                f"{p.texts[consumer]} alone: the contributions of every use must add up "
                f"(grad += ...), not overwrite each other (Q3.3)"] = reduced
    for consumer, reduced in mine:
        out[f"the gradient that {p.texts[consumer]} sends to v{i} has the wrong sign "
            f"(Q3.3)"] = expected - 2 * reduced
        out[f"the gradient that {p.texts[consumer]} sends to v{i} never arrived: that op's "
            f"backward, or the order nodes are processed in (reverse topological order, "
            f"so that a node's gradient is complete before it is passed on) (Q3.3)"] = \
            expected - reduced
    return out


def check_grads(p: Program, got: dict, ref: dict, label: str, edges: list | None = None) -> None:
    """.grad of every node of out's graph, from out back to the leaves (so the first mismatch is
    where the error starts); nodes out does not depend on keep None (or zeros)."""
    outcome = got["outcome"]
    if outcome is not None:
        hint = ("\n  hint: the gradient reaching a broadcast operand (a 1-D bias, a 0-d Var) must "
                "be summed back to that operand's shape (Q3.3)"
                if _unreduced_broadcast(str(outcome.get("message", "")), edges or []) else "")
        raise Mismatch(f"{label}: out.backward() raised {outcome['type']}: "
                       f"{outcome['message']}{hint}")
    reach = p.reachable(p.out())
    for i in reversed(p.var_slots()):
        have, want = got["grads"][i], ref["grads"][i]
        where = f"{label}: .grad of {p.describe(i)}"
        if i not in reach:
            assert_true(have is None or (not isinstance(have, str) and not np.any(have)),
                        f"{where}: out does not depend on v{i}, so its .grad must stay None, "
                        f"got {_short_list(have)}\n  hint: backward visits out's graph only "
                        f"(Q3.3)")
            continue
        assert_true(have is not None, f"{where}: .grad is None after out.backward()\n  hint: "
                    f"backward sets .grad of every node out depends on, leaves and "
                    f"intermediates (Q3.3)")
        if edges and not isinstance(have, str) and np.shape(have) != want.shape:
            spread = [e for e in edges if e[1] == i and e[3].shape == np.shape(have)
                      and e[3].shape != want.shape]
            if spread:
                raise Mismatch(f"{where}: expected shape {want.shape}, got shape "
                               f"{np.shape(have)}\n  hint: v{i} was broadcast in "
                               f"{p.texts[spread[0][0]]}: its gradient must be summed back to "
                               f"its own shape {want.shape} (Q3.3)")
        assert_close(have, want, check=where, inputs={f"v{i}": ref["values"][i]},
                     mistakes=grad_mistakes(p, i, want, edges or [], ref["grads"]))


def _unreduced_broadcast(message: str, edges: list) -> bool:
    """Whether numpy's error says a broadcast operand's gradient kept the broadcast shape, e.g.
    'non-broadcastable output operand with shape (4,) doesn't match the broadcast shape (3,4)'."""
    found = re.search(r"operand with shape \(([\d, ]*)\) doesn't match the broadcast shape "
                      r"\(([\d, ]*)\)", message)
    if not found:
        return False
    small, big = (tuple(int(n) for n in g.replace(" ", "").split(",") if n) for n in [0]
                  for g in found.groups())
    return any(e[2].shape == small and e[3].shape == big for e in edges)


def _grads_test(submission, kind: str, case: int, label: str) -> None:
    p = graph(kind, case)
    got = run_student(submission, p, grads=True)
    check_grads(p, got, reference(kind, case), label, reference(kind, case, edges=True)["edges"])


@pytest.mark.question("3.3", weight=3)
@pytest.mark.parametrize("case", range(4))
def test_grads_elementwise_graphs(submission, case):
    """Elementwise DAGs with heavy fan-out (x * x, a node feeding several ops)."""
    _grads_test(submission, "elementwise", case, f"random elementwise graph {case}")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("case", range(3))
def test_grads_broadcast(submission, case):
    """A 1-D bias over the rows of a 2-D Var, 0-d Vars (x - x.mean(), s * x), number constants."""
    _grads_test(submission, "broadcast", case, f"random graph {case} with broadcasting")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("case", range(3))
def test_grads_matrix_ops(submission, case):
    """matmul (with Var or constant operands), transpose, sum/mean over an axis, keepdims."""
    _grads_test(submission, "matrix", case, f"random graph {case} with matmul and reductions")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_grads_mlp(submission, case):
    """The Part 1 MLP written in Vars: every intermediate's gradient and the four parameters'."""
    _grads_test(submission, "mlp", case,
                f"the MLP in Vars (tanh hidden layer, log-softmax, mean NLL), case {case}")


@pytest.mark.question("3.3", weight=1)
@pytest.mark.parametrize("kind", ["ladder", "unreachable"])
def test_grads_deep_and_partial_graphs(submission, kind):
    """A deep ladder (each node used twice, skip connections); a graph with a node out does not
    depend on (its .grad stays None)."""
    _grads_test(submission, kind, 0, {"ladder": "a 12-step ladder x_{k+1} = f(x_k) + g(x_{k-1})",
                                      "unreachable": "a graph with a node out does not use"}[kind])


# --- Q3.4: saved values and in-place operations ------------------------------------------------
def version_program(case: int) -> Program:
    """add_ and mul_ on leaves and op results with numbers, arrays, a 1-D bias (and Vars)."""
    rng = case_rng("autodiff.versions", case)
    p = Program()
    x, w, u = [p.leaf(rng.normal(0, 1, (3, 4))) for _ in range(3)]
    y = p.op("mul", x, w)
    t = p.op("T", u)
    s = p.op("mean", w)
    p.op("exp", y)
    p.inplace("add_", x, p.const(2.0))
    p.inplace("mul_", x, p.const(rng.uniform(0.5, 2.0, (3, 4))))
    p.inplace("add_", y, p.const(rng.normal(0, 1, 4)))
    p.inplace("mul_", t, p.const(-1.5))
    if case == 1:
        p.inplace("mul_", y, w)
        p.inplace("add_", w, s)
        p.inplace("add_", x, y)
    return p


@pytest.mark.question("3.4", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_version_and_inplace_values(submission, case):
    """version is 0 at creation, +1 per add_/mul_ on that Var only; values change in place.
    Case 1 also passes Vars as the other operand."""
    p = version_program(case)
    got = run_student(submission, p, values=True, versions=True)
    expected = run_torch(p)["values"]
    adds, muls = ({i: sum(1 for ins in p.ins if ins[0] == kind and ins[1] == i)
                   for i in p.var_slots()} for kind in ("add_", "mul_"))
    counts = {i: adds[i] + muls[i] for i in p.var_slots()}
    steps = p.listing()
    for i in p.var_slots():
        have = got["versions"][i]
        if have == counts[i]:
            continue
        if counts[i] == 0:
            hint = ("a new Var starts at version 0" if all(
                got["versions"][j] == have for j in p.var_slots()) else
                "an in-place op changes only the Var it is called on, not its other operand")
        else:
            hint = ("add_ and mul_ must add 1 to .version" if have == 0 else
                    "add_ must add 1 to .version" if all(
                        got["versions"][j] == muls[j] for j in p.var_slots()) else
                    "mul_ must add 1 to .version" if all(
                        got["versions"][j] == adds[j] for j in p.var_slots()) else
                    "each add_ or mul_ adds exactly 1 to .version")
        raise Mismatch(f"after {steps}: .version of {p.describe(i)} is {have}, expected "
                       f"{counts[i]}\n  hint: {hint} (Q3.4)")
    unchanged = run_torch(_rewritten(p, {"add_": None, "mul_": None}))["values"]
    added = run_torch(_rewritten(p, {"mul_": "add_"}))["values"]
    multiplied = run_torch(_rewritten(p, {"add_": "mul_"}))["values"]
    for i in p.targets():
        assert_close(got["values"][i], expected[i], check=f"after {steps}: the value of v{i}",
                     inputs={f"v{i}": expected[i]}, mistakes={
                         "add_/mul_ must change .value of the Var in place (Q3.4)": unchanged[i],
                         "mul_ must multiply .value in place (it added) (Q3.4)": added[i],
                         "add_ must add to .value in place (it multiplied) (Q3.4)": multiplied[i]})


def _rewritten(p: Program, ops: dict) -> Program:
    """The same program with in-place ops replaced (None: left out; slots kept in place)."""
    q = p.copy()
    q.ins = [(["const", 0.0] if ops[ins[0]] is None else [ops[ins[0]]] + ins[1:])
             if ins[0] in ops else ins for ins in p.ins]
    return q


def _leaves(p: Program, rng, *specs):
    return [p.leaf(rng.uniform(0.5, 2.0, shape) if positive else rng.normal(0, 1, shape))
            for shape, positive in specs]


S34 = ((3, 4), False)
P34 = ((3, 4), True)


def _unary_out_changed(op, change, arg):
    def build(p, rng):
        x, = _leaves(p, rng, P34 if op == "log" else S34)
        y = p.op(op, x)
        out = p.op("sum", y)
        p.inplace(change, y, p.const(arg if not isinstance(arg, tuple)
                                     else rng.uniform(0.5, 2.0, arg)))
        p.backward(out)
    return build


def _unary_in_changed(op, change, arg):
    def build(p, rng):
        x, = _leaves(p, rng, P34 if op == "log" else S34)
        out = p.op("sum", p.op(op, x))
        p.inplace(change, x, p.const(arg))
        p.backward(out)
    return build


def _binary_changed(op, changed, *, left=S34, right=S34, style="fn", change="add_", arg=1.0,
                    constant=(None, None)):
    """out = sum(op(a, b)), then `changed` ('a', 'b' or 'out') changed in place; constant=
    (side, number) makes that operand a constant (an array when number is None)."""
    def build(p, rng):
        side, number = constant
        if side == "a":
            b, = _leaves(p, rng, right)
            a = p.const(number if number is not None
                        else rng.uniform(0.5, 2.0, left[0]) * rng.choice([-1, 1], left[0]))
        elif side == "b":
            a, = _leaves(p, rng, left)
            b = p.const(number if number is not None else rng.uniform(0.5, 2.0, right[0]))
        else:
            a, b = _leaves(p, rng, left, right)
        z = p.op(op, a, b, style=style)
        out = p.op("sum", z)
        p.inplace(change, {"a": a, "b": b, "out": z}[changed], p.const(arg))
        p.backward(out)
    return build


def _chain_changed_before_use(p, rng):
    x, = _leaves(p, rng, S34)
    y = p.op("exp", x)
    p.inplace("add_", y, p.const(1.0))
    out = p.op("sum", p.op("log", y))
    p.backward(out)


def _restored(change):
    def build(p, rng):
        # x on a grid of 1/8: x + 1 - 1 gives x back exactly, so only the version tells
        x, w = p.leaf(np.round(rng.normal(0, 1, (3, 4)) * 8) / 8), p.leaf(rng.normal(0, 1, (3, 4)))
        out = p.op("sum", p.op("mul", x, w))
        if change == "add_":
            p.inplace("add_", x, p.const(1.0))
            p.inplace("add_", x, p.const(-1.0))
        else:
            p.inplace("mul_", x, p.const(1.0))
        p.backward(out)
    return build


def _scalar_var_changed(p, rng):
    x, = _leaves(p, rng, S34)
    s = p.op("mean", x)
    out = p.op("sum", p.op("mul", x, s))
    p.inplace("add_", s, p.const(1.0))
    p.backward(out)


def _deep_saved(p, rng):
    x, w = _leaves(p, rng, S34, S34)
    y = p.op("tanh", x)
    out = p.op("mean", p.op("add", p.op("mul", y, p.const(2.0)), w))
    p.inplace("mul_", y, p.const(2.0))
    p.backward(out)


def _linear_ops_changed(p, rng):
    x, w, v = _leaves(p, rng, S34, S34, S34)
    a = p.op("add", x, w)
    b = p.op("sub", a, v)
    c = p.op("neg", b)
    out = p.op("sum", c)
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", w, p.const(2.0))
    p.inplace("add_", v, p.const(rng.normal(0, 1, 4)))
    p.inplace("add_", a, p.const(1.0))
    p.inplace("mul_", b, p.const(3.0))
    p.backward(out)


def _reductions_changed(p, rng):
    x, x2, x3, x4 = _leaves(p, rng, S34, S34, S34, S34)
    s, m, t, t4 = p.op("sum", x, axis=0), p.op("mean", x2, axis=1), p.op("T", x3), p.op("T", x4)
    out = p.op("add", p.op("add", p.op("sum", s), p.op("sum", m)),
               p.op("add", p.op("mean", t), p.op("sum", t4)))
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", x2, p.const(2.0))
    p.inplace("add_", x3, p.const(1.0))     # x.T was copied: only x3 changes
    p.inplace("mul_", t4, p.const(3.0))     # only t4 changes, not x4
    p.inplace("add_", s, p.const(1.0))
    p.backward(out)


def _changed_before_use(p, rng):
    x, = _leaves(p, rng, S34)
    y = p.op("mul", x, p.const(2.0))
    p.inplace("mul_", y, p.const(3.0))
    out = p.op("sum", p.op("exp", y))
    p.backward(out)


def _outside_graph(p, rng):
    x, w = _leaves(p, rng, S34, S34)
    y = p.op("exp", x)
    y2 = p.op("exp", w)
    p.op("mul", x, w)
    out = p.op("sum", y)
    p.inplace("add_", y2, p.const(1.0))
    p.inplace("mul_", w, p.const(2.0))
    p.backward(out)


def _var_operand_not_recorded(p, rng):
    x, w, x2, v = _leaves(p, rng, S34, S34, S34, S34)
    p.inplace("add_", x, w)
    p.inplace("mul_", x2, v)
    out = p.op("sum", p.op("add", p.op("exp", x), p.op("mul", x2, p.const(2.0))))
    p.backward(out)


def _matmul_constant(p, rng):
    A, B = _leaves(p, rng, S34, ((4, 2), False))
    z1 = p.op("matmul", A, p.const(rng.normal(0, 1, (4, 2))))
    z2 = p.op("matmul", p.const(rng.normal(0, 1, (2, 4))), B)
    out = p.op("add", p.op("sum", z1), p.op("sum", z2))
    p.inplace("add_", A, p.const(1.0))
    p.inplace("mul_", B, p.const(2.0))
    p.backward(out)


def _constants_changed_by_caller(p, rng):
    x, x2 = _leaves(p, rng, S34, S34)
    c1 = p.const(rng.uniform(0.5, 2.0, (3, 4)))
    c2 = p.const(rng.uniform(0.5, 2.0, (3, 4)))
    z1, z2 = p.op("mul", c1, x), p.op("div", x2, c2)
    out = p.op("add", p.op("sum", z1), p.op("sum", z2))
    p.poke(c1, 3.0)
    p.poke(c2, 3.0)
    p.backward(out)


MATMUL_AB = dict(left=S34, right=((4, 2), False))
RAISES = {
    # op: what it keeps; the change that must make backward raise
    "exp keeps its output: y = exp(x) changed": (
        _unary_out_changed("exp", "add_", 1.0), "exp keeps its output (exp' = exp)"),
    "tanh keeps its output: y = tanh(x) changed": (
        _unary_out_changed("tanh", "mul_", 0.5), "tanh keeps its output (tanh' = 1 - tanh²)"),
    "sigmoid keeps its output: y = sigmoid(x) changed": (
        _unary_out_changed("sigmoid", "add_", (3, 4)),
        "sigmoid keeps its output (σ' = σ(1 - σ))"),
    "relu keeps its output: y = relu(x) changed": (
        _unary_out_changed("relu", "mul_", 2.0), "relu keeps its output (its mask is out > 0)"),
    "log keeps its input: x changed": (
        _unary_in_changed("log", "add_", 1.0), "log keeps its input (log' = 1/x)"),
    "x * w: x changed": (_binary_changed("mul", "a"), "mul of two Vars keeps both"),
    "x * w: w changed": (
        _binary_changed("mul", "b", change="mul_", arg=2.0),
        "mul of two Vars keeps both"),
    "x * x: x changed": (
        lambda p, rng: _square(p, rng), "x * x keeps x (twice)"),
    "A @ B: A changed": (_binary_changed("matmul", "a", change="mul_", arg=2.0, **MATMUL_AB),
                         "matmul of two Vars keeps both"),
    "A @ B: B changed": (_binary_changed("matmul", "b", **MATMUL_AB),
                         "matmul of two Vars keeps both"),
    "x / w: divisor w changed": (_binary_changed("div", "b", right=P34),
                                 "div keeps its divisor when it is a Var"),
    "x / w: dividend x changed": (_binary_changed("div", "a", right=P34, change="mul_", arg=2.0),
                                  "div keeps its dividend too when the divisor is a Var"),
    "2 / w (constant dividend): w changed": (
        _binary_changed("div", "b", right=P34, constant=("a", 2.0)),
        "div keeps its divisor when it is a Var, even with a constant dividend"),
    "x * w: x.add_(1) then x.add_(-1)": (
        _restored("add_"), "mul keeps x; its value is back, but its version moved on twice: "
                           "compare versions, not values"),
    "x * w: x.mul_(1)": (_restored("mul_"), "mul keeps x; mul_(1) leaves the value equal but "
                                            "changes the version: compare versions, not values"),
    "exp(x) changed, then log of it": (
        _chain_changed_before_use, "exp saved its output before it was changed; log saved "
                                   "it after, which alone would be fine"),
    "x * x.mean(): the 0-d mean changed": (_scalar_var_changed,
                                          "mul keeps both operands, the 0-d one too"),
    "tanh deep in the graph changed": (_deep_saved, "tanh keeps its output, even far from out"),
}
WORKS = {
    "exp(x): x changed": (_unary_in_changed("exp", "add_", 1.0),
                          "exp keeps its output, not its input"),
    "tanh(x): x changed": (_unary_in_changed("tanh", "mul_", 2.0),
                           "tanh keeps its output, not its input"),
    "sigmoid(x): x changed": (_unary_in_changed("sigmoid", "add_", -1.0),
                              "sigmoid keeps its output, not its input"),
    "relu(x): x changed": (_unary_in_changed("relu", "mul_", 3.0),
                           "relu keeps its output, not its input"),
    "log(x): the output changed": (_unary_out_changed("log", "add_", 1.0),
                                   "log keeps its input, not its output"),
    "x * 2: x changed": (_binary_changed("mul", "a", constant=("b", 2.0), change="mul_", arg=3.0),
                         "mul with a constant keeps no Var"),
    "c * x (array constant): x changed": (
        _binary_changed("mul", "b", constant=("a", None)), "mul with a constant keeps no Var"),
    "x * w: the output changed": (_binary_changed("mul", "out"), "mul does not keep its output"),
    "A @ C and C @ B with constants: A and B changed": (
        _matmul_constant, "matmul with a constant operand keeps no Var"),
    "x / c (constant divisor): x changed": (
        _binary_changed("div", "a", right=P34, constant=("b", None)),
        "div by a constant keeps no Var"),
    "x / w: the output changed": (_binary_changed("div", "out", right=P34, change="mul_", arg=2.0),
                                  "div does not keep its output"),
    "add, sub, neg: operands and results changed": (
        _linear_ops_changed, "add, sub and neg keep nothing"),
    "sum, mean, transpose: inputs and results changed": (
        _reductions_changed, "sum, mean and transpose keep nothing"),
    "y = 2x changed before exp(y) is made": (
        _changed_before_use, "exp saved y's output after the change; mul by a constant keeps "
                             "nothing"),
    "a Var outside out's graph changed": (
        _outside_graph, "backward only visits out's graph: ops out does not depend on are not run"),
    "add_/mul_ with a Var operand are not recorded": (
        _var_operand_not_recorded, "add_ and mul_ happen outside the graph: their operand gets "
                                   "no gradient"),
    "constants changed by the caller after the op": (
        _constants_changed_by_caller, "an op keeps a copy of a constant operand"),
}


# Gradients are compared where a Q3.4 bug can change them (the value an in-place change leaves
# for later ops, a recorded add_, a constant kept by reference, a node outside out's graph).
# Elsewhere the changed Var was not saved, so however an op keeps its values, the gradients
# are those of Q3.3: comparing them would charge a Q3.3 bug to Q3.4 again.
GRADS_CHECKED = {"y = 2x changed before exp(y) is made", "a Var outside out's graph changed",
                 "add_/mul_ with a Var operand are not recorded",
                 "constants changed by the caller after the op"}


def _square(p, rng):
    x, = _leaves(p, rng, S34)
    out = p.op("sum", p.op("mul", x, x))
    p.inplace("add_", x, p.const(0.5))
    p.backward(out)


@functools.cache
def scenario(name: str) -> tuple[Program, dict, str]:
    build, why = {**RAISES, **WORKS}[name]
    p = Program()
    build(p, case_rng("autodiff.inplace", name))
    ref = run_torch(p)
    expected = "inplace" if name in RAISES else None
    if ref["outcome"] != expected:    # the suite's own premise, checked against torch
        raise AssertionError(f"suite error: torch gives {ref['outcome']!r} on {name!r}")
    return p, ref, why


@pytest.mark.question("3.4", weight=3)
@pytest.mark.parametrize("name", list(RAISES))
def test_backward_raises_when_a_saved_var_changed(submission, name):
    """backward raises InplaceError (a RuntimeError) where torch raises 'modified by an inplace
    operation': a Var an op saved was changed in place after it was saved."""
    p, ref, why = scenario(name)
    got = run_student(submission, p, versions=True)
    outcome, check = got["outcome"], p.listing()
    if outcome is None:
        stale = [i for i in p.targets() if got["versions"][i] == 0]
        ops = sorted({ins[0] for ins in p.ins if ins[0] in ("add_", "mul_")
                      and stale and ins[1] == stale[0]})
        hint = (f"{' and '.join(ops)} must add 1 to .version (v{stale[0]} is still at version 0)"
                if stale
                else f"{why}: save the Var itself with its version, and compare versions when "
                     f"backward reads it (a private copy never sees the change)")
        raise Mismatch(f"{check}: backward worked, expected InplaceError (torch raises 'one of "
                       f"the variables needed for gradient computation has been modified by an "
                       f"inplace operation')\n  hint: {hint} (Q3.4)")
    assert_true(outcome["inplace"], f"{check}: backward raised {outcome['type']}: "
                f"{outcome['message']}, expected InplaceError\n  hint: {why}; raise the module's "
                f"InplaceError (Q3.4)")
    assert_true(outcome["runtime"], f"{check}: InplaceError was raised, but it is not a "
                f"RuntimeError\n  hint: class InplaceError(RuntimeError) (Q3.4)")


@pytest.mark.question("3.4", weight=3)
@pytest.mark.parametrize("name", list(WORKS))
def test_backward_works_when_changed_value_not_saved(submission, name):
    """backward works where torch works (the changed Var was not saved); the changed Vars hold
    their new values; where a Q3.4 bug can change them, the gradients are torch's."""
    p, ref, why = scenario(name)
    got = run_student(submission, p, values=True, grads=True)
    check = p.listing()
    outcome = got["outcome"]
    if outcome is not None:
        hint = (f"\n  hint: {why}: an op saves only what its backward formula reads (Q3.4)"
                if outcome["inplace"] else "")
        raise Mismatch(f"{check}: backward raised {outcome['type']}: {outcome['message']}; "
                       f"expected it to work (torch does){hint}")
    for i in p.targets():
        assert_close(got["values"][i], ref["values"][i], check=f"{check}: the value of v{i}",
                     inputs={f"v{i}": ref["values"][i]})
    if name not in GRADS_CHECKED:
        return
    reach = p.reachable(p.out())
    others = {ins[2] for ins in p.ins if ins[0] in ("add_", "mul_") and p.var[ins[2]]}
    poked = run_torch(p, pokes_reach=True) if any(ins[0] == "poke" for ins in p.ins) else None
    for i in reversed(p.var_slots()):
        have, want = got["grads"][i], ref["grads"][i]
        where = f"{check}: .grad of {p.describe(i)}"
        if i not in reach:
            assert_true(have is None or (not isinstance(have, str) and not np.any(have)),
                        f"{where}: out does not depend on v{i}, so its .grad must stay None, got "
                        f"{_short_list(have)}\n  hint: "
                        + ("add_ and mul_ are not recorded in the graph: their operand is no "
                           "parent and gets no gradient (Q3.4)" if i in others
                           else "backward visits out's graph only (Q3.4)"))
            continue
        mistakes = {"a constant operand must be copied when the op is made: the caller's later "
                    "change to the array reached backward (Q3.4)": poked["grads"][i]
                    } if poked else {}
        assert_true(have is not None, f"{where}: .grad is None after out.backward()")
        assert_close(have, want, check=where, inputs={f"v{i}": ref["values"][i]},
                     mistakes=mistakes)
