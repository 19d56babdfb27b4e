"""The programs the autodiff suite runs: random DAGs, a ladder, the MLP in Vars, in-place scenarios.

A `Program` is a list of instructions of the probe's language (probes/autodiff.py) together with
what the grader knows of each slot: its value from the kit's numpy forward (autodiff_ops, used
only to steer the generator away from a log of a negative or a huge exp: every expected value
comes from torch), whether it is a Var, its parents, and how to describe it in a message.

Each kind of random graph draws from RNG streams of its own (`Streams`: values, ops, operands,
styles), seeded by the kind and the case: changing one kind, or the way styles are drawn,
leaves every other graph as it was, so mutant outcomes do not flip for unrelated reasons.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from autograder.checks import SuiteError, case_rng
from autograder.probes.autodiff_ops import BINARY, ELEMENTWISE, INPLACE, OPS, UNARY, numpy_forward

MAX_MAGNITUDE = 25.0      # no node's value beyond this: gradients stay well scaled


@dataclass
class Program:
    """Instructions and, slot by slot, the kit's forward value, Var-ness, parents and text."""
    ins: list = field(default_factory=list)
    vals: list = field(default_factory=list)
    var: list = field(default_factory=list)
    parents: list = field(default_factory=list)
    texts: list = field(default_factory=list)

    # --- building ------------------------------------------------------------------------
    def _add(self, ins, value, is_var, parents, text) -> int:
        self.ins.append(ins)
        self.vals.append(value)
        self.var.append(is_var)
        self.parents.append(parents)
        self.texts.append(text)
        return len(self.ins) - 1

    def leaf(self, value) -> int:
        text = (f"Var({value!r})" if not isinstance(value, np.ndarray) else
                f"Var({'int ' if value.dtype.kind in 'iu' else ''}array {value.shape})")
        return self._add(["leaf", value], np.array(value, dtype=np.float64), True, [], text)

    def const(self, value) -> int:
        return self._add(["const", value], np.array(value, dtype=np.float64), False, [], "")

    def value_of(self, name: str, args: tuple, kwargs: dict) -> np.ndarray:
        """What the op would give (numpy), without adding it."""
        return numpy_forward(name, [self.vals[a] for a in args], kwargs)

    def op(self, name: str, *args: int, style: str = "fn", **kwargs) -> int:
        text = OPS[name].text([self.name(a) for a in args], style, kwargs)
        i = self._add(["op", name, style, list(args), kwargs], self.value_of(name, args, kwargs),
                      True, [a for a in args if self.var[a]], "")
        self.texts[i] = f"v{i} = {text}"
        return i

    def inplace(self, name: str, target: int, other: int) -> None:
        self.vals[target] = INPLACE[name](self.vals[target], self.vals[other])
        self._add(["inplace", name, target, other], None, False, [],
                  f"{self.name(target)}.{name}({self.name(other)})")

    def poke(self, target: int, delta: float) -> None:
        self._add(["poke", target, delta], None, False, [],
                  f"(the caller adds {delta} to the array behind {self.name(target)})")

    def backward(self, out: int) -> None:
        self._add(["backward", out], None, False, [], f"{self.name(out)}.backward()")

    # --- reading -------------------------------------------------------------------------
    def without_backward(self) -> list:
        """The instructions with backward left out (slots kept in place), for Q3.2 tests."""
        return [["const", 0.0] if ins[0] == "backward" else ins for ins in self.ins]

    def without_inplace(self) -> list:
        """The instructions with add_/mul_ and pokes left out (slots kept in place)."""
        return [["const", 0.0] if ins[0] in ("inplace", "poke") else ins for ins in self.ins]

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

    def name(self, i: int) -> str:
        if self.var[i]:
            return f"v{i}"
        value = self.ins[i][1]
        return repr(value) if isinstance(value, float) else f"c{i}"

    def operands(self, i: int) -> list[int]:
        return list(self.ins[i][3]) if self.ins[i][0] == "op" else []

    def describe(self, i: int) -> str:
        """'v9 = mul(v3, c7), where v3 = exp(v1); c7 = numpy array (3, 4)'."""
        if not self.var[i]:
            return self.texts[i]
        if self.ins[i][0] == "leaf":
            return f"the leaf v{i} = {self.texts[i]}"
        parts = []
        for a in dict.fromkeys(self.operands(i)):
            if self.var[a]:
                parts.append(self.texts[a] if self.ins[a][0] != "leaf"
                             else f"v{a} = {self.texts[a]}")
            elif not isinstance(self.ins[a][1], float):
                parts.append(f"c{a} = numpy array {self.vals[a].shape}")
        return self.texts[i] + (f", where {'; '.join(parts)}" if parts else "")

    def operand_inputs(self, i: int, values: list) -> dict:
        """{name: value} of node i's operands (its own value for a leaf), for messages."""
        if not self.var[i] or self.ins[i][0] == "leaf":
            return {f"v{i}": values[i]}
        return {self.name(a): (values[a] if self.var[a] else self.vals[a])
                for a in self.operands(i)}

    def var_slots(self) -> list[int]:
        return [i for i, v in enumerate(self.var) if v]

    def reachable(self, out: int) -> set[int]:
        seen, stack = set(), [out]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.parents[node])
        return seen

    def targets(self) -> list[int]:
        """The Vars changed in place, in order of their first change."""
        return list(dict.fromkeys(ins[2] for ins in self.ins if ins[0] == "inplace"))

    def out(self) -> int | None:
        outs = [ins[1] for ins in self.ins if ins[0] == "backward"]
        return outs[-1] if outs else None


