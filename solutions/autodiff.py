"""Part 3 — reverse-mode automatic differentiation over numpy arrays, written with numpy only.

A `Var` wraps a float64 array. Every operation on Vars returns a new Var that remembers its
operands (`.parents`) and how to send a gradient back to them, so evaluating an expression
builds its computation graph; `out.backward()` then walks the graph from `out` back to the leaves
and fills every node's `.grad` with ∂out/∂node.

Each op keeps its forward and its backward side by side, as in micrograd. For instance, a sine
(not part of the exam) would read:

    def sin(x):
        out = Var(np.sin(x.value), (x,), "sin")    # the result, its operands, the op's name
        keep_x = Saved(x)                          # sin' = cos needs the input at backward time

        def _backward():                           # runs once out.grad is complete
            x.grad += out.grad * np.cos(keep_x.unpack())

        out._backward = _backward
        return out

Conventions:
- An operand is a Var or a constant (a Python number or a numpy array). Constants are copied,
  are not parents and never receive a gradient. Operators accept a constant on either side:
  `2 * x`, `x - 1` and `np.ones(3) + x` are all Vars.
- Broadcasting follows numpy. What must work, forward and backward: a scalar (a number or a 0-d
  Var, as in `x - x.mean()`) with any Var, and a 1-D bias added to every row of a 2-D Var. The
  gradient that reaches a broadcast operand is summed back to that operand's shape (`unbroadcast`).
- Gradients accumulate with `+=`: a Var used several times receives the sum of its contributions.
- A Var owns its value: `Var(value)` copies it and every op's result is a new array (`x.T` too).
- Saved values (Q3.4): an op's backward reads the values of Vars (its operands or its output)
  only through `Saved` objects made in the forward, and keeps only what its formula needs.
  `x.add_` and `x.mul_` change `x.value` in place and add 1 to `x.version`; a backward that needs
  a Var changed after it was saved raises InplaceError, as PyTorch does.
- numpy only: torch is not available when this module is graded. An unused `import torch`
  costs nothing; a question whose checks run into torch scores 0.
"""

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

        A new Var's `_backward` does nothing, which is right for a leaf; an op replaces it by a
        closure that adds its result's gradient into its parents' .grad.
        """
        ### BEGIN SOLUTION
        self.value = np.array(value, dtype=np.float64)
        self.grad = None
        self.parents = tuple(x for x in operands if isinstance(x, Var))
        self.op = op
        self.version = 0
        self._backward = lambda: None
        ### END SOLUTION

    def backward(self):
        """Q3.3 — reverse mode: set .grad of every node of the graph that ends at this Var.

        Every node reachable from self (leaves and intermediates included) gets
        .grad = ∂self/∂node, an array of the node's shape. Gradients start at zeros for every
        node reached, and at 1 for self; the nodes' `_backward` closures then run in reverse
        topological order, so that a node's gradient is complete before it is passed on to its
        parents. A node used several times (fan-out) receives the sum of its contributions.

        Raises:
            ValueError: if self holds more than one element.
            InplaceError: from a closure whose saved value was changed in place (Q3.4).
        """
        ### BEGIN SOLUTION
        if self.value.size != 1:
            raise ValueError(f"backward needs a single-element Var, got shape {self.value.shape}")
        order = topological_order(self)
        for node in order:
            node.grad = np.zeros_like(node.value)
        self.grad = np.ones_like(self.value)
        for node in reversed(order):
            node._backward()
        ### END SOLUTION

    def add_(self, other):
        """Q3.4 — in place: value += other, outside the graph (allowed on any Var, leaves too).

        Args:
            other: Var, number or array broadcastable to value's shape (its value is used).

        Returns:
            self, with its value changed in place and its version increased by 1.
        """
        ### BEGIN SOLUTION
        self.value += _value(other)
        self.version += 1
        return self
        ### END SOLUTION

    def mul_(self, other):
        """Q3.4 — in place: value *= other, outside the graph (allowed on any Var, leaves too).

        Args:
            other: Var, number or array broadcastable to value's shape (its value is used).

        Returns:
            self, with its value changed in place and its version increased by 1.
        """
        ### BEGIN SOLUTION
        self.value *= _value(other)
        self.version += 1
        return self
        ### END SOLUTION

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
    """One value an op keeps for its backward, like minitorch's ctx.save_for_backward.

    A Var is kept together with its version at save time, so that backward can tell whether it
    was changed in place since; a constant is kept as a float64 copy, which nothing can change.
    """

    def __init__(self, x):
        """Q3.4 — keep x for backward.

        Args:
            x: a Var (remember it and its current version) or a constant (keep a copy).
        """
        ### BEGIN SOLUTION
        self.is_var = isinstance(x, Var)
        self.x = x if self.is_var else _value(x)
        self.version = x.version if self.is_var else None
        ### END SOLUTION

    def unpack(self):
        """Q3.4 — the kept value, for a backward formula.

        Returns:
            the Var's current .value (not a copy taken at save time), or the constant's copy.

        Raises:
            InplaceError: if the Var's version is no longer the one it had when it was saved.
        """
        ### BEGIN SOLUTION
        if not self.is_var:
            return self.x
        if self.x.version != self.version:
            raise InplaceError(
                f"a Var needed for backward was modified in place: saved at version "
                f"{self.version}, now at version {self.x.version}"
            )
        return self.x.value
        ### END SOLUTION


def unbroadcast(grad, shape):
    """Q3.3 — sum a gradient over the axes broadcasting added, back to an operand's shape.

    If numpy broadcast an operand of `shape` to grad.shape in the forward, every copy of an
    entry received part of the gradient, so the entry's gradient is their sum: over the leading
    axes broadcasting prepended, and over the axes where `shape` has size 1.

    Args:
        grad: gradient of the broadcast result, an array.
        shape: the operand's shape (for instance () for a scalar, (H,) for a bias).

    Returns:
        array of `shape`.
    """
    ### BEGIN SOLUTION
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1)
    return grad.sum(axis=axes).reshape(shape)
    ### END SOLUTION


def add(a, b):
    """Q3.2 — a + b, elementwise with broadcasting.

    Backward: both operands receive out.grad, summed back to their shapes. Saves nothing.

    Args:
        a, b: Var or constant (at least one a Var).

    Returns:
        a new Var whose parents are the Var operands.
    """
    ### BEGIN SOLUTION
    out = Var(_value(a) + _value(b), (a, b), "add")
    ### END SOLUTION

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        if isinstance(a, Var):
            a.grad += unbroadcast(out.grad, a.value.shape)
        if isinstance(b, Var):
            b.grad += unbroadcast(out.grad, b.value.shape)
        ### END SOLUTION

    out._backward = _backward
    return out


def sub(a, b):
    """Q3.2 — a − b, elementwise with broadcasting.

    Backward: a receives out.grad and b receives −out.grad, summed back to their shapes.
    Saves nothing.

    Args:
        a, b: Var or constant (at least one a Var).

    Returns:
        a new Var whose parents are the Var operands.
    """
    ### BEGIN SOLUTION
    out = Var(_value(a) - _value(b), (a, b), "sub")
    ### END SOLUTION

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        if isinstance(a, Var):
            a.grad += unbroadcast(out.grad, a.value.shape)
        if isinstance(b, Var):
            b.grad -= unbroadcast(out.grad, b.value.shape)
        ### END SOLUTION

    out._backward = _backward
    return out


def mul(a, b):
    """Q3.2 — a * b, elementwise with broadcasting.

    Backward: a receives out.grad * b and b receives out.grad * a, summed back to their shapes.
    Saves (Q3.4) both operands when both are Vars, since each one's gradient reads the other;
    with a constant operand, it keeps only a copy of the constant and saves no Var.

    Args:
        a, b: Var or constant (at least one a Var).

    Returns:
        a new Var whose parents are the Var operands.
    """
    ### BEGIN SOLUTION
    out = Var(_value(a) * _value(b), (a, b), "mul")
    ### END SOLUTION

    def _save():
        """Q3.4 — what mul's backward will read, saved now: returns a, b (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        # Each operand is kept only if the other one needs a gradient.
        return Saved(a) if isinstance(b, Var) else None, Saved(b) if isinstance(a, Var) else None
        ### END SOLUTION

    keep_a, keep_b = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        if isinstance(a, Var):
            a.grad += unbroadcast(out.grad * keep_b.unpack(), a.value.shape)
        if isinstance(b, Var):
            b.grad += unbroadcast(out.grad * keep_a.unpack(), b.value.shape)
        ### END SOLUTION

    out._backward = _backward
    return out


