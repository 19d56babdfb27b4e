"""Public checks for autodiff.py (Q3.2-Q3.4): your Var against PyTorch's autograd.

Run `pytest tests/test_autodiff.py` in your folder. Each check writes a small program (a graph
of ops), runs it with your Var where your module runs as the grader runs it (tests/drivers.py
reads the program), runs the same program with torch here (float64 leaves that require grad,
constants as tensors that do not, add_/mul_ under torch.no_grad(), x.T as a copy since a Var
owns its value), and compares, with the grader's hint when your result is what a known
mistake gives (autograder/mistakes/autodiff.py). The gradient checks (Q3.3) write torch's forward
values into your Vars before backward, as the grader does, so a forward bug costs Q3.2 only.
The grader's hidden tests use other graphs, and more of them.
"""
import functools
import re
from collections import Counter

import numpy as np
import pytest
import torch

from autograder.checks import (Mismatch, assert_close, assert_gradient, assert_true, case_rng,
                               hint_line, matching_hints, strict_result)
from autograder.mistakes import autodiff as mistakes

MODULE = "autodiff"
REDUCE = ("sum", "mean")


class Program:
    """The instructions of drivers.autodiff_program, written with one method per kind; each
    method returns the slot it fills."""

    def __init__(self):
        self.ins: list = []
        self.texts: list[str] = []      # how each slot is made, for messages
        self.var: list[bool] = []       # whether a slot is a Var

    def _add(self, ins, text, var) -> int:
        self.ins.append(ins)
        self.texts.append(text)
        self.var.append(var)
        return len(self.ins) - 1

    def leaf(self, value) -> int:
        return self._add(["leaf", value], f"Var(array {np.shape(value)})", True)

    def const(self, value) -> int:
        return self._add(["const", value], f"the constant {_short(value)}", False)

    def op(self, name: str, *operands: int, style: str = "fn", **kwargs) -> int:
        names = [f"v{i}" if self.var[i] else _short(self.ins[i][1]) for i in operands]
        extra = [f"{k}={v!r}" for k, v in kwargs.items()]
        text = (f"{name}({', '.join(names + extra)})" if style == "fn" else
                f"{name} written as an operator or method on ({', '.join(names + extra)})")
        return self._add(["op", name, style, list(operands), kwargs], text, True)

    def inplace(self, method: str, target: int, operand: int) -> int:
        return self._add(["inplace", method, target, operand], f"v{target}.{method}(...)", False)

    def poke(self, slot: int, delta: float) -> int:
        return self._add(["poke", slot, delta], f"the caller's array of v{slot} += {delta}", False)

    def backward(self, slot: int) -> int:
        return self._add(["backward", slot], f"v{slot}.backward()", False)

    def describe(self, i: int) -> str:
        return f"v{i} = {self.texts[i]}"

    def listing(self) -> str:
        """The program in one line: "v0 = Var(array (3, 4)); v1 = exp(v0); v1.add_(...)"."""
        return "; ".join(self.describe(i) if self.var[i] else self.texts[i]
                         for i in range(len(self.ins)) if self.ins[i][0] != "const")

    def targets(self) -> list[int]:
        """The Vars that add_ or mul_ change."""
        return sorted({ins[2] for ins in self.ins if ins[0] == "inplace"})

    def var_slots(self) -> list[int]:
        return [i for i, v in enumerate(self.var) if v]

    def parents(self, i: int) -> list:
        """The slots of the Var operands of slot i, in argument order."""
        return [j for j in self.ins[i][3] if self.var[j]] if self.ins[i][0] == "op" else []

    def reachable(self, out: int) -> set[int]:
        seen, todo = set(), [out]
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo += self.parents(i)
        return seen

    def without(self, kinds) -> list:
        """The instructions, with those of `kinds` made into constants that change nothing."""
        return [["const", 0.0] if ins[0] in kinds else ins for ins in self.ins]


def _short(value) -> str:
    return f"array {np.shape(value)}" if np.ndim(value) else repr(value)


def torch_op(name: str, operands: list, kwargs: dict) -> torch.Tensor:
    """The op on tensors: axis/keepdims as dim/keepdim, the transpose a copy."""
    if name in REDUCE:
        x, axis, keep = operands[0], kwargs.get("axis"), kwargs.get("keepdims", False)
        dims = tuple(range(x.dim())) if axis is None else axis
        return getattr(torch, name)(x, dim=dims, keepdim=keep)
    if name == "transpose":
        return operands[0].permute(*reversed(range(operands[0].dim()))).clone()
    return getattr(torch, name)(*operands)


def run_torch(p: Program, instructions: list | None = None) -> dict:
    """Torch's values (after the whole program), grads, and whether backward raised
    'modified by an inplace operation' ("inplace") or worked (None)."""
    slots, outcome = [], "not run"
    for ins in instructions or p.ins:
        made = None
        if ins[0] in ("leaf", "const"):
            made = torch.tensor(np.asarray(ins[1], dtype=np.float64), requires_grad=ins[0] == "leaf")
        elif ins[0] == "op":
            made = torch_op(ins[1], [slots[i] for i in ins[3]], ins[4])
            if made.requires_grad:
                made.retain_grad()
        elif ins[0] == "inplace":
            with torch.no_grad():
                getattr(slots[ins[2]], ins[1])(slots[ins[3]])
        elif ins[0] == "backward":
            try:
                slots[ins[1]].backward()
                outcome = None
            except RuntimeError as error:
                if "modified by an inplace operation" not in str(error):
                    raise
                outcome = "inplace"
        slots.append(made)
    return {"values": [t.detach().numpy().copy() if p.var[i] else None for i, t in enumerate(slots)],
            "grads": [t.grad.numpy().copy() if p.var[i] and t.grad is not None else None
                      for i, t in enumerate(slots)],
            "outcome": outcome}