# --- random DAGs -----------------------------------------------------------------------------
class Streams:
    """The independent RNG streams of one random graph."""

    def __init__(self, kind: str, case: int):
        for name in ("values", "ops", "operands", "styles"):
            setattr(self, name, case_rng("autodiff.graph", kind, case, name))


STYLES_FN = {"binary": ("fn",), "unary": ("fn",), "reduce": ("fn",), "transpose": ("fn",)}
STYLES_SUGAR = {"binary": ("sugar",), "unary": ("sugar",), "reduce": ("sugar",),
                "transpose": ("sugar",)}
STYLES_MIXED = {"binary": ("fn", "sugar", "sugar"), "unary": ("fn", "sugar"),
                "reduce": ("fn", "sugar"), "transpose": ("fn", "sugar")}


def _group(name: str) -> str:
    return ("binary" if name in BINARY else "reduce" if OPS[name].reduces
            else "transpose" if name == "transpose" else "unary")


@dataclass
class Grower:
    """Grows a random DAG over `pool` (the nodes ops may use), drawing from `s`."""
    p: Program
    s: Streams
    styles: dict
    mix: dict                     # proposal kind -> weight: binary, unary, reduce, transpose, matmul
    consts: bool = True
    broadcast: bool = False       # operands may be a 1-D bias or a 0-d Var
    array_left_sugar: bool = True  # False: an op with a numpy array on the left is written as fn
    pool: list = field(default_factory=list)
    used: set = field(default_factory=set)

    def style(self, name: str, args: tuple = ()) -> str:
        chosen = str(self.s.styles.choice(self.styles[_group(name)]))
        if (not self.array_left_sugar and args and not self.p.var[args[0]]
                and not isinstance(self.p.ins[args[0]][1], float)):
            return "fn"
        return chosen

    def add(self, name: str, *args: int, **kwargs) -> int:
        node = self.p.op(name, *args, style=self.style(name, args), **kwargs)
        self.pool.append(node)
        self.used.update(args)
        return node

    def pick(self, condition=lambda i: True) -> int | None:
        """A pool node, recent ones likelier (deep graphs), or None if none qualifies."""
        candidates = [i for i in self.pool if condition(i)]
        if not candidates:
            return None
        weights = np.arange(1, len(candidates) + 1, dtype=float) ** 1.5
        return int(self.s.operands.choice(candidates, p=weights / weights.sum()))

    def constant(self, shape: tuple, positive: bool = False) -> int:
        v = self.s.values
        if v.random() < 0.5 or shape == ():
            sign = 1 if positive else v.choice([-1, 1])
            return self.p.const(round(float(v.uniform(0.5, 2.0) * sign), 3))
        if self.broadcast and len(shape) == 2 and v.random() < 0.3:
            shape = (shape[1],)
        sign = 1 if positive else v.choice([-1, 1], size=shape)
        return self.p.const(v.uniform(0.5, 2.0, shape) * sign)

    # proposals: (name, args, kwargs) or None when this draw does not fit the pool
    def binary(self):
        name = str(self.s.ops.choice(ELEMENTWISE))
        a = self.pick()
        sa = self.p.vals[a].shape
        r = self.s.operands.random()
        if r < 0.15:
            b = a
        elif self.consts and r < 0.45:
            b = self.constant(sa, positive=name == "div")
        else:
            b = self.pick(lambda i: _broadcastable(sa, self.p.vals[i].shape)
                          and (self.broadcast or self.p.vals[i].shape == sa))
        if b is None:
            return None
        if self.s.operands.random() < 0.5:
            a, b = b, a
        if name == "div" and np.min(np.abs(self.p.vals[b])) < 0.3:
            return None
        return name, (a, b), {}

    def unary(self):
        name = str(self.s.ops.choice(UNARY))
        a = self.pick()
        x = self.p.vals[a]
        if (name == "exp" and x.max() > 2.5) or (name == "log" and x.min() < 0.2) or (
                name == "relu" and np.min(np.abs(x)) < 1e-2):
            return None
        return name, (a,), {}

    def reduce(self):
        name = str(self.s.ops.choice(("sum", "mean")))
        a = self.pick()
        ndim = self.p.vals[a].ndim
        axis = self.s.ops.choice([None] + list(range(ndim)) + ([-1] if ndim == 2 else []))
        kwargs = {} if axis is None else {"axis": int(axis)}
        if "matmul" in self.mix and self.s.ops.random() < 0.3:
            kwargs["keepdims"] = True
        return name, (a,), kwargs

    def transpose(self):
        a = self.pick(lambda i: self.p.vals[i].ndim == 2)
        return None if a is None else ("transpose", (a,), {})

    def matmul(self):
        a = self.pick(lambda i: self.p.vals[i].ndim == 2)
        if a is None:
            return None
        rows, inner = self.p.vals[a].shape
        b = self.pick(lambda i: self.p.vals[i].ndim == 2 and self.p.vals[i].shape[0] == inner)
        v = self.s.values
        if b is None or self.s.operands.random() < 0.3:
            # square half the time: a transpose mistake then gives values, not a shape error
            cols = inner if v.random() < 0.5 else int(v.integers(2, 4))
            b = self.p.const(v.normal(0, 1, (inner, cols)))
        if self.s.operands.random() < 0.3 and not self.p.var[b]:
            a, b = self.p.const(v.normal(0, 1, (int(v.integers(2, 4)), rows))), a
        return "matmul", (a, b), {}

    def grow(self, n_ops: int) -> None:
        """Add n_ops ops whose values stay finite and moderate. Every draw counts toward the
        guard, a rejected one too: a pool no proposal fits stops with a SuiteError."""
        kinds = list(self.mix)
        weights = np.array([self.mix[k] for k in kinds], dtype=float)
        made = draws = 0
        while made < n_ops:
            draws += 1
            if draws > 200 * n_ops:
                raise SuiteError(f"random graph cannot grow: {made} of {n_ops} ops after "
                                 f"{draws - 1} draws (the kind's op mix fits no pool node)")
            proposal = getattr(self, str(self.s.ops.choice(kinds, p=weights / weights.sum())))()
            if proposal is None:
                continue
            name, args, kwargs = proposal
            value = self.p.value_of(name, args, kwargs)
            if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0) > MAX_MAGNITUDE:
                continue
            self.add(name, *args, **kwargs)
            made += 1

    def close(self, unreachable: bool = False) -> int:
        """Sum every unused node into one 0-d out (leaving one op result out if `unreachable`),
        then backward."""
        dangling = [i for i in self.pool if i not in self.used]
        if unreachable:
            left_out = [i for i in dangling if self.p.ins[i][0] != "leaf"]
            if not left_out:
                raise SuiteError("random graph has no op result to leave out of out's graph")
            dangling.remove(left_out[-1])
        terms = [i if self.p.vals[i].ndim == 0 else self.add("sum", i) for i in dangling]
        out = terms[0]
        for t in terms[1:]:
            out = self.add("add", out, t)
        if self.p.vals[out].ndim:   # a single (1, 1) term: make out 0-d
            out = self.add("sum", out)
        self.p.backward(out)
        return out


