"""Q3.2–Q3.4 — a computation graph of Vars, reverse mode, saved values and in-place changes.

Every test runs a program (autodiff_graphs builds them; the probe `autodiff_program` documents
the language) with the student's Var in the child, and the same program here with torch
(float64 leaves that require grad, retain_grad on every op result, constants as tensors that do
not require grad, in-place changes under no_grad, x.T as a copy since a Var owns its value).
Only the contract's API is used: Var(value), .value, .grad, .parents, .version, the module's op
functions, operators and methods, topological_order, backward, add_, mul_ and InplaceError.

What each question's tests depend on (rubric.toml says it too, `uses`):
- Q3.2 tests never run backward, add_ or mul_, and never read .grad or .version.
- Q3.3 tests run backward through the student's own ops (their backward closures live there)
  with the kit's topological order (a stand-in), and the probe writes the kit's forward values
  into every Var before backward: a wrong forward formula of Q3.2 does not change the
  gradients graded here. They never call add_/mul_ nor read .version.
- Q3.4 tests compare where backward raises with where torch raises, in pairs (a scenario where
  torch raises, one where it works): a backward that never raises, or always does, earns
  nothing. They compare no gradient with torch's, so a Q3.3 bug (gradients overwritten, the
  wrong order) does not cost here; only the values add_/mul_ leave and, for a constant the
  caller changes, the student's own gradients with and without that change.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autograder.checks import (Mismatch, SuiteError, assert_close, assert_gradient,
                               assert_true, case_rng, hint_line, matching_hints)
from autograder.mistakes import autodiff as mistakes
from autograder.probes.autodiff_ops import ELEMENTWISE, OPS, torch_forward
from autograder.probes.standins import topological_order as kit_topological_order
from autograder.references import reference
from autograder.suites import autodiff_graphs as graphs
from autograder.suites.autodiff_graphs import Program, graph

MODULE = "autodiff"
PROBE = "autodiff_program"


# --- the reference: the same program in torch ------------------------------------------------
def run_torch(p: Program, instructions: list | None = None) -> dict:
    """Values (after the whole program), grads and backward's outcome ("inplace" when torch
    raises 'modified by an inplace operation'), computed by torch."""
    slots: list = []
    outcome = "not run"
    for ins in instructions or p.ins:
        kind, made = ins[0], None
        if kind == "leaf":
            made = torch.tensor(np.asarray(ins[1], dtype=np.float64), requires_grad=True)
        elif kind == "const":
            made = torch.tensor(np.asarray(ins[1], dtype=np.float64))
        elif kind == "op":
            made = torch_forward(ins[1], [slots[i] for i in ins[3]], ins[4])
            if made.requires_grad:
                made.retain_grad()
        elif kind == "inplace":
            with torch.no_grad():
                getattr(slots[ins[2]], ins[1])(slots[ins[3]])
        elif kind == "backward":
            try:
                slots[ins[1]].backward()
                outcome = None
            except RuntimeError as error:
                if "modified by an inplace operation" not in str(error):
                    raise
                outcome = "inplace"
        slots.append(made)
    return {"values": [t.detach().numpy().copy() if p.var[i] else None
                       for i, t in enumerate(slots)],
            "grads": [t.grad.numpy().copy() if p.var[i] and t.grad is not None else None
                      for i, t in enumerate(slots)],
            "outcome": outcome}


@reference
def expected(kind: str, case: int) -> dict:
    return run_torch(graph(kind, case))


def run_student(submission, p: Program, instructions: list | None = None, *,
                kit_values: bool = False, **report) -> dict:
    """The probe's report on the program run with the student's Var (in the child)."""
    return submission.probe(PROBE, instructions or p.ins, report=report, kit_values=kit_values,
                            module=MODULE)


# --- Q3.2: the graph ---------------------------------------------------------------------------
def check_values(p: Program, got: list, want: list, label: str, nodes=None) -> None:
    """Every Var's value, in creation order: the first mismatch is where the error starts."""
    for i in (p.var_slots() if nodes is None else nodes):
        ins = p.ins[i]
        wrong = {}
        if ins[0] == "op":
            name, args, kwargs = ins[1], ins[3], ins[4]
            wrong = mistakes.forward(name, kwargs, want[i], not p.var[args[0]])
            if name == "mean":
                wrong.update(mistakes.mean_as_sum(want[i], p.vals[args[0]].size / want[i].size))
        assert_close(got[i], want[i], check=f"{label}: the value of {p.describe(i)}",
                     inputs=p.operand_inputs(i, want), mistakes=wrong)


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_values_module_functions(submission, case):
    """Forward values of every node of random DAGs written with add(a, b), exp(x), sum(x, ...).
    Fails: a wrong forward formula (sigmoid's sign, mean as a sum, an axis or keepdims
    ignored), a 1-D bias or a 0-d Var that does not broadcast, an op that does not return a Var."""
    p = graph("values_fn", case)
    got = run_student(submission, p, p.without_backward(), values=True)
    check_values(p, got["values"], expected("values_fn", case)["values"],
                 f"random graph {case} (module functions)")


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_values_operators_and_methods(submission, case):
    """The same with operators (constants on either side: 2.0 - x, array * x), x.exp(), x.T.
    Fails: a reflected operator computing x - c for c - x (or x / c for c / x); numpy taking over
    `array + var` (no __array_ufunc__ = None); a method or operator missing."""
    p = graph("values_sugar", case)
    got = run_student(submission, p, p.without_backward(), values=True)
    check_values(p, got["values"], expected("values_sugar", case)["values"],
                 f"random graph {case} (operators, reflected operators and methods)")