def run_student(submission, p: Program, instructions: list | None = None, forward_values=None,
                strict=False, **report):
    return submission.probe("autodiff_program", instructions or p.ins, report=report,
                            forward_values=forward_values, strict=strict, module=MODULE)


# --- the graphs -------------------------------------------------------------------------------
@functools.cache
def expression(style: str) -> Program:
    """Every op of the module once or more, with fan-out, a 1-D bias over rows, a 0-d Var
    (x - x.mean()), constants on either side, a sum over an axis with keepdims, and backward."""
    rng = case_rng("public", "autodiff.expression")
    p = Program()
    x, w, b = p.leaf(rng.normal(size=(3, 4))), p.leaf(rng.normal(size=(4, 2))), p.leaf(rng.normal(size=4))
    q = p.leaf(rng.uniform(0.5, 2.0, (3, 4)))
    two, c = p.const(2.0), p.const(rng.normal(size=(3, 4)))
    op = functools.partial(p.op, style=style)
    centred = op("sub", x, op("mean", x))
    h = op("tanh", op("add", centred, b))
    ratio = op("add", op("div", two, q), op("mul", c, op("mul", h, h)))
    z = op("matmul", op("sub", ratio, h), w)
    e = op("sum", op("exp", op("transpose", z)), axis=1, keepdims=True)
    ell = op("mul", op("log", e), op("mean", op("sigmoid", h)))
    tail = op("neg", op("mean", op("relu", x), axis=0))
    p.backward(op("sub", op("sum", ell), op("sum", tail)))
    return p


@functools.cache
def structure() -> Program:
    """A DAG with shared nodes, two leaves of equal values, a node out does not depend on, a
    constant operand and x * x."""
    rng = case_rng("public", "autodiff.structure")
    p = Program()
    same = rng.normal(size=(2, 3))
    a, b = p.leaf(same), p.leaf(same.copy())
    c = p.op("mul", a, b)
    d = p.op("add", p.op("tanh", c), c)                   # c shared
    e = p.op("mul", d, a)                                 # a used twice
    p.op("exp", e)                                        # not on the way to out
    sq = p.op("mul", e, e)                                # x * x
    k = p.const(3.0)
    f = p.op("sub", k, sq, style="sugar")                 # a constant first: 3.0 - sq
    p.op("sum", p.op("sub", f, b))
    return p


@functools.cache
def expected(name: str) -> dict:
    return run_torch({"fn": lambda: expression("fn"), "sugar": lambda: expression("sugar"),
                      "structure": structure}[name]())


# === Q3.2: the graph ==========================================================================
def check_values(p: Program, got: list, want: list, label: str) -> None:
    """Every Var's value in creation order, with the forward mistakes of its op."""
    for i in p.var_slots():
        wrong = {}
        ins = p.ins[i]
        if ins[0] == "op":
            name, operands, kwargs = ins[1], ins[3], ins[4]
            wrong = mistakes.forward(name, kwargs, want[i], not p.var[operands[0]])
            if name == "mean":
                size = np.size(want[operands[0]] if p.var[operands[0]] else ins[1])
                wrong.update(mistakes.mean_as_sum(want[i], size / np.size(want[i])))
        assert_close(got[i], want[i], check=f"{label}: the value of {p.describe(i)}",
                     inputs={f"v{j}": want[j] for j in p.parents(i)}, mistakes=wrong)


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("style", ["fn", "sugar"])
def test_forward_values(submission, style):
    p = expression(style)
    got = run_student(submission, p, p.without(("backward",)), values=True)
    what = "module functions" if style == "fn" else "operators, reflected operators and methods"
    check_values(p, got["values"], expected(style)["values"], f"the expression ({what})")


@pytest.mark.question("3.2", weight=2)
def test_parents(submission):
    """.parents: the Var operands in argument order (x * x has (x, x)), constants none. Checked
    with the values of the same graph."""
    p = structure()
    got = run_student(submission, p, p.without(("backward",)), values=True, parents=True)
    check_values(p, got["values"], expected("structure")["values"], "the DAG")
    for i in p.var_slots():
        want, have = p.parents(i), got["parents"][i]
        if have == want:
            continue
        kinds = [a if p.var[a] else f"<{type(p.ins[a][1]).__name__}>" for a in p.ins[i][3]] \
            if p.ins[i][0] == "op" else []
        hints = [h for h, value in mistakes.parents(want, kinds).items() if value == have]
        raise Mismatch(f"the DAG: .parents of {p.describe(i)}\n  expected: {_names(want)}   "
                       f"got: {_names(have)}" + hint_line(hints))


def _names(slots) -> str:
    if not isinstance(slots, list):
        return str(slots)
    return "(" + ", ".join(f"v{j}" if isinstance(j, int) and j >= 0 else
                           "a Var not in the program" if j == -1 else str(j) for j in slots) + ")"