def div(a, b):
    """Q3.2 — a / b, elementwise with broadcasting.

    Backward: a receives out.grad / b and b receives −out.grad * a / b², summed back to their
    shapes. Saves (Q3.4) the divisor b when it is a Var, and the dividend a too when both are
    Vars; with a constant divisor, it keeps only a copy of the constant and saves no Var.

    Args:
        a: dividend, Var or constant.
        b: divisor, Var or constant (at least one of a and b a Var).

    Returns:
        a new Var whose parents are the Var operands.
    """
    ### BEGIN SOLUTION
    out = Var(_value(a) / _value(b), (a, b), "div")
    ### END SOLUTION

    def _save():
        """Q3.4 — what div's backward will read, saved now: returns b, a (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        # b: both gradients read the divisor
        # a: only b's gradient reads the dividend
        return Saved(b), Saved(a) if isinstance(b, Var) else None
        ### END SOLUTION

    keep_b, keep_a = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        b_value = keep_b.unpack()
        if isinstance(a, Var):
            a.grad += unbroadcast(out.grad / b_value, a.value.shape)
        if isinstance(b, Var):
            b.grad -= unbroadcast(out.grad * keep_a.unpack() / b_value**2, b.value.shape)
        ### END SOLUTION

    out._backward = _backward
    return out


def matmul(a, b):
    """Q3.2 — matrix product a @ b of two 2-D operands.

    Backward: a receives out.grad @ bᵀ and b receives aᵀ @ out.grad. Saves (Q3.4) both operands
    when both are Vars, since each one's gradient reads the other; with a constant operand, it
    keeps only a copy of the constant and saves no Var.

    Args:
        a: (n, k) Var or constant.
        b: (k, m) Var or constant (at least one of a and b a Var).

    Returns:
        a new (n, m) Var whose parents are the Var operands.
    """
    ### BEGIN SOLUTION
    out = Var(_value(a) @ _value(b), (a, b), "matmul")
    ### END SOLUTION

    def _save():
        """Q3.4 — what matmul's backward will read, saved now: returns a, b (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        # Each operand is kept only if the other one needs a gradient.
        return Saved(a) if isinstance(b, Var) else None, Saved(b) if isinstance(a, Var) else None
        ### END SOLUTION

    keep_a, keep_b = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        if isinstance(a, Var):
            a.grad += out.grad @ keep_b.unpack().T
        if isinstance(b, Var):
            b.grad += keep_a.unpack().T @ out.grad
        ### END SOLUTION

    out._backward = _backward
    return out


