"""Part 3 — reverse-mode autodiff over numpy arrays (held-out corpus, style: recursion and loops).

The topological order is a recursive depth-first search; gradients are summed back to an
operand's shape axis by axis in an explicit loop; reductions are undone with explicit
reshapes. Each op's closure adds into its parents' .grad with +=.
"""

import math

import numpy as np


class InplaceError(RuntimeError):
    """A value saved for backward was changed in place after it was saved."""


class Var:
    __array_ufunc__ = None

    def __init__(self, value, operands=(), op=""):
        self.value = np.array(value, dtype=np.float64)
        self.grad = None
        parents = []
        for operand in operands:
            if isinstance(operand, Var):
                parents.append(operand)
        self.parents = tuple(parents)
        self.op = op
        self.version = 0

        def _leaf_backward():
            pass

        self._backward = _leaf_backward

    def backward(self):
        if self.value.size > 1 or self.value.size == 0:
            raise ValueError("out.backward() is only defined for a one-element Var")
        graph = topological_order(self)
        for node in graph:
            node.grad = np.zeros(node.value.shape, dtype=np.float64)
        self.grad[...] = 1.0
        i = len(graph) - 1
        while i >= 0:
            graph[i]._backward()
            i -= 1

    def add_(self, other):
        other_value = other.value if isinstance(other, Var) else np.asarray(other, dtype=np.float64)
        self.value += other_value
        self.version += 1
        return self

    def mul_(self, other):
        other_value = other.value if isinstance(other, Var) else np.asarray(other, dtype=np.float64)
        self.value *= other_value
        self.version += 1
        return self

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
    return x.value if isinstance(x, Var) else np.array(x, dtype=np.float64)


class Saved:
    def __init__(self, x):
        self.is_var = isinstance(x, Var)
        if self.is_var:
            self.node = x
            self.version_at_save = x.version
        else:
            self.node = np.array(x, dtype=np.float64)
            self.version_at_save = 0

    def unpack(self):
        if not self.is_var:
            return self.node
        if self.node.version == self.version_at_save:
            return self.node.value
        raise InplaceError("saved Var was changed in place after it was saved "
                           f"(version {self.version_at_save} -> {self.node.version})")


def unbroadcast(grad, shape):
    g = np.array(grad, dtype=np.float64)
    while len(g.shape) > len(shape):
        g = np.sum(g, axis=0)
    for axis in range(len(shape)):
        if shape[axis] == 1 and g.shape[axis] > 1:
            g = np.sum(g, axis=axis, keepdims=True)
    return np.reshape(g, shape)


def add(a, b):
    a_val, b_val = _value(a), _value(b)
    out = Var(a_val + b_val, (a, b), "add")

    def _backward():
        for operand, val in ((a, a_val), (b, b_val)):
            if isinstance(operand, Var):
                operand.grad += unbroadcast(out.grad, val.shape)

    out._backward = _backward
    return out


def sub(a, b):
    a_val, b_val = _value(a), _value(b)
    out = Var(a_val - b_val, (a, b), "sub")

    def _backward():
        for operand, val, sign in ((a, a_val, 1.0), (b, b_val, -1.0)):
            if isinstance(operand, Var):
                operand.grad += unbroadcast(sign * out.grad, val.shape)

    out._backward = _backward
    return out


def mul(a, b):
    a_val, b_val = _value(a), _value(b)
    out = Var(a_val * b_val, (a, b), "mul")
    a_is_var, b_is_var = isinstance(a, Var), isinstance(b, Var)
    saved_for_a = Saved(b) if a_is_var else None
    saved_for_b = Saved(a) if b_is_var else None

    def _backward():
        if a_is_var:
            a.grad += unbroadcast(out.grad * saved_for_a.unpack(), a_val.shape)
        if b_is_var:
            b.grad += unbroadcast(out.grad * saved_for_b.unpack(), b_val.shape)

    out._backward = _backward
    return out