@pytest.mark.question("3.2", weight=3)
@pytest.mark.parametrize("out", ["the sum", "a leaf"])
def test_topological_order(submission, out):
    """Every node out depends on, once, each after all its parents, out last (any such order).
    Checked with the values of the same graph."""
    p = structure()
    out = p.var_slots()[-1] if out == "the sum" else 0
    got = run_student(submission, p, p.without(("backward",)), values=True, order=out)
    check_values(p, got["values"], expected("structure")["values"], "the DAG")
    order, check = got["order"], f"topological_order(v{out})"
    assert_true(isinstance(order, list) and all(isinstance(j, int) and j >= 0 for j in order),
                f"{check}: expected a list of the graph's Vars (the nodes themselves), got {order}")
    counts = Counter(order)
    repeated = [j for j, n in counts.items() if n > 1]
    assert_true(not repeated, f"{check}: v{repeated[0] if repeated else ''} is listed more than "
                f"once; every node must be listed once, also a node shared by several ops "
                f"(mark nodes as visited, by identity)")
    reach = p.reachable(out)
    missing, extra = sorted(reach - set(order)), sorted(set(order) - reach)
    if missing:
        twins = all(any(np.array_equal(p.ins[j][1], p.ins[k][1]) for k in order
                        if p.ins[k][0] == "leaf" and k != j) for j in missing
                    if p.ins[j][0] == "leaf") and all(p.ins[j][0] == "leaf" for j in missing)
        hint = ["two different Vars with equal values are two nodes: tell nodes apart by "
                "identity (id), never by value"] if twins else []
        raise Mismatch(f"{check}: {len(missing)} of the {len(reach)} nodes are missing, e.g. "
                       f"{p.describe(missing[0])}" + hint_line(hint))
    assert_true(not extra, f"{check}: lists {p.describe(extra[0]) if extra else ''}, which out "
                f"does not depend on (only nodes reachable from out through .parents belong)")
    position = {j: n for n, j in enumerate(order)}
    for j in order:
        late = [a for a in p.parents(j) if position[a] > position[j]]
        if late:
            backwards = all(position[a] > position[c] for c in order for a in p.parents(c))
            raise Mismatch(f"{check}: v{late[0]} comes after {p.describe(j)}, which uses it"
                           + hint_line(["the order is reversed: parents first, out last"]
                                       if backwards else []))
    assert_true(order[-1] == out, f"{check}: the last node is v{order[-1]}, not out (v{out})")


@pytest.mark.question("3.2")
def test_var_owns_its_value(submission):
    """Var(value) keeps a float64 copy (of a float array, an int array), and every op's result
    is a new array, x.T included: the caller changing its arrays later changes no Var."""
    p = Program()
    x = p.leaf(np.arange(6).reshape(2, 3))
    f = p.leaf(case_rng("public", "autodiff.owned").normal(size=(3, 2)))
    p.op("transpose", x, style="sugar")
    p.op("add", x, p.op("transpose", f), style="sugar")
    p.poke(x, 100)
    p.poke(f, 0.5)
    got = run_student(submission, p, values=True, dtypes=True, shares=True)
    want = run_torch(p)["values"]
    for leaf, delta in ((x, 100), (f, 0.5)):
        assert_close(got["values"][leaf], want[leaf], check=f"{p.describe(leaf)}, after the "
                     f"caller changed its array in place", inputs={f"v{leaf}": want[leaf]},
                     mistakes=mistakes.owned_value(want[leaf], delta))
    for i in p.var_slots():
        assert_true(got["dtypes"][i] == "float64", f"{p.describe(i)}: .value has dtype "
                    f"{got['dtypes'][i]}, expected float64 (Var(value) stores a float64 copy, "
                    f"even of an int array)")
    check_values(p, got["values"], want, "after Var(value) and x.T")
    if got["shares"]:
        i, j = got["shares"][0]
        raise Mismatch(f"{p.describe(j)}: its .value shares memory with the value of v{i}; a "
                       f"Var owns its value: every op's result is a new array, x.T included "
                       f"(numpy's .T is a view)")


OVERFLOW = ("sigmoid must not overflow for large |x|: exp(-x) overflows for x = -1e4; compute "
            "it from exp(-|x|), or with np.logaddexp")


@pytest.mark.question("3.2")
def test_sigmoid_at_extremes(submission):
    """sigmoid of numbers up to ±1e4 (module function and method) with numpy's overflow,
    invalid and divide warnings raised: torch's values."""
    p = Program()
    x = p.leaf(np.array([-1e4, -800.0, -30.0, -0.5, 0.0, 2.0, 30.0, 800.0, 1e4]))
    p.op("sigmoid", x)
    p.op("sigmoid", x, style="sugar")
    got = strict_result(lambda: run_student(submission, p, strict=True, values=True),
                        check="sigmoid of numbers up to ±1e4", hints={"overflow": OVERFLOW})
    check_values(p, got["values"], run_torch(p)["values"], "sigmoid at ±1e4")


# === Q3.3: back-propagation ===================================================================
ELEMENTWISE = ("add", "sub", "mul", "div")
SUMMED_BACK = ("the gradient reaching a broadcast operand (a 1-D bias, a 0-d Var) must be "
               "summed back to that operand's shape")


class Skip(Exception):
    """A mistaken backward pass that cannot run on this graph (shapes do not fit)."""


