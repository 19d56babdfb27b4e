"""Part 3 — reverse-mode automatic differentiation over numpy arrays, written with numpy only.

A `Var` wraps a float64 array. Every operation on Vars returns a new Var that remembers its
operands (`.parents`) and how to send a gradient back to them; `out.backward()` walks the graph
from `out` back to the leaves and fills every node's `.grad` with ∂out/∂node.

Style choices of this submission (all within the contract):
- Saved values are recorded on the OUTPUT node: every op stores, in `out._saved`, a list of
  (var, version-at-save-time) pairs for exactly the Vars its backward formula reads (mul/matmul:
  both operands when both are Vars, nothing with a constant; div: the divisor and, when both are
  Vars, the dividend; log: its input; exp/tanh/sigmoid/relu: their output; the rest: nothing).
  `backward` checks these pairs just before running each node's closure and raises
  InplaceError on a mismatch. Constants are plain float64 copies captured by the closure.
  (The skeleton's `Saved` helper is still provided, working, for anyone who wants it, but the
  ops do not use it.)
- topological_order is a recursive depth-first post-order (recursion limit raised as needed).
- sigmoid is computed from exp(−|x|) on both sides (no overflow, underflow silenced locally).
"""

import sys

import numpy as np


class InplaceError(RuntimeError):
    """A value saved for backward was changed in place after it was saved."""


class Var:
    """A node of the computation graph.

    Attributes:
        value: float64 array owned by this Var.
        grad: None until backward has run; then ∂out/∂value, an array of value's shape.
        parents: tuple of the Var operands of the op that made this Var, in argument order
            (x * x has parents (x, x)); () for a leaf.
        op: name of that op, "" for a leaf.
        version: number of in-place changes made to value, 0 at creation.
    """

    __array_ufunc__ = None  # makes `array + var` call Var.__radd__ instead of numpy's loop

    def __init__(self, value, operands=(), op=""):
        """Q3.2 — a Var holding a float64 copy of value.

        Args:
            value: number or array-like; copied, so the caller's array is never shared.
            operands: the operands of the op that made this Var, in argument order. The Vars
                among them become .parents; constants are left out.
            op: name of the op.
        """
        if isinstance(value, Var):
            value = value.value
        self.value = np.array(value, dtype=np.float64, copy=True)
        self.grad = None
        self.parents = tuple(o for o in operands if isinstance(o, Var))
        self.op = op
        self.version = 0
        self._saved = []                      # [(Var, version at save time), ...]
        self._backward = lambda: None

    def backward(self):
        """Q3.3 — reverse mode: set .grad of every node of the graph that ends at this Var.

        Raises:
            ValueError: if self holds more than one element.
            InplaceError: when a value saved by an op was changed in place since (Q3.4).
        """
        if self.value.size != 1:
            raise ValueError("backward() needs a single-element output, got shape "
                             f"{self.value.shape}")
        order = topological_order(self)
        for node in order:
            node.grad = np.zeros_like(node.value)
        self.grad = np.ones_like(self.value)
        for node in reversed(order):
            for kept, version in node._saved:
                if kept.version != version:
                    raise InplaceError(
                        f"a value saved by op {node.op!r} was modified in place: version "
                        f"{kept.version}, expected {version}")
            node._backward()

    def add_(self, other):
        """Q3.4 — in place: value += other, outside the graph (allowed on any Var, leaves too).

        Returns:
            self, with its value changed in place and its version increased by 1.
        """
        np.add(self.value, _value(other), out=self.value)
        self.version += 1
        return self

    def mul_(self, other):
        """Q3.4 — in place: value *= other, outside the graph (allowed on any Var, leaves too).

        Returns:
            self, with its value changed in place and its version increased by 1.
        """
        np.multiply(self.value, _value(other), out=self.value)
        self.version += 1
        return self

    # Operators and methods only forward to the module's op functions.
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return neg(self)

    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def tanh(self):
        return tanh(self)

    def sigmoid(self):
        return sigmoid(self)

    def relu(self):
        return relu(self)

    def sum(self, axis=None, keepdims=False):
        return sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return mean(self, axis, keepdims)

    @property
    def T(self):
        return transpose(self)

    def __repr__(self):
        return f"Var({self.value!r}, op={self.op!r}, version={self.version})"


def _value(x):
    """The array an operand stands for: a Var's own value, or a float64 copy of a constant."""
    return x.value if isinstance(x, Var) else np.array(x, dtype=np.float64)