def _broadcastable(sa, sb) -> bool:
    """Shapes the contract grades: equal, a 0-d one, or a 1-D bias over the rows of a 2-D one."""
    return (sa == sb or sa == () or sb == () or (len(sa) == 2 and sb == (sa[1],))
            or (len(sb) == 2 and sa == (sb[1],)))


SHAPES = [(2, 3), (3, 4), (4, 3), (3, 3), (4, 2)]   # (3, 3): a wrong axis gives values
ELEMENTWISE_MIX = {"binary": 5, "unary": 4}
MATRIX_MIX = {"binary": 5, "unary": 4, "reduce": 1, "transpose": 1, "matmul": 1}


def _start(kind: str, case: int, styles: dict, mix: dict, **options) -> Grower:
    """A grower over three normal leaves and one positive leaf of the case's shape."""
    s = Streams(kind, case)
    g = Grower(Program(), s, styles, mix, **options)
    n, m = SHAPES[case % len(SHAPES)]
    g.pool = [g.p.leaf(s.values.normal(0, 1, (n, m))) for _ in range(3)]
    g.pool.append(g.p.leaf(s.values.uniform(0.5, 2.0, (n, m))))
    return g


def _seed_broadcast(g: Grower) -> None:
    """A 1-D bias, a 0-d leaf, x - x.mean(), x + bias, s * x."""
    x0, x1, x2 = g.pool[:3]
    m = g.p.vals[x0].shape[1]
    bias, scalar = g.p.leaf(g.s.values.normal(0, 1, m)), g.p.leaf(float(g.s.values.uniform(0.5, 1.5)))
    g.pool += [bias, scalar]
    g.add("sub", x0, g.add("mean", x0))
    g.add("add", x1, bias)
    g.add("mul", scalar, x2)