def linearised(p: Program) -> tuple[list, list]:
    """Torch's value of every slot, and for every op (its operands, broadcast to one shape for
    an elementwise op; its output; the Jacobians of the output w.r.t. each operand)."""
    values, jacobians = [], []
    for ins in p.ins:
        if ins[0] in ("leaf", "const"):
            values.append(torch.tensor(np.asarray(ins[1], dtype=np.float64)))
            jacobians.append(None)
        elif ins[0] == "op":
            name, kwargs = ins[1], ins[4]
            xs = [values[a] for a in ins[3]]
            if name in ELEMENTWISE:
                shape = torch.broadcast_shapes(*(x.shape for x in xs))
                xs = [x.expand(shape).clone() for x in xs]
            J = torch.autograd.functional.jacobian(lambda *z: torch_op(name, list(z), kwargs),
                                                   tuple(xs))
            values.append(torch_op(name, xs, kwargs))
            jacobians.append((tuple(xs), values[-1], J))
        else:
            values.append(None)
            jacobians.append(None)
    return values, jacobians


def simulate(p: Program, op: str = "", local=None, order=mistakes.Order(""),
             topo: list | None = None) -> list:
    """The gradients a mistaken backward pass gives (every ingredient from torch): each op's
    local gradients are products with torch's Jacobians, or `local`'s mistaken formula for `op`;
    `order` says how the pass itself goes wrong (autograder/mistakes/autodiff.py); the closures
    run in the topological order `topo` (yours, when it is one), else a depth-first one."""
    values, jacobians = linearised(p)
    out = p.ins[-1][1]
    if topo is None:
        topo, seen = [], set()

        def visit(i):
            if i not in seen:
                seen.add(i)
                for j in p.parents(i):
                    visit(j)
                topo.append(i)
        visit(out)
    grads = {i: torch.zeros_like(values[i]) for i in topo}
    grads[out] = {"one": torch.ones_like, "zero": torch.zeros_like,
                  "value": torch.clone}[order.seed](values[out])

    def run(k: int) -> None:
        if p.ins[k][0] != "op":
            return
        name, operands = p.ins[k][1], p.ins[k][3]
        xs, y, J = jacobians[k]
        g = grads[k]
        if tuple(g.shape) != tuple(y.shape):
            raise Skip()
        for role, a in enumerate(operands):
            if not p.var[a]:
                continue
            c = torch.tensordot(g, J[role], dims=g.dim()) if g.dim() else g * J[role]
            if local is not None and name == op and local.role == role:
                try:
                    c = torch.as_tensor(local.formula(g, c, xs + (y,)), dtype=torch.float64)
                except RuntimeError:
                    raise Skip() from None
            shape = tuple(values[a].shape)
            if tuple(c.shape) != shape:
                if order.wrong_axis and len(shape) == 1 and c.dim() == 2 \
                        and c.shape[0] == c.shape[1] == shape[0]:
                    c = c.sum(dim=1)
                else:
                    try:
                        c = c.sum_to_size(shape)
                    except RuntimeError:
                        raise Skip() from None
            overwrite = order.overwrite in ("*", name)
            grads[a] = c if overwrite else grads[a] + c

    if order.order == "recursive":
        def recurse(k: int) -> None:
            run(k)
            for parent in p.parents(k):
                recurse(parent)
        recurse(out)
    else:
        for k in (topo if order.order == "forward" else reversed(topo)):
            run(k)
    return [grads[i].numpy() if i in grads else None for i in range(len(p.ins))]


def reproduced(p: Program, got: list, want: list, topo=None) -> list[tuple[str, list]]:
    """The known mistakes whose whole backward pass (its closures in the order `topo`) gives
    your gradients on every node out depends on (and not torch's)."""
    ops = sorted({ins[1] for ins in p.ins if ins[0] == "op"})
    passes = [(local.hint, dict(op=name, local=local)) for name in ops
              for local in mistakes.LOCAL.get(name, ())]
    passes += [(order.hint, dict(order=order)) for order in mistakes.ORDER]
    passes += [(mistakes.overwrite(name).hint, dict(order=mistakes.overwrite(name))) for name in ops]
    reach = p.reachable(p.ins[-1][1])
    found = []
    for hint, how in passes:
        try:
            wrong = simulate(p, topo=topo, **how)
        except Skip:
            continue
        if all(_same(wrong[i], want[i]) for i in reach):
            continue
        if all(_same(got[i], wrong[i]) for i in reach):
            found.append((hint, wrong))
    return found


def _same(have, want) -> bool:
    return (have is not None and not isinstance(have, str) and want is not None
            and bool(matching_hints(have, {"": want})))


def broadcast_uses(p: Program, values: list) -> list[tuple[int, int, tuple, tuple]]:
    """(op slot, operand slot, operand shape, broadcast shape) of every broadcast Var operand."""
    found = []
    for k, ins in enumerate(p.ins):
        if ins[0] == "op" and ins[1] in ELEMENTWISE:
            shape = np.broadcast_shapes(*(np.shape(values[a]) for a in ins[3]))
            found += [(k, a, np.shape(values[a]), shape) for a in ins[3]
                      if p.var[a] and np.shape(values[a]) != shape]
    return found


def unreduced_broadcast(message: str, uses: list) -> bool:
    """Whether numpy's error says a broadcast operand's gradient kept the broadcast shape."""
    found = re.search(r"operand with shape \(([\d, ]*)\) doesn't match the broadcast shape "
                      r"\(([\d, ]*)\)", message)
    if not found:
        return False
    small, big = (tuple(int(n) for n in g.replace(" ", "").split(",") if n) for g in found.groups())
    return any(u[2] == small and u[3] == big for u in uses)