def _names(ids) -> str:
    if not isinstance(ids, list):
        return str(ids)
    shown = [f"v{j}" if isinstance(j, int) and j >= 0 else "a Var not in the program" if j == -1
             else str(j) for j in ids]
    return "(" + ", ".join(shown) + ("," if len(shown) == 1 else "") + ")"


@pytest.mark.question("3.2", weight=2)
@pytest.mark.parametrize("case", range(3))
def test_parents(submission, case):
    """.parents holds the Var operands in argument order: x * x has (x, x), constants none. Paid
    only with the values of the same graph. Fails: parents deduplicated, reversed, holding
    constants or hidden intermediate Vars (sub written as add(a, neg(b)))."""
    p = graph("structure", case)
    got = run_student(submission, p, p.without_backward(), values=True, parents=True)
    label = f"random graph {case}"
    check_values(p, got["values"], expected("structure", case)["values"], label)
    for i in p.var_slots():
        want, have = p.parents[i], got["parents"][i]
        if have == want:
            continue
        kinds = [a if p.var[a] else f"<{type(p.ins[a][1]).__name__}>" for a in p.operands(i)]
        wrong = mistakes.parents(want, kinds)
        hints = [h for h, value in wrong.items() if value == have]
        hidden = [j for j, a in enumerate(want) if isinstance(have, list) and len(have) == len(want)
                  and have[:j] + have[j + 1:] == want[:j] + want[j + 1:] and have[j] == -1]
        if hidden:
            hints.append("parents are the operand Vars themselves, not copies or hidden "
                         "intermediate Vars (write each op directly, e.g. sub without "
                         "add(a, neg(b)))")
        raise Mismatch(f"{label}: .parents of {p.describe(i)}\n  expected: {_names(want)}   "
                       f"got: {_names(have)}" + hint_line(hints))


#: (graph kind, case, out: None for the program's own, label)
TOPOLOGY_CASES = [("structure", 0, None, "random graph 0"), ("structure", 1, None, "random graph 1"),
                  ("structure", 2, None, "random graph 2"),
                  ("ladder", 0, None, "a ladder (every node used twice, skip connections)"),
                  ("structure", 0, 0, "a leaf as out")]