class Saved:
    """One value kept for backward (the skeleton's helper; the ops here use Var._saved)."""

    def __init__(self, x):
        """Q3.4 — keep x for backward: a Var with its current version, or a constant copy."""
        if isinstance(x, Var):
            self._var, self._version, self._const = x, x.version, None
        else:
            self._var, self._version = None, None
            self._const = np.array(x, dtype=np.float64)

    def unpack(self):
        """Q3.4 — the kept value; raises InplaceError if the Var changed since it was saved."""
        if self._var is None:
            return self._const
        if self._var.version != self._version:
            raise InplaceError("a value saved for backward was modified in place")
        return self._var.value


def unbroadcast(grad, shape):
    """Q3.3 — sum a gradient over the axes broadcasting added, back to an operand's shape.

    Args:
        grad: gradient of the broadcast result, an array.
        shape: the operand's shape.

    Returns:
        array of `shape`.
    """
    g = np.asarray(grad, dtype=np.float64)
    shape = tuple(shape)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)


def _make(value, operands, op, saved=()):
    """A new op result; `saved` lists the Vars its backward reads (recorded with versions)."""
    out = Var(value, operands, op)
    out._saved = [(v, v.version) for v in saved]
    return out


def _accumulate(target, contribution):
    """target.grad += contribution summed back to target's shape (if target is a Var)."""
    if isinstance(target, Var):
        target.grad += unbroadcast(contribution, target.value.shape)


def add(a, b):
    """Q3.2 — a + b, elementwise with broadcasting. Saves nothing."""
    out = _make(_value(a) + _value(b), (a, b), "add")

    def _backward():
        _accumulate(a, out.grad)
        _accumulate(b, out.grad)

    out._backward = _backward
    return out


def sub(a, b):
    """Q3.2 — a − b, elementwise with broadcasting. Saves nothing."""
    out = _make(_value(a) - _value(b), (a, b), "sub")

    def _backward():
        _accumulate(a, out.grad)
        _accumulate(b, -out.grad)

    out._backward = _backward
    return out


def mul(a, b):
    """Q3.2 — a * b, elementwise with broadcasting.

    Saves both operands when both are Vars; with a constant, keeps only a copy of it.
    """
    av, bv = _value(a), _value(b)
    both = isinstance(a, Var) and isinstance(b, Var)
    out = _make(av * bv, (a, b), "mul", saved=(a, b) if both else ())
    # a constant operand is already a private copy (made by _value); a Var operand is read
    # through its current value at backward time (guarded by the version check)
    const_a = None if isinstance(a, Var) else av
    const_b = None if isinstance(b, Var) else bv

    def _backward():
        a_now = a.value if const_a is None else const_a
        b_now = b.value if const_b is None else const_b
        _accumulate(a, out.grad * b_now)
        _accumulate(b, out.grad * a_now)

    out._backward = _backward
    return out


def div(a, b):
    """Q3.2 — a / b, elementwise with broadcasting.

    Saves the divisor when it is a Var, and the dividend too when both are Vars; with a
    constant divisor, keeps only a copy of it.
    """
    av, bv = _value(a), _value(b)
    a_var, b_var = isinstance(a, Var), isinstance(b, Var)
    saved = (a, b) if (a_var and b_var) else ((b,) if b_var else ())
    out = _make(av / bv, (a, b), "div", saved=saved)
    const_a = None if a_var else av
    const_b = None if b_var else bv

    def _backward():
        b_now = b.value if b_var else const_b
        if a_var:
            _accumulate(a, out.grad / b_now)
        if b_var:
            a_now = a.value if a_var else const_a
            _accumulate(b, -out.grad * a_now / (b_now * b_now))

    out._backward = _backward
    return out


def matmul(a, b):
    """Q3.2 — matrix product a @ b of two 2-D operands.

    Saves both operands when both are Vars; with a constant, keeps only a copy of it.
    """
    av, bv = _value(a), _value(b)
    both = isinstance(a, Var) and isinstance(b, Var)
    out = _make(av @ bv, (a, b), "matmul", saved=(a, b) if both else ())
    const_a = None if isinstance(a, Var) else av
    const_b = None if isinstance(b, Var) else bv

    def _backward():
        a_now = a.value if const_a is None else const_a
        b_now = b.value if const_b is None else const_b
        if isinstance(a, Var):
            a.grad += out.grad @ np.swapaxes(b_now, -1, -2)
        if isinstance(b, Var):
            b.grad += np.swapaxes(a_now, -1, -2) @ out.grad

    out._backward = _backward
    return out