@functools.cache
def mlp_program() -> Program:
    """The Part 1 MLP in Vars: mean cross-entropy through exp, sum and log (kept (K, B) so that
    the (B,) log-sum-exp broadcasts over rows)."""
    rng = case_rng("public", "autodiff.mlp")
    B, D, H, K = 5, 4, 6, 3
    y = rng.integers(0, K, B)
    p = Program()
    x = p.const(rng.normal(size=(B, D)))
    W1, b1 = p.leaf(rng.normal(0, 0.5, (H, D))), p.leaf(rng.normal(0, 0.1, H))
    W2, b2 = p.leaf(rng.normal(0, 0.5, (K, H))), p.leaf(rng.normal(0, 0.1, K))
    h = p.op("tanh", p.op("add", p.op("matmul", x, p.op("transpose", W1)), b1))
    z = p.op("add", p.op("matmul", h, p.op("transpose", W2)), b2)           # (B, K)
    lse = p.op("log", p.op("sum", p.op("exp", z), axis=1))                    # (B,)
    logp = p.op("sub", p.op("transpose", z), lse)                             # (K, B)
    picked = p.op("sum", p.op("mul", logp, p.const(np.eye(K)[y].T)), axis=0)
    p.backward(p.op("neg", p.op("mean", picked)))
    return p


@functools.cache
def fan_out() -> Program:
    """x used by four ops, y = x·x + exp(x) − x / 2, then sigmoid(y) · relu(y); and exp(x),
    which out does not use (its .grad stays None)."""
    p = Program()
    x = p.leaf(case_rng("public", "autodiff.fan_out").normal(size=(3, 2)))
    y = p.op("sub", p.op("add", p.op("mul", x, x), p.op("exp", x)), p.op("div", x, p.const(2.0)))
    p.op("exp", x)
    p.backward(p.op("sum", p.op("mul", p.op("sigmoid", y), p.op("relu", y))))
    return p


@functools.cache
def kinks() -> Program:
    """Every elementwise op once, on Vars with exact zeros where relu is taken (relu'(0) = 0)."""
    rng = case_rng("public", "autodiff.kinks")
    p = Program()
    x = p.leaf(np.where(rng.random((3, 4)) < 0.3, 0.0, rng.normal(size=(3, 4))))
    w = p.leaf(rng.uniform(0.5, 2.0, (3, 4)))
    a = p.op("relu", x)
    b = p.op("div", p.op("log", w), p.op("add", w, p.const(1.0)))
    c = p.op("neg", p.op("sub", p.op("tanh", x), p.op("sigmoid", w)))
    p.backward(p.op("sum", p.op("mul", p.op("add", a, b), p.op("exp", c))))
    return p


@functools.cache
def square_matmul() -> Program:
    """A @ B with square Vars, A's transpose, a sum over an axis with keepdims, a mean."""
    rng = case_rng("public", "autodiff.matmul")
    p = Program()
    A, B = p.leaf(rng.normal(size=(3, 3))), p.leaf(rng.normal(size=(3, 3)))
    z = p.op("matmul", p.op("matmul", A, B), p.op("transpose", A), style="sugar")
    p.backward(p.op("mean", p.op("tanh", p.op("sum", z, axis=0, keepdims=True))))
    return p


GRAPHS = {"the expression (module functions)": lambda: expression("fn"),
          "the expression (operators and methods)": lambda: expression("sugar"),
          "x used four times": fan_out,
          "every elementwise op once, relu at exactly 0": kinks,
          "square matrices through matmul and a transpose": square_matmul,
          "the MLP of Part 1 with its cross-entropy": mlp_program}


@functools.cache
def graph_expected(name: str) -> dict:
    return run_torch(GRAPHS[name]())


def check_grads(submission, name: str, p: Program, want: dict) -> None:
    """.grad of every node out depends on = torch's, from out back to the leaves (the first
    mismatch is where the error starts); your Vars hold torch's forward values; a node out
    does not use keeps .grad None (or zeros)."""
    out = p.ins[-1][1]
    got = run_student(submission, p, forward_values=want["values"], grads=True, order=out)
    outcome = got["outcome"]
    if outcome is not None:
        summed = unreduced_broadcast(outcome["message"], broadcast_uses(p, want["values"]))
        raise Mismatch(f"{name}: v{out}.backward() raised {outcome['type']}: "
                       f"{outcome['message']}" + hint_line([SUMMED_BACK] if summed else []))
    reach = p.reachable(out)
    for i in reversed(p.var_slots()):
        have, where = got["grads"][i], f"{name}: .grad of {p.describe(i)}"
        if i not in reach:
            assert_true(have is None or (not isinstance(have, str) and not np.any(have)),
                        f"{where}: out does not depend on v{i}, so its .grad must stay None "
                        f"(backward visits out's graph only), got {_short(have)}")
            continue
        if have is not None and not isinstance(have, str) and \
                np.shape(have) != want["grads"][i].shape:
            spread = [u for u in broadcast_uses(p, want["values"])
                      if u[1] == i and u[3] == np.shape(have)]
            if spread:
                raise Mismatch(f"{where}: expected shape {want['grads'][i].shape}, got shape "
                               f"{np.shape(have)}, the shape v{i} was broadcast to in "
                               f"{p.texts[spread[0][0]]}" + hint_line([SUMMED_BACK]))
        try:
            assert_gradient(have, want["grads"][i], name=f"v{i}", check=where,
                            inputs={f"v{i}": want["values"][i]})
        except Mismatch:
            order = got["order"]      # your topological order, which your backward walks
            valid = isinstance(order, list) and sorted(order, key=str) == sorted(reach, key=str)
            known = reproduced(p, got["grads"], want["grads"], order if valid else None)
            assert_gradient(have, want["grads"][i], name=f"v{i}", check=where,
                            inputs={f"v{i}": want["values"][i]},
                            mistakes={hint: wrong[i] for hint, wrong in known})
            raise


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("name", list(GRAPHS))
def test_backward_matches_autograd(submission, name):
    check_grads(submission, name, GRAPHS[name](), graph_expected(name))