def neg(x):
    """Q3.2 — −x.

    Backward: x receives −out.grad. Saves nothing.

    Args:
        x: Var.

    Returns:
        a new Var of x's shape with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(-x.value, (x,), "neg")
    ### END SOLUTION

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        x.grad -= out.grad
        ### END SOLUTION

    out._backward = _backward
    return out


def exp(x):
    """Q3.2 — exp(x), elementwise.

    Backward: x receives out.grad * exp(x), which is the output itself. Saves (Q3.4) its output.

    Args:
        x: Var.

    Returns:
        a new Var of x's shape with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(np.exp(x.value), (x,), "exp")
    ### END SOLUTION

    def _save():
        """Q3.4 — what exp's backward will read, saved now: returns out (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        return Saved(out)
        ### END SOLUTION

    keep_out = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        x.grad += out.grad * keep_out.unpack()
        ### END SOLUTION

    out._backward = _backward
    return out


def log(x):
    """Q3.2 — natural logarithm, elementwise.

    Backward: x receives out.grad / x. Saves (Q3.4) its input x.

    Args:
        x: Var with positive entries.

    Returns:
        a new Var of x's shape with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(np.log(x.value), (x,), "log")
    ### END SOLUTION

    def _save():
        """Q3.4 — what log's backward will read, saved now: returns x (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        return Saved(x)
        ### END SOLUTION

    keep_x = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        x.grad += out.grad / keep_x.unpack()
        ### END SOLUTION

    out._backward = _backward
    return out


def tanh(x):
    """Q3.2 — hyperbolic tangent, elementwise.

    Backward: x receives out.grad * (1 − tanh(x)²), read from the output. Saves (Q3.4) its
    output.

    Args:
        x: Var.

    Returns:
        a new Var of x's shape with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(np.tanh(x.value), (x,), "tanh")
    ### END SOLUTION

    def _save():
        """Q3.4 — what tanh's backward will read, saved now: returns out (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        return Saved(out)
        ### END SOLUTION

    keep_out = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        x.grad += out.grad * (1.0 - keep_out.unpack() ** 2)
        ### END SOLUTION

    out._backward = _backward
    return out


def sigmoid(x):
    """Q3.2 — logistic sigmoid 1 / (1 + exp(−x)), elementwise, with no overflow for large |x|.

    Backward: x receives out.grad * σ(x)(1 − σ(x)), read from the output. Saves (Q3.4) its
    output.

    Args:
        x: Var.

    Returns:
        a new Var of x's shape, entries in [0, 1], with parents (x,).
    """
    ### BEGIN SOLUTION
    # σ(x) = exp(−log(1 + exp(−x))); logaddexp evaluates log(1 + exp(−x)) without overflow.
    out = Var(np.exp(-np.logaddexp(0.0, -x.value)), (x,), "sigmoid")
    ### END SOLUTION

    def _save():
        """Q3.4 — what sigmoid's backward will read, saved now: returns out (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        return Saved(out)
        ### END SOLUTION

    keep_out = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        s = keep_out.unpack()
        x.grad += out.grad * s * (1.0 - s)
        ### END SOLUTION

    out._backward = _backward
    return out