def _seed_matrix(g: Grower, case: int) -> None:
    """(m, n) and (m, k) leaves, x @ side, tall.T, reductions over an axis with keepdims."""
    x0, x3 = g.pool[0], g.pool[3]
    n, m = g.p.vals[x0].shape
    k = m if case % 2 else 2 + case % 3          # square half the cases
    tall, side = g.p.leaf(g.s.values.normal(0, 1, (m, n))), g.p.leaf(g.s.values.normal(0, 1, (m, k)))
    g.pool += [tall, side]
    g.add("matmul", x0, side)
    g.add("transpose", tall)
    g.add("mean", x3, axis=1, keepdims=True)
    g.add("sum", tall, axis=0, keepdims=True)
    g.add("mean", side, axis=0)


def _seed_reflected(g: Grower, matrix: bool) -> None:
    """Constants on the left: array - x, number / x, array * x, number + x (array @ x)."""
    v = g.s.values
    x0, x1, x2, x3 = g.pool[:4]
    n, m = g.p.vals[x0].shape
    g.add("sub", g.p.const(v.normal(0, 1, (n, m))), x0)
    g.add("div", g.p.const(round(float(v.uniform(0.5, 2)), 3)), x3)
    g.add("mul", g.p.const(v.normal(0, 1, (n, m))), x1)
    g.add("add", g.p.const(round(float(v.normal()), 3)), x2)
    if matrix:
        g.add("matmul", g.p.const(v.normal(0, 1, (2, n))), x2)


def values_graph(kind: str, case: int, styles: dict) -> Program:
    """Q3.2: every op, broadcasting and matrices; constants on the left with operators."""
    g = _start(kind, case, styles, MATRIX_MIX, broadcast=True)
    _seed_broadcast(g)
    _seed_matrix(g, case)
    if styles is not STYLES_FN:
        _seed_reflected(g, matrix=True)
    g.grow(16)
    g.close()
    return g.p