@pytest.mark.question("3.3", weight=0.5)
def test_backward_needs_a_single_element_out(submission):
    """backward on a (3, 4) Var raises (ValueError, as the docstring says) instead of seeding
    ones; checked with the gradients of the same graph from its 0-d out."""
    p = Program()
    x = p.leaf(case_rng("public", "autodiff.nonscalar").normal(size=(3, 4)))
    y = p.op("tanh", p.op("mul", x, p.const(2.0)))
    p.backward(p.op("sum", y))
    check_grads(submission, "a small graph", p, run_torch(p))
    got = run_student(submission, p, p.ins[:-1] + [["backward", y]])
    outcome = got["outcome"]
    assert_true(outcome is not None, f"v{y}.backward() on {p.describe(y)}, of shape (3, 4): "
                f"backward worked, expected ValueError (backward needs a single-element out: "
                f"∂out/∂node is defined for a number)")
    assert_true(outcome["type"] in ("ValueError", "RuntimeError") and not outcome["inplace"],
                f"v{y}.backward() on a Var of shape (3, 4): backward raised {outcome['type']}: "
                f"{outcome['message']}, expected ValueError")


# === Q3.4: saved values and in-place operations ================================================
@pytest.mark.question("3.4", weight=2)
def test_version_and_inplace_values(submission):
    """.version is 0 at creation and +1 per add_/mul_ on that Var only; add_ and mul_ change
    .value in place (a number, an array or a Var as the operand) and return the Var itself."""
    rng = case_rng("public", "autodiff.version")
    p = Program()
    x, w = p.leaf(rng.normal(size=(2, 3))), p.leaf(rng.normal(size=(2, 3)))
    y = p.op("mul", x, w)
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", x, p.const(np.full(3, 2.0)))
    p.inplace("add_", y, w)
    got = run_student(submission, p, values=True, versions=True, returns=True)
    adds, muls = ({i: sum(ins[:2] == ["inplace", kind] and ins[2] == i for ins in p.ins)
                   for i in p.var_slots()} for kind in ("add_", "mul_"))
    steps = p.listing()
    for i in p.var_slots():
        have, count = got["versions"][i], adds[i] + muls[i]
        if have == count:
            continue
        versions = {j: got["versions"][j] for j in p.var_slots()}
        hints = [hint for hint, wrong in (
            ("add_ and mul_ must add 1 to .version", {j: 0 for j in versions}),
            ("add_ must add 1 to .version", muls), ("mul_ must add 1 to .version", adds),
        ) if versions == wrong]
        raise Mismatch(f"after {steps}: .version of {p.describe(i)} is {have}, expected {count} "
                       f"(0 at creation, +1 for each add_ or mul_ called on it)" + hint_line(hints))
    want = run_torch(p)["values"]
    as_if = {name: run_torch(p, [(["const", 0.0] if not swap else ins[:1] + [swap.get(ins[1], ins[1])]
                                  + ins[2:]) if ins[0] == "inplace" else ins for ins in p.ins])["values"]
             for name, swap in (("none", {}), ("add", {"mul_": "add_"}), ("mul", {"add_": "mul_"}))}
    assert_close(got["values"][x], want[x], check=f"after {steps}: the value of v{x}",
                 inputs={f"v{x}": want[x]}, mistakes=mistakes.inplace_values(
                     want[x], as_if["none"][x], as_if["add"][x], as_if["mul"][x]))
    calls = [ins for ins in p.ins if ins[0] == "inplace"]
    wrong = [ins for ins, same in zip(calls, got["returns"]) if not same]
    assert_true(not wrong, f"after {steps}: v{wrong[0][2] if wrong else ''}."
                f"{wrong[0][1] if wrong else ''}(...) did not return the Var itself (add_ and "
                f"mul_ return self, so that calls can be chained)")


def _leaves(p: Program, rng, *shapes) -> list[int]:
    """Leaves of values in [0.5, 2] (log and div stay defined), signs mixed except for log/div."""
    return [p.leaf(rng.uniform(0.5, 2.0, shape) * (rng.choice([-1, 1], shape) if mixed else 1))
            for shape, mixed in shapes]


def unary(op: str, changed: str, change: str, arg: float):
    """out = sum(op(x)), then x ("in") or op(x) ("out") changed in place."""
    def build(p, rng):
        x, = _leaves(p, rng, ((3, 4), op != "log"))
        y = p.op(op, x)
        out = p.op("sum", y)
        p.inplace(change, y if changed == "out" else x, p.const(arg))
        p.backward(out)
    return build