@pytest.mark.question("3.2", weight=3)
@pytest.mark.parametrize("case", range(5))
def test_topological_order(submission, case):
    """Every node out depends on exactly once, each after all its parents, out last; any valid
    order is accepted. Paid only with the values of the same graph. Fails: duplicates (no
    visited set), nodes told apart by value (equal leaves collapse), leaves left out, nodes out
    does not depend on included, parents after their children, the order reversed."""
    kind, number, out, label = TOPOLOGY_CASES[case]
    p = graph(kind, number)
    out = p.out() if out is None else out
    got = run_student(submission, p, p.without_backward(), values=True, order=out)
    check_values(p, got["values"], expected(kind, number)["values"], label)
    order = got["order"]
    check = f"topological_order(v{out}) on {label}"
    reach = p.reachable(out)
    assert_true(isinstance(order, list) and all(isinstance(j, int) and j >= 0 for j in order),
                f"{check}: expected a list of the graph's Vars (the nodes themselves), got "
                f"{_short(order)}")
    counts = Counter(order)
    repeated = sorted(j for j, n in counts.items() if n > 1)
    assert_true(not repeated, f"{check}: v{repeated[0] if repeated else ''} is listed "
                f"{counts[repeated[0]] if repeated else 0} times; every node must be listed "
                f"once, also a node shared by several ops (mark nodes as visited, by identity)")
    missing, extra = sorted(reach - set(order)), sorted(set(order) - reach)
    if missing:
        twins = [j for j in missing if any(np.array_equal(p.vals[j], p.vals[k]) and j != k
                                           for k in order)]
        hint = ("two different Vars with equal values are two nodes: tell nodes apart by "
                "identity (id), never by value" if twins and len(twins) == len(missing) else "")
        raise Mismatch(f"{check}: {len(missing)} of the {len(reach)} nodes are missing, e.g. "
                       f"{p.describe(missing[0])}" + hint_line([hint] if hint else []))
    assert_true(not extra, f"{check}: lists {p.describe(extra[0]) if extra else ''}, which out "
                f"does not depend on (only nodes reachable from out through .parents belong "
                f"to its graph)")
    position = {j: n for n, j in enumerate(order)}
    for j in order:
        late = [a for a in p.parents[j] if position[a] > position[j]]
        if late:
            backwards = all(position[a] > position[c] for c in order for a in p.parents[c])
            raise Mismatch(f"{check}: v{late[0]} comes after {p.texts[j]}, which uses it"
                           + hint_line(["the order is reversed: parents first, out last"]
                                       if backwards else []))
    assert_true(order[-1] == out, f"{check}: the last node is v{order[-1]}, not out (v{out}), "
                f"which depends on every other node")


