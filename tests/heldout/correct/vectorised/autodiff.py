"""Part 3 — reverse-mode autodiff over numpy arrays (held-out corpus, style: closures, iterative DFS).

Every op builds its output Var, keeps what its backward formula needs in Saved objects, and
installs a closure that adds its output's gradient into its parents' .grad.
"""

import numpy as np


class InplaceError(RuntimeError):
    """A value saved for backward was changed in place after it was saved."""


class Var:
    __array_ufunc__ = None

    def __init__(self, value, operands=(), op=""):
        self.value = np.array(value, dtype=np.float64)          # always a fresh copy
        self.grad = None
        self.parents = tuple(o for o in operands if isinstance(o, Var))
        self.op = op
        self.version = 0
        self._backward = lambda: None

    def backward(self):
        if self.value.size != 1:
            raise ValueError("backward needs a single-element output")
        order = topological_order(self)
        for node in order:
            node.grad = np.zeros_like(node.value)
        self.grad = np.ones_like(self.value)
        for node in reversed(order):
            node._backward()

    def add_(self, other):
        self.value += _value(other)
        self.version += 1
        return self

    def mul_(self, other):
        self.value *= _value(other)
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
        if isinstance(x, Var):
            self.var = x
            self.saved_version = x.version
            self.const = None
        else:
            self.var = None
            self.saved_version = None
            self.const = np.array(x, dtype=np.float64)

    def unpack(self):
        if self.var is None:
            return self.const
        if self.var.version != self.saved_version:
            raise InplaceError(
                f"a value saved for backward ({self.var.op or 'leaf'}) was modified in place: "
                f"version {self.var.version}, saved at version {self.saved_version}"
            )
        return self.var.value


def unbroadcast(grad, shape):
    grad = np.asarray(grad, dtype=np.float64)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad.reshape(shape)


def _is_var(x):
    return isinstance(x, Var)


def add(a, b):
    av, bv = _value(a), _value(b)
    out = Var(av + bv, (a, b), "add")

    def _backward():
        if _is_var(a):
            a.grad += unbroadcast(out.grad, av.shape)
        if _is_var(b):
            b.grad += unbroadcast(out.grad, bv.shape)

    out._backward = _backward
    return out


def sub(a, b):
    av, bv = _value(a), _value(b)
    out = Var(av - bv, (a, b), "sub")

    def _backward():
        if _is_var(a):
            a.grad += unbroadcast(out.grad, av.shape)
        if _is_var(b):
            b.grad += unbroadcast(-out.grad, bv.shape)

    out._backward = _backward
    return out


def mul(a, b):
    av, bv = _value(a), _value(b)
    out = Var(av * bv, (a, b), "mul")
    keep_b = Saved(b) if _is_var(a) else None     # a's gradient reads b
    keep_a = Saved(a) if _is_var(b) else None     # b's gradient reads a
    a_shape, b_shape = av.shape, bv.shape

    def _backward():
        if _is_var(a):
            a.grad += unbroadcast(out.grad * keep_b.unpack(), a_shape)
        if _is_var(b):
            b.grad += unbroadcast(out.grad * keep_a.unpack(), b_shape)

    out._backward = _backward
    return out


def div(a, b):
    av, bv = _value(a), _value(b)
    out = Var(av / bv, (a, b), "div")
    keep_b = Saved(b)                               # every gradient of a / b reads b
    keep_a = Saved(a) if _is_var(b) else None       # b's gradient reads a
    a_shape, b_shape = av.shape, bv.shape

    def _backward():
        if _is_var(a):
            a.grad += unbroadcast(out.grad / keep_b.unpack(), a_shape)
        if _is_var(b):
            bb = keep_b.unpack()
            b.grad += unbroadcast(-out.grad * keep_a.unpack() / (bb * bb), b_shape)

    out._backward = _backward
    return out


def matmul(a, b):
    av, bv = _value(a), _value(b)
    out = Var(av @ bv, (a, b), "matmul")
    keep_b = Saved(b) if _is_var(a) else None
    keep_a = Saved(a) if _is_var(b) else None

    def _backward():
        if _is_var(a):
            a.grad += out.grad @ keep_b.unpack().T
        if _is_var(b):
            b.grad += keep_a.unpack().T @ out.grad

    out._backward = _backward
    return out


def neg(x):
    out = Var(-x.value, (x,), "neg")

    def _backward():
        x.grad += -out.grad

    out._backward = _backward
    return out


def exp(x):
    out = Var(np.exp(x.value), (x,), "exp")
    keep = Saved(out)

    def _backward():
        x.grad += out.grad * keep.unpack()

    out._backward = _backward
    return out


def log(x):
    out = Var(np.log(x.value), (x,), "log")
    keep = Saved(x)

    def _backward():
        x.grad += out.grad / keep.unpack()

    out._backward = _backward
    return out


def tanh(x):
    out = Var(np.tanh(x.value), (x,), "tanh")
    keep = Saved(out)

    def _backward():
        y = keep.unpack()
        x.grad += out.grad * (1.0 - y * y)

    out._backward = _backward
    return out


def _stable_sigmoid(v):
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(v))
        return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x):
    out = Var(_stable_sigmoid(x.value), (x,), "sigmoid")
    keep = Saved(out)

    def _backward():
        s = keep.unpack()
        x.grad += out.grad * s * (1.0 - s)

    out._backward = _backward
    return out


def relu(x):
    out = Var(np.maximum(x.value, 0.0), (x,), "relu")
    keep = Saved(out)

    def _backward():
        x.grad += out.grad * (keep.unpack() > 0)

    out._backward = _backward
    return out


def _expand_back(g, in_shape, axis, keepdims):
    """Re-insert the reduced axes of a reduction's gradient so it broadcasts to in_shape."""
    g = np.asarray(g)
    if axis is None:
        return np.broadcast_to(g.reshape((1,) * len(in_shape)) if g.ndim else g, in_shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = tuple(a % len(in_shape) for a in axes)
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, in_shape)


def sum(x, axis=None, keepdims=False):
    out = Var(np.sum(x.value, axis=axis, keepdims=keepdims), (x,), "sum")
    shape = x.value.shape

    def _backward():
        x.grad += _expand_back(out.grad, shape, axis, keepdims)

    out._backward = _backward
    return out


def mean(x, axis=None, keepdims=False):
    out = Var(np.mean(x.value, axis=axis, keepdims=keepdims), (x,), "mean")
    shape = x.value.shape
    count = x.value.size // max(out.value.size, 1)

    def _backward():
        x.grad += _expand_back(out.grad, shape, axis, keepdims) / count

    out._backward = _backward
    return out


def transpose(x):
    out = Var(x.value.T.copy(), (x,), "transpose")

    def _backward():
        x.grad += out.grad.T

    out._backward = _backward
    return out


def topological_order(out):
    """Iterative depth-first search, post-order: a node is emitted after all its parents."""
    order = []
    done = set()
    stack = [(out, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for parent in reversed(node.parents):
            if id(parent) not in done:
                stack.append((parent, False))
    return order