def binary(op: str, changed: str, *, constant: str = "", change: str = "add_", arg: float = 1.0):
    """out = sum(op(a, b)), `constant` ("a" or "b") a constant array, then `changed` ("a", "b"
    or "out") changed in place."""
    def build(p, rng):
        shapes = {"a": (3, 4), "b": (4, 2) if op == "matmul" else (3, 4)}
        made = {}
        for side in "ab":
            value = rng.uniform(0.5, 2.0, shapes[side])
            made[side] = p.const(value) if side == constant else p.leaf(value)
        y = p.op(op, made["a"], made["b"])
        out = p.op("sum", y)
        p.inplace(change, y if changed == "out" else made[changed], p.const(arg))
        p.backward(out)
    return build


def restored(p, rng):
    """x on a grid of 1/8, so that x + 1 - 1 is x exactly: only the version tells."""
    x, w = p.leaf(np.round(rng.normal(0, 1, (3, 4)) * 8) / 8), p.leaf(rng.normal(0, 1, (3, 4)))
    out = p.op("sum", p.op("mul", x, w))
    p.inplace("add_", x, p.const(1.0))
    p.inplace("add_", x, p.const(-1.0))
    p.backward(out)


def var_operand_not_recorded(p, rng):
    x, w, x2, v = _leaves(p, rng, *[((3, 4), True)] * 4)
    p.inplace("add_", x, w)
    p.inplace("mul_", x2, v)
    p.backward(p.op("sum", p.op("add", p.op("exp", x), p.op("mul", x2, p.const(2.0)))))


def linear_ops_changed(p, rng):
    x, w, v = _leaves(p, rng, *[((3, 4), True)] * 3)
    a = p.op("add", x, w)
    b = p.op("sub", a, v)
    out = p.op("sum", p.op("neg", b))
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", w, p.const(2.0))
    p.inplace("add_", a, p.const(1.0))
    p.inplace("mul_", b, p.const(3.0))
    p.backward(out)


def changed_then_saved(p, rng):
    """x and w changed in place first, then x * w made: mul saves them at their new versions."""
    x, w = _leaves(p, rng, ((3, 4), True), ((3, 4), True))
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", w, p.const(2.0))
    p.backward(p.op("sum", p.op("mul", x, w)))


def constants_changed_by_caller(p, rng):
    x, x2 = _leaves(p, rng, ((3, 4), True), ((3, 4), True))
    c1, c2 = p.const(rng.uniform(0.5, 2.0, (3, 4))), p.const(rng.uniform(0.5, 2.0, (3, 4)))
    out = p.op("add", p.op("sum", p.op("mul", c1, x)), p.op("sum", p.op("div", x2, c2)))
    p.poke(c1, 3.0)
    p.poke(c2, 3.0)
    p.backward(out)


#: name -> (program builder, why torch raises / works: the rule your code must follow)
RAISES = {
    "y = exp(x) changed": (unary("exp", "out", "add_", 1.0), "exp keeps its output (exp' = exp)"),
    "y = tanh(x) changed": (unary("tanh", "out", "mul_", 0.5),
                            "tanh keeps its output (tanh' = 1 - tanh²)"),
    "y = sigmoid(x) changed": (unary("sigmoid", "out", "add_", 0.5),
                               "sigmoid keeps its output (σ' = σ(1 - σ))"),
    "y = relu(x) changed": (unary("relu", "out", "mul_", 2.0),
                            "relu keeps its output (its mask is out > 0)"),
    "log(x): x changed": (unary("log", "in", "add_", 1.0), "log keeps its input (log' = 1/x)"),
    "x * w: x changed": (binary("mul", "a"), "mul of two Vars keeps both"),
    "x * w: w changed": (binary("mul", "b", change="mul_", arg=2.0), "mul of two Vars keeps both"),
    "A @ B: B changed": (binary("matmul", "b"), "matmul of two Vars keeps both"),
    "x / w: divisor w changed": (binary("div", "b"), "div keeps its divisor when it is a Var"),
    "x * w: x.add_(1) then x.add_(-1)": (
        restored, "mul keeps x; its value is back, but its version moved on twice: compare "
                  "versions, not values"),
}
WORKS = {
    "exp(x): x changed": (unary("exp", "in", "add_", 1.0), "exp keeps its output, not its input"),
    "tanh(x): x changed": (unary("tanh", "in", "mul_", 2.0),
                           "tanh keeps its output, not its input"),
    "sigmoid(x): x changed": (unary("sigmoid", "in", "add_", -1.0),
                              "sigmoid keeps its output, not its input"),
    "relu(x): x changed": (unary("relu", "in", "mul_", 3.0),
                           "relu keeps its output, not its input"),
    "log(x): the output changed": (unary("log", "out", "add_", 1.0),
                                   "log keeps its input, not its output"),
    "x * c (array constant): x changed": (binary("mul", "a", constant="b", change="mul_", arg=3.0),
                                          "mul with a constant keeps no Var"),
    "x * w: the output changed": (binary("mul", "out"), "mul does not keep its output"),
    "A @ C (constant C): A changed": (binary("matmul", "a", constant="b"),
                                      "matmul with a constant operand keeps no Var"),
    "x / c (constant divisor): x changed": (binary("div", "a", constant="b"),
                                            "div by a constant keeps no Var"),
    "add_/mul_ with a Var operand are not recorded": (
        var_operand_not_recorded, "add_ and mul_ happen outside the graph: their operand gets "
                                  "no gradient"),
    "add, sub, neg: operands and results changed": (linear_ops_changed,
                                                    "add, sub and neg keep nothing"),
    "constants changed by the caller after the op": (constants_changed_by_caller,
                                                     "an op keeps a copy of a constant operand"),
    "x and w changed, then x * w made": (
        changed_then_saved, "mul saved x and w at the versions they had when it was made, "
                            "after their changes"),
}
PAIRS = [("y = exp(x) changed", "exp(x): x changed"),
         ("y = tanh(x) changed", "tanh(x): x changed"),
         ("y = sigmoid(x) changed", "sigmoid(x): x changed"),
         ("y = relu(x) changed", "relu(x): x changed"),
         ("log(x): x changed", "log(x): the output changed"),
         ("x * w: x changed", "x * c (array constant): x changed"),
         ("x * w: w changed", "x * w: the output changed"),
         ("A @ B: B changed", "A @ C (constant C): A changed"),
         ("x / w: divisor w changed", "x / c (constant divisor): x changed"),
         ("x * w: x.add_(1) then x.add_(-1)", "add_/mul_ with a Var operand are not recorded"),
         ("y = exp(x) changed", "add, sub, neg: operands and results changed"),
         ("x * w: x changed", "constants changed by the caller after the op"),
         ("x * w: w changed", "x and w changed, then x * w made")]