def structure_graph(case: int) -> Program:
    """Q3.2: mixed styles, shared nodes, a node out does not use, two leaves of equal value;
    an op with an array on the left is written as a module function, so that the parents and
    the order do not depend on __array_ufunc__."""
    matrix = case % 2 == 1
    g = _start("structure", case, STYLES_MIXED, MATRIX_MIX if matrix else ELEMENTWISE_MIX,
               broadcast=not matrix, array_left_sugar=False)
    twin = g.s.values.normal(0, 1, g.p.vals[g.pool[0]].shape)
    g.pool += [g.p.leaf(twin), g.p.leaf(twin.copy())]
    (_seed_matrix if matrix else lambda g, case: _seed_broadcast(g))(g, case)
    _seed_reflected(g, matrix)
    g.grow(14)
    g.close(unreachable=True)
    return g.p


def elementwise_graph(case: int) -> Program:
    """Q3.3: elementwise ops with heavy fan-out (x * x, a node feeding several ops)."""
    g = _start("elementwise", case, STYLES_FN, ELEMENTWISE_MIX)
    g.grow(14)
    g.close()
    return g.p


def broadcast_graph(case: int) -> Program:
    """Q3.3: a 1-D bias over rows, 0-d Vars (x - x.mean(), s * x), number constants."""
    g = _start("broadcast", case, STYLES_FN, {**ELEMENTWISE_MIX, "reduce": 1}, broadcast=True)
    _seed_broadcast(g)
    g.grow(12)
    g.close()
    return g.p


def matrix_graph(case: int) -> Program:
    """Q3.3: matmul with Var or constant operands, transposes, sums and means over an axis."""
    g = _start("matrix", case, STYLES_FN, MATRIX_MIX)
    _seed_matrix(g, case)
    g.grow(12)
    g.close()
    return g.p


def unreachable_graph(case: int) -> Program:
    """Q3.3: a small graph with one op result out does not depend on."""
    g = _start("unreachable", case, STYLES_FN, ELEMENTWISE_MIX)
    g.grow(10)
    g.close(unreachable=True)
    return g.p


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
    p.backward(p.op("mean", p.op("mul", cur, cur)))
    return p


def kinks(case: int) -> Program:
    """relu at exactly 0 (torch's derivative there is 0), log and div of positive leaves,
    exp, a square transpose and a square matmul of two Vars (a transpose mistake in a backward
    then gives values, not a shape error): the local derivatives each op must get right."""
    rng = case_rng("autodiff.kinks", case)
    p = Program()
    x = rng.normal(0, 1, (4, 4))
    x[rng.random((4, 4)) < 0.3] = 0.0
    z, pos, w = p.leaf(x), p.leaf(rng.uniform(0.5, 2.0, (4, 4))), p.leaf(rng.normal(0, 1, (4, 4)))
    r = p.op("relu", z)
    terms = [p.op("mul", r, w), p.op("log", pos), p.op("div", w, pos), p.op("exp", p.op("tanh", w)),
             p.op("sigmoid", p.op("neg", z)), p.op("transpose", p.op("mul", w, pos)),
             p.op("matmul", w, pos)]
    out = p.op("sum", p.op("mul", terms[0], p.const(rng.normal(0, 1, (4, 4)))))
    for t in terms[1:]:
        out = p.op("add", out, p.op("sum", p.op("mul", t, p.const(rng.normal(0, 1, (4, 4))))))
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
    h = p.op("tanh", p.op("add", p.op("matmul", x, p.op("transpose", W1)), b1))
    z = p.op("add", p.op("matmul", h, p.op("transpose", W2)), b2)          # (B, K)
    lse = p.op("log", p.op("sum", p.op("exp", z), axis=1))                 # (B,)
    logp_t = p.op("sub", p.op("transpose", z), lse)                        # (K, B) - (B,)
    picked = p.op("sum", p.op("mul", logp_t, onehot_t), axis=0)            # (B,)
    p.backward(p.op("neg", p.op("mean", picked)))
    return p