def relu(x):
    """Q3.2 — max(x, 0), elementwise.

    Backward: x receives out.grad where the output is positive and 0 elsewhere (0 at x = 0, as
    torch). Saves (Q3.4) its output.

    Args:
        x: Var.

    Returns:
        a new Var of x's shape with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(np.maximum(x.value, 0.0), (x,), "relu")
    ### END SOLUTION

    def _save():
        """Q3.4 — what relu's backward will read, saved now: returns out (a Saved, or None
        when nothing of it is needed)."""
        ### BEGIN SOLUTION
        return Saved(out)
        ### END SOLUTION

    keep_out = _save()

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        x.grad += out.grad * (keep_out.unpack() > 0)
        ### END SOLUTION

    out._backward = _backward
    return out


def sum(x, axis=None, keepdims=False):
    """Q3.2 — sum of the entries of x, over all axes or over `axis`, as numpy's sum.

    Backward: every entry of x receives the gradient of the sum it went into. Saves nothing.

    Args:
        x: Var.
        axis: None (all entries), an int or a tuple of ints.
        keepdims: keep the reduced axes with size 1.

    Returns:
        a new Var (0-d for axis=None without keepdims) with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(np.sum(x.value, axis=axis, keepdims=keepdims), (x,), "sum")
    ### END SOLUTION

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        # Put the reduced axes back (size 1), then broadcast over them.
        grad = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
        x.grad += np.broadcast_to(grad, x.value.shape)
        ### END SOLUTION

    out._backward = _backward
    return out


def mean(x, axis=None, keepdims=False):
    """Q3.2 — mean of the entries of x, over all axes or over `axis`, as numpy's mean.

    Backward: every entry of x receives the gradient of its mean divided by the number of
    entries averaged. Saves nothing.

    Args:
        x: Var.
        axis: None (all entries), an int or a tuple of ints.
        keepdims: keep the reduced axes with size 1.

    Returns:
        a new Var (0-d for axis=None without keepdims) with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(np.mean(x.value, axis=axis, keepdims=keepdims), (x,), "mean")
    count = x.value.size / out.value.size
    ### END SOLUTION

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        grad = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
        x.grad += np.broadcast_to(grad, x.value.shape) / count
        ### END SOLUTION

    out._backward = _backward
    return out


def transpose(x):
    """Q3.2 — transpose (all axes reversed, as numpy's .T); `x.T` calls it.

    The result owns a new array: it is a copy, not a view of x's value.
    Backward: x receives out.gradᵀ. Saves nothing.

    Args:
        x: Var, usually 2-D (n, m).

    Returns:
        a new Var, (m, n) for a 2-D x, with parents (x,).
    """
    ### BEGIN SOLUTION
    out = Var(x.value.T, (x,), "transpose")  # Var copies, so the view is not shared
    ### END SOLUTION

    def _backward():
        """Q3.3 — add out.grad's contribution to the .grad of each Var operand."""
        ### BEGIN SOLUTION
        x.grad += out.grad.T
        ### END SOLUTION

    out._backward = _backward
    return out


def topological_order(out):
    """Q3.2 — every node of the graph ending at `out`, each listed after all its parents.

    Args:
        out: Var.

    Returns:
        list of Vars: each node reachable from out through .parents (leaves included) exactly
        once, every node after all of its parents, out last. Nodes are told apart by identity
        (`id`), never by value.
    """
    ### BEGIN SOLUTION
    # Depth-first search with an explicit stack, so a long chain of ops cannot hit Python's
    # recursion limit. A node is appended once all of its parents have been.
    order, visited = [], set()
    stack = [(out, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent in node.parents)
    return order
    ### END SOLUTION