@functools.cache
def scenario(name: str) -> tuple[Program, str, dict]:
    """(program, why, torch's run); torch raises on every RAISES scenario and works on every
    WORKS one, or this check is wrong."""
    build, why = RAISES.get(name) or WORKS[name]
    p = Program()
    build(p, case_rng("public", "autodiff.scenario", name))
    ref = run_torch(p)
    if ref["outcome"] != ("inplace" if name in RAISES else None):
        raise RuntimeError(f"this check is wrong: torch gives {ref['outcome']!r} on {name!r}")
    return p, why, ref


def check_raises(submission, name: str) -> None:
    p, why, _ = scenario(name)
    got = run_student(submission, p, versions=True)
    outcome, check = got["outcome"], p.listing()
    if outcome is None:
        stale = [i for i in p.targets() if got["versions"][i] == 0]
        ops = sorted({ins[1] for ins in p.ins if ins[0] == "inplace" and stale
                      and ins[2] == stale[0]})
        hint = [f"{' and '.join(ops)} must add 1 to .version (v{stale[0]} is still at version "
                f"0)"] if stale else []
        raise Mismatch(f"{check}: backward worked, expected InplaceError, as torch raises "
                       f"'modified by an inplace operation': {why}. An op saves the Var itself "
                       f"with its version (a private copy never sees the change), and backward "
                       f"compares versions when it reads it" + hint_line(hint))
    assert_true(outcome["inplace"], f"{check}: backward raised {outcome['type']}: "
                f"{outcome['message']}, expected the module's InplaceError ({why})")
    assert_true(outcome["runtime"], f"{check}: InplaceError was raised, but it is not a "
                f"RuntimeError: class InplaceError(RuntimeError)")


def check_works(submission, name: str) -> None:
    p, why, want = scenario(name)
    got = run_student(submission, p, values=True, grads=True)
    check, outcome = p.listing(), got["outcome"]
    if outcome is not None and outcome["inplace"]:
        raise Mismatch(f"{check}: backward raised {outcome['type']}: {outcome['message']}; "
                       f"expected it to work, as torch does: {why} (an op saves only what its "
                       f"backward formula reads)")
    for i in p.targets():
        assert_close(got["values"][i], want["values"][i], check=f"{check}: the value of v{i}",
                     inputs={f"v{i}": want["values"][i]})
    operands = {ins[3] for ins in p.ins if ins[0] == "inplace" and p.var[ins[3]]}
    for i in operands - p.reachable(p.ins[-1][1]):
        have = got["grads"][i]
        assert_true(have is None or (not isinstance(have, str) and not np.any(have)),
                    f"{check}: v{i} received a gradient, {_short(have)}, but it was only the "
                    f"operand of add_/mul_, which are not recorded in the graph")
    if any(ins[0] == "poke" for ins in p.ins):
        untouched = run_student(submission, p, p.without(("poke",)), grads=True)
        for i in p.var_slots():
            mine, before = got["grads"][i], untouched["grads"][i]
            same = (mine is None and before is None) or _same(mine, before)
            assert_true(same, f"{check}: .grad of {p.describe(i)} changed when the caller "
                        f"changed the constant's array after the op ({_short(mine)} instead of "
                        f"{_short(before)} without that change): an op keeps a copy of a "
                        f"constant operand")


@pytest.mark.question("3.4", weight=6)
@pytest.mark.parametrize("pair", range(len(PAIRS)), ids=[f"{r} | {w}" for r, w in PAIRS])
def test_backward_raises_exactly_where_torch_raises(submission, pair):
    """backward raises the module's InplaceError (a RuntimeError) where torch raises 'modified
    by an inplace operation' (a Var an op saved was changed after it was saved), and works on a
    like graph where torch works, leaving the values add_/mul_ made."""
    raises, works = PAIRS[pair]
    check_raises(submission, raises)
    check_works(submission, works)
