"""Q3.2–Q3.4 — a computation graph of Vars, reverse mode, saved values and in-place changes.

Every test runs a program (autodiff_graphs.py builds them; the probe `autodiff_program`
documents the language; probes/autodiff_ops.py is the one table of ops) with the student's Var
in the child, and the same program here with torch (autodiff_reference.py: float64 leaves that
require grad, constants as tensors that do not, in-place changes under no_grad, x.T as a copy
since a Var owns its value). Hints come from autograder/mistakes/autodiff.py; a Q3.3 hint is
given only when the whole backward pass with that mistake (run with torch's local Jacobians)
reproduces the student's gradients on every node.
Only the contract's API is used: Var(value), .value, .grad, .parents, .version, the module's op
functions, operators and methods, topological_order, backward, add_, mul_ and InplaceError.

What each question's tests depend on (rubric.toml says it too, `uses`):
- Q3.2 tests never run backward, add_ or mul_, and never read .grad or .version.
- Q3.3 tests run backward through the student's own ops (their backward closures live there)
  with the kit's topological order (a stand-in), and the probe writes the kit's forward values
  into every Var whose value is wrong before backward: a wrong forward formula of Q3.2 does not change the
  gradients graded here. They never call add_/mul_ nor read .version.
- Q3.4 tests compare where backward raises with where torch raises, in pairs (a scenario where
  torch raises, one where it works): a backward that never raises, or always does, earns
  nothing. They compare no gradient with torch's, so a Q3.3 bug (gradients overwritten, the
  wrong order) does not cost here; only the values add_/mul_ leave and, for a constant the
  caller changes, the student's own gradients with and without that change.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from autograder.checks import (Mismatch, SuiteError, assert_close, assert_gradient,
                               assert_true, hint_line, matching_hints, strict_result)
from autograder.mistakes import autodiff as mistakes
from autograder.probes.autodiff_ops import ELEMENTWISE
from autograder.references import reference
from autograder.suites import autodiff_graphs as graphs
from autograder.suites.autodiff_graphs import PAIRS, RAISES, Program, graph, scenario
from autograder.suites.autodiff_reference import Skip, mistaken_passes, run_torch, simulate

MODULE = "autodiff"
PROBE = "autodiff_program"


@reference
def expected(kind: str, case: int) -> dict:
    return run_torch(graph(kind, case))


def run_student(submission, p: Program, instructions: list | None = None, *,
                kit_values: bool = False, strict: bool = False, **report) -> dict:
    """The probe's report on the program run with the student's Var (in the child)."""
    return submission.probe(PROBE, instructions or p.ins, report=report, kit_values=kit_values,
                            strict=strict, module=MODULE)


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


@reference
def extremes_expected() -> list:
    return run_torch(graphs.extremes_program())["values"]


OVERFLOW = ("sigmoid must not overflow for large |x|: exp(-x) overflows for x = -1e4; compute "
            "it from exp(-|x|), or with np.logaddexp")


@pytest.mark.question("3.2", weight=1)
def test_sigmoid_at_extremes(submission):
    """sigmoid of numbers up to ±1e4 (module function and method), with numpy's overflow,
    invalid and divide warnings raised: torch's values, in [0, 1]. Fails: 1 / (1 + exp(-x))
    written directly (exp overflows at -1e4), a nan from inf / inf."""
    p = graphs.extremes_program()
    got = strict_result(lambda: run_student(submission, p, strict=True, values=True),
                        check="sigmoid of numbers up to ±1e4", hints={"overflow": OVERFLOW})
    check_values(p, got["values"], extremes_expected(), "sigmoid at ±1e4")


# --- Q3.3: back-propagation --------------------------------------------------------------------
@reference
def mistaken(kind: str, case: int, key: tuple):
    """The gradients of graph (kind, case) under the mistake `key`, or None if it cannot run."""
    try:
        if key[0] == "local":
            return simulate(kind, case, key[1], mistakes.LOCAL[key[1]][key[2]])
        if key[0] == "order":
            return simulate(kind, case, order=mistakes.ORDER[key[1]])
        return simulate(kind, case, order=mistakes.overwrite(key[1]))
    except Skip:
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
                            mistakes={hint: wrong[i] for hint, wrong in known})
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


@pytest.mark.question("3.3", weight=1)
def test_backward_needs_a_single_element_out(submission):
    """backward on a (3, 4) Var raises (ValueError, as the docstring says; torch raises a
    RuntimeError) instead of seeding ones; paid only with the gradients of the same graph
    from its 0-d out. Fails: backward seeding ones of any shape."""
    check_grads(submission, "nonscalar", 0, "a small graph")
    p = graph("nonscalar", 0)
    y = p.operands(p.operands(p.out())[0])[0]
    got = run_student(submission, p, p.ins[:-1] + [["backward", y]])
    outcome = got["outcome"]
    assert_true(outcome is not None, f"v{y}.backward() on {p.describe(y)}, of shape "
                f"{p.vals[y].shape}: backward worked, expected ValueError (backward needs a "
                f"single-element out: ∂out/∂node is defined for a number)")
    assert_true(outcome["type"] in ("ValueError", "RuntimeError") and not outcome["inplace"],
                f"v{y}.backward() on a Var of shape {p.vals[y].shape}: backward raised "
                f"{outcome['type']}: {outcome['message']}, expected ValueError")


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
    bumping another Var's version, not changing .value in place, add_ and mul_ swapped, not
    returning self."""
    p = graphs.version_program(case)
    got = run_student(submission, p, values=True, versions=True, returns=True)
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
    for i in [t for t in p.targets() if p.ins[t][0] == "leaf"]:   # an op result's value is Q3.2's
        assert_close(got["values"][i], want[i], check=f"after {steps}: the value of v{i}",
                     inputs={f"v{i}": want[i]}, mistakes=mistakes.inplace_values(
                         want[i], *(versions_expected(case, r)[i] for r in ("none", "add", "mul"))))
    calls = [ins for ins in p.ins if ins[0] == "inplace"]
    wrong = [ins for ins, same in zip(calls, got["returns"]) if not same]
    assert_true(not wrong, f"after {steps}: v{wrong[0][2] if wrong else ''}.{wrong[0][1] if wrong else ''}"
                f"(...) did not return the Var itself (add_ and mul_ return self, so that "
                f"calls can be chained)")


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
    p, why = scenario(name)
    want = scenario_expected(name)
    got = run_student(submission, p, values=True, grads=True)
    check, outcome = p.listing(), got["outcome"]
    # Another exception (a shape error in a backward formula) is Q3.3's to grade; here only
    # an InplaceError where torch works is wrong (the scenario's raising twin fails a
    # backward that raises regardless).
    if outcome is not None and outcome["inplace"]:
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
