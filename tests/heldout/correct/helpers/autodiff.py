"""Part 3 — reverse-mode autodiff over numpy arrays (held-out corpus, style: helpers, Kahn's algorithm).

Ops are written with two helpers: `_node` makes the result Var and `_send` adds a gradient
(summed back to the operand's shape) into an operand. The topological order comes from Kahn's
algorithm on the reversed graph; backward walks it from the output down.
"""

from collections import deque

import numpy as np


class InplaceError(RuntimeError):
    """A value saved for backward was changed in place after it was saved."""


def _noop():
    return None


class Var:
    __array_ufunc__ = None

    def __init__(self, value, operands=(), op=""):
        self.value = np.array(value, dtype=np.float64, copy=True)
        self.grad = None
        self.parents = tuple([v for v in operands if isinstance(v, Var)])
        self.op = op
        self.version = 0
        self._backward = _noop

    def backward(self):
        if np.size(self.value) != 1:
            raise ValueError(f"backward() needs a scalar output, got shape {self.value.shape}")
        nodes = topological_order(self)
        for node in nodes:
            node.grad = np.zeros(node.value.shape)
        self.grad = np.ones(self.value.shape)
        for node in nodes[::-1]:
            node._backward()

    def _inplace(self, fn, other):
        fn(self.value, _value(other), out=self.value)
        self.version = self.version + 1
        return self

    def add_(self, other):
        return self._inplace(np.add, other)

    def mul_(self, other):
        return self._inplace(np.multiply, other)

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
    __slots__ = ("_var", "_version", "_data")

    def __init__(self, x):
        if isinstance(x, Var):
            self._var, self._version, self._data = x, x.version, None
        else:
            self._var, self._version, self._data = None, -1, np.array(x, dtype=np.float64)

    def unpack(self):
        var = self._var
        if var is None:
            return self._data
        if var.version != self._version:
            raise InplaceError("one of the values needed for gradient computation has been "
                               "modified by an inplace operation")
        return var.value


def unbroadcast(grad, shape):
    grad = np.asarray(grad, dtype=np.float64)
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if ones:
        grad = grad.sum(axis=ones, keepdims=True)
    return grad.reshape(shape)


def _node(value, operands, op):
    return Var(value, operands, op)


def _send(operand, g):
    """Add gradient g into a Var operand, summed back to its shape."""
    if isinstance(operand, Var):
        operand.grad = operand.grad + unbroadcast(g, operand.value.shape)


def add(a, b):
    out = _node(_value(a) + _value(b), (a, b), "add")

    def _backward():
        _send(a, out.grad)
        _send(b, out.grad)

    out._backward = _backward
    return out


def sub(a, b):
    out = _node(_value(a) - _value(b), (a, b), "sub")

    def _backward():
        _send(a, out.grad)
        _send(b, -out.grad)

    out._backward = _backward
    return out


def _save_other_operands(a, b):
    """For a product: a's gradient needs b, b's gradient needs a."""
    need_b = Saved(b) if isinstance(a, Var) else None
    need_a = Saved(a) if isinstance(b, Var) else None
    return need_a, need_b


def mul(a, b):
    out = _node(_value(a) * _value(b), (a, b), "mul")
    need_a, need_b = _save_other_operands(a, b)

    def _backward():
        if need_b is not None:
            _send(a, out.grad * need_b.unpack())
        if need_a is not None:
            _send(b, out.grad * need_a.unpack())

    out._backward = _backward
    return out


def div(a, b):
    out = _node(_value(a) / _value(b), (a, b), "div")
    divisor = Saved(b)
    dividend = Saved(a) if isinstance(b, Var) else None

    def _backward():
        d = divisor.unpack()
        _send(a, out.grad / d)
        if dividend is not None:
            _send(b, -out.grad * dividend.unpack() / d ** 2)

    out._backward = _backward
    return out


def matmul(a, b):
    out = _node(np.matmul(_value(a), _value(b)), (a, b), "matmul")
    need_a, need_b = _save_other_operands(a, b)

    def _backward():
        if need_b is not None:
            _send(a, np.matmul(out.grad, np.swapaxes(need_b.unpack(), -1, -2)))
        if need_a is not None:
            _send(b, np.matmul(np.swapaxes(need_a.unpack(), -1, -2), out.grad))

    out._backward = _backward
    return out


def _unary(x, value, op, local_grad, keep):
    """An elementwise op whose derivative is local_grad(saved value)."""
    out = _node(value, (x,), op)
    saved = Saved(out if keep == "output" else x) if keep else None

    def _backward():
        _send(x, out.grad * local_grad(saved.unpack() if saved else None))

    out._backward = _backward
    return out


def neg(x):
    return _unary(x, -x.value, "neg", lambda _: -1.0, None)


def exp(x):
    return _unary(x, np.exp(x.value), "exp", lambda y: y, "output")


def log(x):
    return _unary(x, np.log(x.value), "log", lambda v: 1.0 / v, "input")


def tanh(x):
    return _unary(x, np.tanh(x.value), "tanh", lambda y: 1.0 - y ** 2, "output")


def sigmoid(x):
    v = x.value
    z = np.exp(-np.abs(v).clip(max=700.0))
    s = np.where(v >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    return _unary(x, s, "sigmoid", lambda y: y * (1.0 - y), "output")


def relu(x):
    return _unary(x, np.where(x.value > 0, x.value, 0.0), "relu",
                  lambda y: (y > 0).astype(np.float64), "output")


def _reduced_shape(shape, axis):
    if axis is None:
        return tuple(1 for _ in shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def sum(x, axis=None, keepdims=False):
    out = _node(x.value.sum(axis=axis, keepdims=keepdims), (x,), "sum")
    shape = x.value.shape

    def _backward():
        g = np.reshape(out.grad, _reduced_shape(shape, axis))
        _send(x, np.broadcast_to(g, shape))

    out._backward = _backward
    return out


def mean(x, axis=None, keepdims=False):
    out = _node(x.value.mean(axis=axis, keepdims=keepdims), (x,), "mean")
    shape = x.value.shape
    n = int(np.prod([shape[i] for i in range(len(shape))
                     if _reduced_shape(shape, axis)[i] == 1 and shape[i] != 1] or [1]))

    def _backward():
        g = np.reshape(out.grad, _reduced_shape(shape, axis))
        _send(x, np.broadcast_to(g, shape) / n)

    out._backward = _backward
    return out


def transpose(x):
    out = _node(np.transpose(x.value).copy(), (x,), "transpose")

    def _backward():
        _send(x, np.transpose(out.grad))

    out._backward = _backward
    return out


def topological_order(out):
    """Kahn's algorithm: count, for every node, the children that still have to come first."""
    seen = {id(out): out}
    frontier = [out]
    children_left = {id(out): 0}
    while frontier:
        node = frontier.pop()
        for p in node.parents:
            children_left[id(p)] = children_left.get(id(p), 0) + 1
            if id(p) not in seen:
                seen[id(p)] = p
                frontier.append(p)
    # out has no pending child; emit nodes from the output down, then reverse
    ready = deque([out])
    reverse_order = []
    while ready:
        node = ready.popleft()
        reverse_order.append(node)
        for p in node.parents:
            children_left[id(p)] -= 1
            if children_left[id(p)] == 0:
                ready.append(p)
    return reverse_order[::-1]