def ownership_program(case: int) -> tuple[Program, list[int]]:
    """Leaves made from arrays that the caller changes afterwards, from ints and numbers; x.T."""
    rng = case_rng("autodiff.owns", case)
    p = Program()
    n, m = [(3, 4), (2, 5)][case]
    x = p.leaf(rng.normal(0, 1, (n, m)))
    ints = p.leaf(rng.integers(-3, 4, (n, m)))
    number = p.leaf(2 if case == 0 else 1.5)
    style = ["fn", "sugar"][case]
    xt = p.op("transpose", x, style=style)
    y = p.op("mul", ints, number, style="sugar")
    yt = p.op("transpose", y, style="fn" if style == "sugar" else "sugar")
    s = p.op("sum", p.op("add", xt, yt, style="sugar"), axis=0)
    p.op("exp", s, style="sugar")
    p.poke(x, 100.0)
    p.poke(ints, 7)
    return p, [x, ints]


def version_program(case: int) -> Program:
    """add_ and mul_ on leaves and op results with numbers, arrays, a 1-D bias (and, case 1,
    leaf Vars as the other operand: an op result there would make a wrong forward formula of
    Q3.2 cost here too)."""
    rng = case_rng("autodiff.versions", case)
    p = Program()
    x, w, u = [p.leaf(rng.normal(0, 1, (3, 4))) for _ in range(3)]
    y = p.op("mul", x, w)
    t = p.op("transpose", u)
    p.op("mean", w)          # its version must stay 0
    p.op("exp", y)
    p.inplace("add_", x, p.const(2.0))
    p.inplace("mul_", x, p.const(rng.uniform(0.5, 2.0, (3, 4))))
    p.inplace("add_", y, p.const(rng.normal(0, 1, 4)))
    p.inplace("mul_", t, p.const(-1.5))
    if case == 1:
        p.inplace("mul_", y, w)
        p.inplace("add_", w, u)
        p.inplace("add_", x, w)
    return p


# --- Q3.4: in-place scenarios ---------------------------------------------------------------
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


def _changed_then_saved(p, rng):
    x, w = _leaves(p, rng, S34, S34)
    p.inplace("add_", x, p.const(1.0))
    p.inplace("mul_", w, p.const(2.0))
    p.backward(p.op("sum", p.op("mul", x, w)))


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
    "x and w changed, then x * w made": (
        _changed_then_saved, "mul saved x and w at the versions they had when it was made, "
                             "after their changes"),
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
    ("tanh deep in the graph changed", "x and w changed, then x * w made"),
]


def nonscalar(case: int) -> Program:
    """A small graph; backward on the 0-d out (the raising variant calls it on the (3, 4) y)."""
    rng = case_rng("autodiff.nonscalar", case)
    p = Program()
    x, w = p.leaf(rng.normal(0, 1, (3, 4))), p.leaf(rng.normal(0, 1, (3, 4)))
    y = p.op("tanh", p.op("mul", x, w))
    p.backward(p.op("sum", p.op("mul", y, x)))
    return p


def extremes_program() -> Program:
    """sigmoid of numbers up to ±1e4, as a module function and as a method."""
    p = Program()
    x = p.leaf(np.array([[-1e4, -745.0, -50.0, -1.0, 0.0], [1.0, 50.0, 745.0, 1e4, 3.0]]))
    p.op("sigmoid", x)
    p.op("sigmoid", p.op("neg", x), style="sugar")
    return p


GRAPHS = {
    # Q3.2
    "values_fn": lambda c: values_graph("values_fn", c, STYLES_FN),
    "values_sugar": lambda c: values_graph("values_sugar", c, STYLES_SUGAR),
    "structure": structure_graph,
    # Q3.3
    "elementwise": elementwise_graph,
    "broadcast": broadcast_graph,
    "matrix": matrix_graph,
    "unreachable": unreachable_graph,
    "ladder": ladder,
    "kinks": kinks,
    "nonscalar": nonscalar,
    "mlp": mlp_program,
}


def scenario(name: str) -> tuple[Program, str]:
    build, why = {**RAISES, **WORKS}[name]
    p = Program()
    build(p, case_rng("autodiff.inplace", name))
    return p, why


@functools.cache
def graph(kind: str, case: int) -> Program:
    return GRAPHS[kind](case)