def neg(x):
    """Q3.2 — −x. Saves nothing."""
    out = _make(-_value(x), (x,), "neg")

    def _backward():
        _accumulate(x, -out.grad)

    out._backward = _backward
    return out


def exp(x):
    """Q3.2 — exp(x), elementwise. Saves its output."""
    out = _make(np.exp(_value(x)), (x,), "exp")
    out._saved = [(out, out.version)]

    def _backward():
        _accumulate(x, out.grad * out.value)

    out._backward = _backward
    return out


def log(x):
    """Q3.2 — natural logarithm, elementwise. Saves its input."""
    out = _make(np.log(_value(x)), (x,), "log", saved=(x,))

    def _backward():
        _accumulate(x, out.grad / x.value)

    out._backward = _backward
    return out


def tanh(x):
    """Q3.2 — hyperbolic tangent, elementwise. Saves its output."""
    out = _make(np.tanh(_value(x)), (x,), "tanh")
    out._saved = [(out, out.version)]

    def _backward():
        t = out.value
        _accumulate(x, out.grad * (1.0 - t * t))

    out._backward = _backward
    return out


def _stable_sigmoid(v):
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(v))            # in (0, 1]: no overflow
        return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x):
    """Q3.2 — logistic sigmoid, elementwise, no overflow for large |x|. Saves its output."""
    out = _make(_stable_sigmoid(_value(x)), (x,), "sigmoid")
    out._saved = [(out, out.version)]

    def _backward():
        s = out.value
        _accumulate(x, out.grad * s * (1.0 - s))

    out._backward = _backward
    return out


def relu(x):
    """Q3.2 — max(x, 0), elementwise (gradient 0 at x = 0, as torch). Saves its output."""
    v = _value(x)
    out = _make(np.where(v > 0, v, 0.0), (x,), "relu")
    out._saved = [(out, out.version)]

    def _backward():
        _accumulate(x, out.grad * (out.value > 0))

    out._backward = _backward
    return out


def _normalise_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(a % ndim for a in axis)) if ndim else ()
    return (axis % ndim,) if ndim else ()


def _spread(grad, x_shape, axes, keepdims):
    """Broadcast the gradient of a reduction back over the reduced axes."""
    g = np.asarray(grad, dtype=np.float64)
    if not keepdims:
        for a in axes:                     # ascending: each insertion keeps later indices right
            g = np.expand_dims(g, a)
    return np.broadcast_to(g, x_shape)


def sum(x, axis=None, keepdims=False):
    """Q3.2 — sum of the entries of x, over all axes or over `axis`, as numpy's sum."""
    v = _value(x)
    out = _make(np.sum(v, axis=axis, keepdims=keepdims), (x,), "sum")
    axes = _normalise_axes(axis, v.ndim)

    def _backward():
        _accumulate(x, _spread(out.grad, v.shape, axes, keepdims))

    out._backward = _backward
    return out


def mean(x, axis=None, keepdims=False):
    """Q3.2 — mean of the entries of x, over all axes or over `axis`, as numpy's mean."""
    v = _value(x)
    out = _make(np.mean(v, axis=axis, keepdims=keepdims), (x,), "mean")
    axes = _normalise_axes(axis, v.ndim)
    count = 1
    for a in axes:
        count *= v.shape[a]

    def _backward():
        _accumulate(x, _spread(out.grad, v.shape, axes, keepdims) / count)

    out._backward = _backward
    return out


def transpose(x):
    """Q3.2 — transpose (all axes reversed, as numpy's .T); a new array, not a view."""
    out = _make(np.ascontiguousarray(_value(x).T), (x,), "transpose")

    def _backward():
        _accumulate(x, out.grad.T)

    out._backward = _backward
    return out


def topological_order(out):
    """Q3.2 — every node of the graph ending at `out`, each listed after all its parents.

    Recursive depth-first search in post-order; nodes are told apart by identity.

    Returns:
        list of Vars: each reachable node exactly once, parents first, out last.
    """
    order, seen = [], set()

    def visit(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.parents:
            visit(parent)
        order.append(node)

    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 100_000))
    try:
        visit(out)
    finally:
        sys.setrecursionlimit(old_limit)
    return order