def _short(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    text = repr(x)
    return text if len(text) < 80 else text[:77] + "..."


@reference
def ownership_expected(case: int) -> list:
    return run_torch(graphs.ownership_program(case)[0])["values"]


@pytest.mark.question("3.2", weight=1)
@pytest.mark.parametrize("case", range(2))
def test_var_owns_its_value(submission, case):
    """Var(value) copies value as float64; no two Vars share memory (x.T is a new array).
    Fails: Var(value) keeping the caller's array (np.asarray), x.T a view of x's value, an int
    input kept as an int array."""
    p, sourced = graphs.ownership_program(case)
    got = run_student(submission, p, values=True, dtypes=True, shares=True)
    want = ownership_expected(case)
    for i in sourced:
        delta = next(ins[2] for ins in p.ins if ins[0] == "poke" and ins[1] == i)
        assert_close(got["values"][i], want[i], check=f"{p.describe(i)}, after the caller "
                     f"changed its array in place", inputs={f"v{i}": want[i]},
                     mistakes=mistakes.owned_value(want[i], delta))
    check_values(p, got["values"], want, "after Var(value) and x.T",
                 nodes=[i for i in p.var_slots() if i not in sourced])
    for i in p.var_slots():
        assert_true(got["dtypes"][i] == "float64",
                    f"{p.describe(i)}: .value has dtype {got['dtypes'][i]}, expected float64 "
                    f"(Var(value) stores a float64 copy, even of an int array or a number)")
    if got["shares"]:
        i, j = got["shares"][0]
        raise Mismatch(f"{p.describe(j)}: its .value shares memory with the value of v{i}; a "
                       f"Var owns its value: every op's result is a new array, x.T included "
                       f"(numpy's .T is a view)")


# --- Q3.3: back-propagation --------------------------------------------------------------------
class _Skip(Exception):
    """A mistaken backward pass that cannot run on this graph (shapes do not fit)."""


def simulate(kind: str, case: int, op: str = "", local: mistakes.Local | None = None,
             order: mistakes.Order = mistakes.Order("")) -> list:
    """The gradients a mistaken backward pass gives on graph (kind, case), every ingredient
    from torch: each op's local gradients are products with torch's Jacobians (or `local`'s
    mistaken formula on torch tensors, for `op`), the closures run in the kit's topological
    order (the stand-in the student's backward walks), and `order` says how the pass itself
    goes wrong."""
    p = graph(kind, case)
    values, jacobians = _linearised(kind, case)
    nodes = [SimpleNamespace(slot=i, parents=()) for i in range(len(p.ins))]
    for node in nodes:
        node.parents = tuple(nodes[j] for j in p.parents[node.slot])
    out = p.out()
    topo = [n.slot for n in kit_topological_order(nodes[out])]
    grads = {i: torch.zeros_like(values[i]) for i in topo}
    grads[out] = {"one": torch.ones_like, "zero": torch.zeros_like,
                  "value": torch.clone}[order.seed](values[out])

    def run(k: int) -> None:
        if p.ins[k][0] != "op":
            return
        overwrite = order.overwrite in ("*", p.ins[k][1])
        for slot, c in _contributions(p, values, jacobians[k], k, grads[k], op, local,
                                      order.wrong_axis):
            grads[slot] = c if overwrite else grads[slot] + c

    if order.order == "recursive":
        visits = [0]

        def visit(k: int) -> None:
            visits[0] += 1
            if visits[0] > 2000:   # a deep graph: exponentially many paths
                raise _Skip()
            run(k)
            for parent in p.parents[k]:
                visit(parent)
        visit(out)
    else:
        for k in (topo if order.order == "forward" else reversed(topo)):
            run(k)
    return [grads[i].numpy().copy() if i in grads else None for i in range(len(p.ins))]


@functools.cache
def _linearised(kind: str, case: int) -> tuple[list, list]:
    """Torch's value of every slot, and for every op node (operands broadcast to a common shape
    for elementwise ops, the operands, their output, the Jacobians of the output)."""
    p = graph(kind, case)
    values: list = []
    jacobians: list = []
    for ins in p.ins:
        if ins[0] in ("leaf", "const"):
            values.append(torch.tensor(np.asarray(ins[1], dtype=np.float64)))
            jacobians.append(None)
            continue
        if ins[0] != "op":
            values.append(None)
            jacobians.append(None)
            continue
        name, args, kwargs = ins[1], ins[3], ins[4]
        xs = [values[a] for a in args]
        if name in ELEMENTWISE:
            shape = torch.broadcast_shapes(*(x.shape for x in xs))
            xs = [x.expand(shape).clone() for x in xs]
        y = torch_forward(name, xs, kwargs)
        J = torch.autograd.functional.jacobian(lambda *z: torch_forward(name, list(z), kwargs),
                                               tuple(xs))
        values.append(y)
        jacobians.append((tuple(xs), y, J))
    return values, jacobians


def _contributions(p: Program, values: list, linear, k: int, g, op: str, local,
                   wrong_axis: bool):
    """(operand slot, gradient it receives) for node k's backward, given its gradient g."""
    name, args = p.ins[k][1], p.ins[k][3]
    xs, y, J = linear
    if tuple(g.shape) != tuple(y.shape):
        raise _Skip()
    found = []
    for role, a in enumerate(args):
        if not p.var[a]:
            continue
        c = torch.tensordot(g, J[role], dims=g.dim()) if g.dim() else g * J[role]
        if local is not None and name == op and local.role == role:
            try:
                c = torch.as_tensor(local.formula(g, c, xs + (y,)), dtype=torch.float64)
            except RuntimeError:   # shapes that do not multiply: not a mistake on this graph
                raise _Skip() from None
        found.append((a, _summed_back(c, tuple(values[a].shape), wrong_axis)))
    return found


def _summed_back(c, shape: tuple, wrong_axis: bool):
    if tuple(c.shape) == shape:
        return c
    if wrong_axis and len(shape) == 1 and c.dim() == 2 and c.shape[0] == c.shape[1] == shape[0]:
        return c.sum(dim=1)
    try:
        return c.sum_to_size(shape)
    except RuntimeError:
        raise _Skip() from None


def mistaken_passes(p: Program) -> list[tuple[str, tuple]]:
    """(hint, key) of every mistake that applies to the graph: key names it for `mistaken`."""
    ops = {ins[1] for ins in p.ins if ins[0] == "op"}
    found = [(local.hint, ("local", name, n)) for name in sorted(ops)
             for n, local in enumerate(mistakes.LOCAL.get(name, ()))]
    found += [(order.hint, ("order", n)) for n, order in enumerate(mistakes.ORDER)]
    found += [(mistakes.overwrite(name).hint, ("overwrite", name)) for name in sorted(ops)]
    return found


@reference
def mistaken(kind: str, case: int, key: tuple):
    """The gradients of graph (kind, case) under the mistake `key`, or None if it cannot run."""
    try:
        if key[0] == "local":
            return simulate(kind, case, key[1], mistakes.LOCAL[key[1]][key[2]])
        if key[0] == "order":
            return simulate(kind, case, order=mistakes.ORDER[key[1]])
        return simulate(kind, case, order=mistakes.overwrite(key[1]))
    except _Skip:
        return None


def reproduced(kind: str, case: int, got: list) -> list[tuple[str, list]]:
    """The mistakes whose whole backward pass gives the student's gradients on every node out
    depends on (and not torch's)."""
    p = graph(kind, case)
    reach = p.reachable(p.out())
    want = expected(kind, case)["grads"]
    found = []
    for hint, key in mistaken_passes(p):
        wrong = mistaken(kind, case, key)
        if wrong is None or all(_same(wrong[i], want[i]) for i in reach):
            continue
        if all(_same(got[i], wrong[i]) for i in reach):
            found.append((hint, wrong))
    return found


def _same(have, want) -> bool:
    return (have is not None and not isinstance(have, str) and want is not None
            and bool(matching_hints(have, {"": want})))


def _equal(a, b) -> bool:
    """The student's own two results agree (both None, or close)."""
    return (a is None and b is None) or _same(a, b)


def broadcast_uses(p: Program) -> list[tuple[int, int, tuple, tuple]]:
    """(op slot, operand slot, operand shape, broadcast shape) of every broadcast Var operand."""
    found = []
    for k, ins in enumerate(p.ins):
        if ins[0] == "op" and ins[1] in ELEMENTWISE:
            shape = np.broadcast_shapes(*(p.vals[a].shape for a in ins[3]))
            found += [(k, a, p.vals[a].shape, shape) for a in ins[3]
                      if p.var[a] and p.vals[a].shape != shape]
    return found


def _unreduced_broadcast(message: str, uses: list) -> bool:
    """Whether numpy's error says a broadcast operand's gradient kept the broadcast shape, e.g.
    'non-broadcastable output operand with shape (4,) doesn't match the broadcast shape (3,4)'."""
    found = re.search(r"operand with shape \(([\d, ]*)\) doesn't match the broadcast shape "
                      r"\(([\d, ]*)\)", message)
    if not found:
        return False
    small, big = (tuple(int(n) for n in g.replace(" ", "").split(",") if n) for g in found.groups())
    return any(u[2] == small and u[3] == big for u in uses)


SUMMED_BACK = ("the gradient reaching a broadcast operand (a 1-D bias, a 0-d Var) must be "
               "summed back to that operand's shape")


def check_grads(submission, kind: str, case: int, label: str) -> None:
    """.grad of every node of out's graph, from out back to the leaves (so the first mismatch is
    where the error starts); nodes out does not depend on keep None (or zeros)."""
    p = graph(kind, case)
    got = run_student(submission, p, kit_values=True, grads=True)
    want = expected(kind, case)
    outcome = got["outcome"]
    if outcome is not None:
        summed = _unreduced_broadcast(str(outcome.get("message", "")), broadcast_uses(p))
        raise Mismatch(f"{label}: out.backward() raised {outcome['type']}: "
                       f"{outcome['message']}" + hint_line([SUMMED_BACK] if summed else []))
    reach = p.reachable(p.out())
    for i in reversed(p.var_slots()):
        have, where = got["grads"][i], f"{label}: .grad of {p.describe(i)}"
        if i not in reach:
            assert_true(have is None or (not isinstance(have, str) and not np.any(have)),
                        f"{where}: out does not depend on v{i}, so its .grad must stay None "
                        f"(backward visits out's graph only), got {_short(have)}")
            continue
        if have is not None and not isinstance(have, str) and np.shape(have) != want["grads"][i].shape:
            spread = [u for u in broadcast_uses(p) if u[1] == i and u[3] == np.shape(have)]
            if spread:
                raise Mismatch(f"{where}: expected shape {want['grads'][i].shape}, got shape "
                               f"{np.shape(have)}, the shape v{i} was broadcast to in "
                               f"{p.texts[spread[0][0]]}" + hint_line([SUMMED_BACK]))
        try:
            assert_gradient(have, want["grads"][i], name=f"v{i}", check=where,
                            inputs={f"v{i}": want["values"][i]})
        except Mismatch:
            known = reproduced(kind, case, got["grads"])
            assert_gradient(have, want["grads"][i], name=f"v{i}", check=where,
                            inputs={f"v{i}": want["values"][i]},
                            mistakes=[(hint, wrong[i]) for hint, wrong in known])
            raise


@pytest.mark.question("3.3", weight=3)
@pytest.mark.parametrize("case", range(4))
def test_grads_elementwise_graphs(submission, case):
    """Elementwise DAGs with heavy fan-out (x * x, a node feeding several ops). Fails:
    gradients overwritten (=) instead of accumulated (+=); a wrong sign or local derivative in
    one op's backward; nodes processed in forward order, or a naive recursion that passes a
    node's gradient on once per path; out.grad not seeded with 1."""
    check_grads(submission, "elementwise", case, f"random elementwise graph {case}")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_grads_broadcast(submission, case):
    """A 1-D bias over the rows of a 2-D Var, 0-d Vars (x - x.mean(), s * x), number constants.
    Fails: the gradient of a broadcast operand not summed back to its shape, or summed over the
    wrong axis; mean's gradient not divided by the count."""
    check_grads(submission, "broadcast", case, f"random graph {case} with broadcasting")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("case", range(4))
def test_grads_matrix_ops(submission, case):
    """matmul (with Var or constant operands), transpose, sum/mean over an axis, keepdims.
    Fails: matmul's or transpose's backward with a transpose missing or extra; a reduction's
    gradient not expanded back over the reduced axis."""
    check_grads(submission, "matrix", case, f"random graph {case} with matmul and reductions")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_grads_mlp(submission, case):
    """The Part 1 MLP written in Vars: every intermediate's gradient and the four parameters'."""
    check_grads(submission, "mlp", case,
                f"the MLP in Vars (tanh hidden layer, log-softmax, mean NLL), case {case}")


@pytest.mark.question("3.3", weight=2)
@pytest.mark.parametrize("kind", ["ladder", "unreachable", "kinks"])
def test_grads_deep_partial_and_local(submission, kind):
    """A deep ladder (each node used twice, skip connections); a graph with a node out does not
    depend on (its .grad stays None); each op's local derivative once, relu at exactly 0.
    Fails: backward visiting nodes outside out's graph; tanh' or sigmoid' read from the input;
    relu' = 1 at 0; log's or div's signs."""
    check_grads(submission, kind, 0, {
        "ladder": "a 12-step ladder x_{k+1} = f(x_k) + g(x_{k-1})",
        "unreachable": "a graph with a node out does not use",
        "kinks": "a graph with every elementwise op once, relu at 0"}[kind])


# --- Q3.4: saved values and in-place operations ------------------------------------------------
@reference
def versions_expected(case: int, rewrite: str) -> list:
    """Values after version_program(case), with add_/mul_ as written ("") or rewritten:
    "none" (left out), "add" (mul_ done as add_), "mul" (add_ done as mul_)."""
    p = graphs.version_program(case)
    swap = {"none": {}, "add": {"mul_": "add_"}, "mul": {"add_": "mul_"}, "": None}[rewrite]
    instructions = p.ins if swap is None else [
        (["const", 0.0] if not swap else ins[:1] + [swap.get(ins[1], ins[1])] + ins[2:])
        if ins[0] == "inplace" else ins for ins in p.ins]
    return run_torch(p, instructions)["values"]


@pytest.mark.question("3.4", weight=2)
@pytest.mark.parametrize("case", range(2))
def test_version_and_inplace_values(submission, case):
    """version is 0 at creation, +1 per add_/mul_ on that Var only; values change in place.
    Case 1 also passes Vars as the other operand. Fails: add_/mul_ not adding 1 to .version,
    bumping another Var's version, not changing .value in place, add_ and mul_ swapped."""
    p = graphs.version_program(case)
    got = run_student(submission, p, values=True, versions=True)
    adds, muls = ({i: sum(1 for ins in p.ins if ins[:2] == ["inplace", kind] and ins[2] == i)
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
    want = versions_expected(case, "")
    for i in p.targets():
        assert_close(got["values"][i], want[i], check=f"after {steps}: the value of v{i}",
                     inputs={f"v{i}": want[i]}, mistakes=mistakes.inplace_values(
                         want[i], *(versions_expected(case, r)[i] for r in ("none", "add", "mul"))))


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


def _binary_changed(op, changed, *, left=S34, right=S34, change="add_", arg=1.0,
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
        z = p.op(op, a, b)
        out = p.op("sum", z)
        p.inplace(change, {"a": a, "b": b, "out": z}[changed], p.const(arg))
        p.backward(out)
    return build


def _square(p, rng):
    x, = _leaves(p, rng, S34)
    out = p.op("sum", p.op("mul", x, x))
    p.inplace("add_", x, p.const(0.5))
    p.backward(out)


def _chain_changed_before_use(p, rng):
    x, = _leaves(p, rng, S34)
    y = p.op("exp", x)
    p.inplace("add_", y, p.const(1.0))
    p.backward(p.op("sum", p.op("log", y)))


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
    out = p.op("sum", p.op("neg", b))
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", w, p.const(2.0))
    p.inplace("add_", v, p.const(rng.normal(0, 1, 4)))
    p.inplace("add_", a, p.const(1.0))
    p.inplace("mul_", b, p.const(3.0))
    p.backward(out)


def _reductions_changed(p, rng):
    x, x2, x3, x4 = _leaves(p, rng, S34, S34, S34, S34)
    s, m = p.op("sum", x, axis=0), p.op("mean", x2, axis=1)
    t, t4 = p.op("transpose", x3), p.op("transpose", x4)
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
    p.backward(p.op("sum", p.op("exp", y)))


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
    p.backward(p.op("sum", p.op("add", p.op("exp", x), p.op("mul", x2, p.const(2.0)))))


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
    out = p.op("add", p.op("sum", p.op("mul", c1, x)), p.op("sum", p.op("div", x2, c2)))
    p.poke(c1, 3.0)
    p.poke(c2, 3.0)
    p.backward(out)


MATMUL_AB = dict(left=S34, right=((4, 2), False))
#: name -> (program builder, why torch raises / works: the rule the student's code must follow)
RAISES = {
    "y = exp(x) changed": (_unary_out_changed("exp", "add_", 1.0),
                           "exp keeps its output (exp' = exp)"),
    "y = tanh(x) changed": (_unary_out_changed("tanh", "mul_", 0.5),
                            "tanh keeps its output (tanh' = 1 - tanh²)"),
    "y = sigmoid(x) changed": (_unary_out_changed("sigmoid", "add_", (3, 4)),
                               "sigmoid keeps its output (σ' = σ(1 - σ))"),
    "y = relu(x) changed": (_unary_out_changed("relu", "mul_", 2.0),
                            "relu keeps its output (its mask is out > 0)"),
    "log(x): x changed": (_unary_in_changed("log", "add_", 1.0), "log keeps its input (log' = 1/x)"),
    "x * w: x changed": (_binary_changed("mul", "a"), "mul of two Vars keeps both"),
    "x * w: w changed": (_binary_changed("mul", "b", change="mul_", arg=2.0),
                         "mul of two Vars keeps both"),
    "x * x: x changed": (_square, "x * x keeps x (twice)"),
    "A @ B: A changed": (_binary_changed("matmul", "a", change="mul_", arg=2.0, **MATMUL_AB),
                         "matmul of two Vars keeps both"),
    "A @ B: B changed": (_binary_changed("matmul", "b", **MATMUL_AB),
                         "matmul of two Vars keeps both"),
    "x / w: divisor w changed": (_binary_changed("div", "b", right=P34),
                                 "div keeps its divisor when it is a Var"),
    "x / w: dividend x changed": (_binary_changed("div", "a", right=P34, change="mul_", arg=2.0),
                                  "div keeps its dividend too when the divisor is a Var"),
    "2 / w: w changed": (_binary_changed("div", "b", right=P34, constant=("a", 2.0)),
                         "div keeps its divisor when it is a Var, even with a constant dividend"),
    "x * w: x.add_(1) then x.add_(-1)": (
        _restored("add_"), "mul keeps x; its value is back, but its version moved on twice: "
                           "compare versions, not values"),
    "x * w: x.mul_(1)": (_restored("mul_"), "mul keeps x; mul_(1) leaves the value equal but "
                                            "changes the version: compare versions, not values"),
    "exp(x) changed, then log of it": (
        _chain_changed_before_use, "exp saved its output before it was changed; log saved it "
                                   "after, which alone would be fine"),
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
#: Each test pairs a scenario where torch raises with one on a like graph where it works.
PAIRS = [
    ("y = exp(x) changed", "exp(x): x changed"),
    ("y = tanh(x) changed", "tanh(x): x changed"),
    ("y = sigmoid(x) changed", "sigmoid(x): x changed"),
    ("y = relu(x) changed", "relu(x): x changed"),
    ("log(x): x changed", "log(x): the output changed"),
    ("x * w: x changed", "x * 2: x changed"),
    ("x * w: w changed", "c * x (array constant): x changed"),
    ("x * x: x changed", "x * w: the output changed"),
    ("A @ B: A changed", "A @ C and C @ B with constants: A and B changed"),
    ("A @ B: B changed", "add_/mul_ with a Var operand are not recorded"),
    ("x / w: divisor w changed", "x / c (constant divisor): x changed"),
    ("x / w: dividend x changed", "x / w: the output changed"),
    ("2 / w: w changed", "constants changed by the caller after the op"),
    ("x * w: x.add_(1) then x.add_(-1)", "add, sub, neg: operands and results changed"),
    ("x * w: x.mul_(1)", "sum, mean, transpose: inputs and results changed"),
    ("exp(x) changed, then log of it", "y = 2x changed before exp(y) is made"),
    ("x * x.mean(): the 0-d mean changed", "a Var outside out's graph changed"),
    ("tanh deep in the graph changed", "y = 2x changed before exp(y) is made"),
]


def scenario(name: str) -> tuple[Program, str]:
    build, why = {**RAISES, **WORKS}[name]
    p = Program()
    build(p, case_rng("autodiff.inplace", name))
    return p, why


@reference
def scenario_expected(name: str) -> dict:
    """Torch's outcome and values on the scenario; the suite's premise (torch raises on every
    RAISES scenario and works on every WORKS one) is checked here."""
    p, _ = scenario(name)
    ref = run_torch(p)
    if ref["outcome"] != ("inplace" if name in RAISES else None):
        raise SuiteError(f"torch gives {ref['outcome']!r} on the scenario {name!r}")
    return {"outcome": ref["outcome"], "values": ref["values"]}


def check_raises(submission, name: str) -> None:
    p, why = scenario(name)
    scenario_expected(name)
    got = run_student(submission, p, versions=True)
    outcome, check = got["outcome"], p.listing()
    if outcome is None:
        stale = [i for i in p.targets() if got["versions"][i] == 0]
        hint = [f"add_ and mul_ must add 1 to .version (v{stale[0]} is still at version 0)"
                ] if stale else []
        raise Mismatch(f"{check}: backward worked, expected InplaceError, as torch raises "
                       f"'modified by an inplace operation': {why}. An op saves the Var itself "
                       f"with its version (a private copy never sees the change), and backward "
                       f"compares versions when it reads it" + hint_line(hint))
    assert_true(outcome["inplace"], f"{check}: backward raised {outcome['type']}: "
                f"{outcome['message']}, expected the module's InplaceError ({why})")
    assert_true(outcome["runtime"], f"{check}: InplaceError was raised, but it is not a "
                f"RuntimeError: class InplaceError(RuntimeError)")


def check_works(submission, name: str) -> None:
    p, why = scenario(name)
    want = scenario_expected(name)
    got = run_student(submission, p, values=True, grads=True)
    check, outcome = p.listing(), got["outcome"]
    if outcome is not None:
        raise Mismatch(f"{check}: backward raised {outcome['type']}: {outcome['message']}; "
                       f"expected it to work, as torch does: {why} (an op saves only what its "
                       f"backward formula reads)")
    for i in p.targets():
        assert_close(got["values"][i], want["values"][i], check=f"{check}: the value of v{i}",
                     inputs={f"v{i}": want["values"][i]})
    operands = {ins[3] for ins in p.ins if ins[0] == "inplace" and p.var[ins[3]]}
    for i in operands - p.reachable(p.out()):
        have = got["grads"][i]
        assert_true(have is None or (not isinstance(have, str) and not np.any(have)),
                    f"{check}: v{i} received a gradient, {_short(have)}, but it was only the "
                    f"operand of add_/mul_, which are not recorded in the graph")
    if any(ins[0] == "poke" for ins in p.ins):
        untouched = run_student(submission, p, p.without_inplace(), grads=True)
        for i in p.var_slots():
            assert_true(_equal(got["grads"][i], untouched["grads"][i]),
                        f"{check}: .grad of {p.describe(i)} changed when the caller changed the "
                        f"constant's array after the op ({_short(got['grads'][i])} instead of "
                        f"{_short(untouched['grads'][i])} without that change): an op keeps a "
                        f"copy of a constant operand")


@pytest.mark.question("3.4", weight=6)
@pytest.mark.parametrize("pair", range(len(PAIRS)),
                         ids=[f"{r} | {w}" for r, w in PAIRS])
def test_backward_raises_exactly_where_torch_raises(submission, pair):
    """backward raises InplaceError (a RuntimeError) where torch raises 'modified by an inplace
    operation' (a Var an op saved was changed after it was saved), and works on a like graph
    where torch works, leaving the values add_/mul_ made. Fails: saving a private copy or
    comparing values instead of versions (never raises); saving more than the backward formula
    reads (raises too often: exp/tanh/sigmoid/relu keep their output, log its input, add, sub,
    neg, sum, mean and transpose nothing, mul/div/matmul with a constant no Var); add_/mul_
    recorded in the graph; a constant operand kept by reference; the wrong exception class."""
    raises, works = PAIRS[pair]
    check_raises(submission, raises)
    check_works(submission, works)