def div(a, b):
    a_val, b_val = _value(a), _value(b)
    out = Var(a_val / b_val, (a, b), "div")
    saved_b = Saved(b)
    saved_a = Saved(a) if isinstance(b, Var) else None

    def _backward():
        denom = saved_b.unpack()
        if isinstance(a, Var):
            a.grad += unbroadcast(out.grad / denom, a_val.shape)
        if isinstance(b, Var):
            b.grad += unbroadcast(-out.grad * saved_a.unpack() / (denom * denom), b_val.shape)

    out._backward = _backward
    return out


def matmul(a, b):
    a_val, b_val = _value(a), _value(b)
    out = Var(a_val @ b_val, (a, b), "matmul")
    saved_for_a = Saved(b) if isinstance(a, Var) else None
    saved_for_b = Saved(a) if isinstance(b, Var) else None

    def _backward():
        if saved_for_a is not None:
            a.grad += out.grad @ saved_for_a.unpack().T
        if saved_for_b is not None:
            b.grad += saved_for_b.unpack().T @ out.grad

    out._backward = _backward
    return out


def neg(x):
    out = Var(-x.value, (x,), "neg")

    def _backward():
        x.grad -= out.grad

    out._backward = _backward
    return out


def exp(x):
    out = Var(np.exp(x.value), (x,), "exp")
    saved = Saved(out)

    def _backward():
        x.grad += out.grad * saved.unpack()

    out._backward = _backward
    return out


def log(x):
    out = Var(np.log(x.value), (x,), "log")
    saved = Saved(x)

    def _backward():
        x.grad += out.grad / saved.unpack()

    out._backward = _backward
    return out


def tanh(x):
    out = Var(np.tanh(x.value), (x,), "tanh")
    saved = Saved(out)

    def _backward():
        t = saved.unpack()
        x.grad += out.grad * (1.0 - t ** 2)

    out._backward = _backward
    return out


def sigmoid(x):
    v = x.value
    s = np.empty(v.shape, dtype=np.float64)
    flat_v, flat_s = v.reshape(-1), s.reshape(-1)
    for i in range(flat_v.size):
        t = float(flat_v[i])
        if t >= 0:
            flat_s[i] = 1.0 / (1.0 + math.exp(-t))
        else:
            e = math.exp(t)
            flat_s[i] = e / (1.0 + e)
    out = Var(s, (x,), "sigmoid")
    saved = Saved(out)

    def _backward():
        y = saved.unpack()
        x.grad += out.grad * y * (1.0 - y)

    out._backward = _backward
    return out


def relu(x):
    out = Var(np.where(x.value > 0, x.value, 0.0), (x,), "relu")
    saved = Saved(out)

    def _backward():
        mask = saved.unpack() > 0
        x.grad += np.where(mask, out.grad, 0.0)

    out._backward = _backward
    return out


def _axes(axis, ndim):
    if axis is None:
        return list(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return sorted(a + ndim if a < 0 else a for a in axis)


def sum(x, axis=None, keepdims=False):
    shape = x.value.shape
    out = Var(np.sum(x.value, axis=axis, keepdims=keepdims), (x,), "sum")
    axes = _axes(axis, len(shape))

    def _backward():
        g = np.asarray(out.grad)
        if not keepdims:
            for a in axes:
                g = np.expand_dims(g, a)
        x.grad += g * np.ones(shape)

    out._backward = _backward
    return out


def mean(x, axis=None, keepdims=False):
    shape = x.value.shape
    out = Var(np.mean(x.value, axis=axis, keepdims=keepdims), (x,), "mean")
    axes = _axes(axis, len(shape))
    count = 1
    for a in axes:
        count *= shape[a]

    def _backward():
        g = np.asarray(out.grad)
        if not keepdims:
            for a in axes:
                g = np.expand_dims(g, a)
        x.grad += g * np.ones(shape) / count

    out._backward = _backward
    return out


def transpose(x):
    out = Var(np.array(x.value.T), (x,), "transpose")

    def _backward():
        x.grad += np.array(out.grad).T

    out._backward = _backward
    return out


def topological_order(out):
    """Recursive depth-first search: parents are emitted before the node itself."""
    order = []
    visited = set()

    def visit(node):
        if id(node) in visited:
            return
        visited.add(id(node))
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(out)
    return order
