"""An independent autodiff: Function classes with a ctx (minitorch style), recursive topological
sort, gradients kept in a dict during backward, __array_priority__ instead of __array_ufunc__."""
import numpy as np


class InplaceError(RuntimeError):
    pass


class Ctx:
    def __init__(self):
        self.saved = []          # (Var, version) pairs
        self.keep_output = False
        self.consts = {}

    def save(self, *vars_):
        for v in vars_:
            self.saved.append((v, v.version))

    def values(self):
        out = []
        for v, version in self.saved:
            if v.version != version:
                raise InplaceError("saved tensor modified in place")
            out.append(v.value)
        return out


class Var:
    __array_priority__ = 1000

    def __init__(self, value):
        self.value = np.array(value, dtype=np.float64, copy=True)
        self.grad = None
        self.parents = ()
        self.op = "leaf"
        self.version = 0
        self._fn = None
        self._ctx = None
        self._inputs = ()

    # operators
    def __add__(self, o): return add(self, o)
    def __radd__(self, o): return add(o, self)
    def __sub__(self, o): return sub(self, o)
    def __rsub__(self, o): return sub(o, self)
    def __mul__(self, o): return mul(self, o)
    def __rmul__(self, o): return mul(o, self)
    def __truediv__(self, o): return div(self, o)
    def __rtruediv__(self, o): return div(o, self)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
    def __neg__(self): return neg(self)
    def exp(self): return exp(self)
    def log(self): return log(self)
    def tanh(self): return tanh(self)
    def sigmoid(self): return sigmoid(self)
    def relu(self): return relu(self)
    def sum(self, axis=None, keepdims=False): return sum(self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return mean(self, axis=axis, keepdims=keepdims)

    @property
    def T(self):
        return transpose(self)

    def add_(self, other):
        np.add(self.value, other.value if isinstance(other, Var) else other, out=self.value)
        self.version = self.version + 1
        return self

    def mul_(self, other):
        np.multiply(self.value, other.value if isinstance(other, Var) else other, out=self.value)
        self.version = self.version + 1
        return self

    def backward(self):
        if self.value.size != 1:
            raise ValueError("backward() needs a single-element Var")
        nodes = topological_order(self)
        grads = {id(self): np.ones(self.value.shape)}
        for node in reversed(nodes):
            g = grads.get(id(node))
            if g is None:
                g = np.zeros(node.value.shape)
            node.grad = g
            if node._fn is None:
                continue
            ins = node._fn.backward(node._ctx, g)
            for inp, gi in zip(node._inputs, ins):
                if isinstance(inp, Var):
                    gi = _reduce_to(np.asarray(gi, dtype=np.float64), inp.value.shape)
                    if id(inp) in grads:
                        grads[id(inp)] = grads[id(inp)] + gi
                    else:
                        grads[id(inp)] = gi


def _reduce_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def _val(x):
    return x.value if isinstance(x, Var) else np.array(x, dtype=np.float64)


def _apply(fn, *operands, **kw):
    ctx = Ctx()
    out_value = fn.forward(ctx, *operands, **kw)
    out = Var(out_value)
    out._fn, out._ctx, out._inputs = fn, ctx, operands
    out.parents = tuple(o for o in operands if isinstance(o, Var))
    out.op = fn.__name__
    if ctx.keep_output:
        ctx.save(out)
    return out


class Add:
    @staticmethod
    def forward(ctx, a, b):
        return _val(a) + _val(b)

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub:
    @staticmethod
    def forward(ctx, a, b):
        return _val(a) - _val(b)

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul:
    @staticmethod
    def forward(ctx, a, b):
        va, vb = _val(a), _val(b)
        if isinstance(a, Var) and isinstance(b, Var):
            ctx.save(a, b)
        else:
            ctx.consts["a"], ctx.consts["b"] = va.copy(), vb.copy()
        return va * vb

    @staticmethod
    def backward(ctx, g):
        if ctx.saved:
            va, vb = ctx.values()
        else:
            va, vb = ctx.consts["a"], ctx.consts["b"]
        return g * vb, g * va


class Div:
    @staticmethod
    def forward(ctx, a, b):
        va, vb = _val(a), _val(b)
        if isinstance(b, Var):
            ctx.save(b)
            if isinstance(a, Var):
                ctx.save(a)
            else:
                ctx.consts["a"] = va.copy()
        else:
            ctx.consts["b"] = vb.copy()
        return va / vb

    @staticmethod
    def backward(ctx, g):
        if "b" in ctx.consts:
            return g / ctx.consts["b"], None
        vals = ctx.values()
        vb = vals[0]
        va = vals[1] if len(vals) > 1 else ctx.consts["a"]
        return g / vb, -g * va / (vb * vb)


class Matmul:
    @staticmethod
    def forward(ctx, a, b):
        va, vb = _val(a), _val(b)
        if isinstance(a, Var) and isinstance(b, Var):
            ctx.save(a, b)
        else:
            ctx.consts["a"], ctx.consts["b"] = va.copy(), vb.copy()
        return va @ vb

    @staticmethod
    def backward(ctx, g):
        if ctx.saved:
            va, vb = ctx.values()
        else:
            va, vb = ctx.consts["a"], ctx.consts["b"]
        return g @ vb.T, va.T @ g


class Neg:
    @staticmethod
    def forward(ctx, x):
        return -x.value

    @staticmethod
    def backward(ctx, g):
        return (-g,)


class Exp:
    @staticmethod
    def forward(ctx, x):
        ctx.keep_output = True
        return np.exp(x.value)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.values()
        return (g * y,)


class Log:
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.log(x.value)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.values()
        return (g / x,)


class Tanh:
    @staticmethod
    def forward(ctx, x):
        ctx.keep_output = True
        return np.tanh(x.value)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.values()
        return (g * (1 - y * y),)


class Sigmoid:
    @staticmethod
    def forward(ctx, x):
        ctx.keep_output = True
        v = x.value
        e = np.exp(-np.abs(v))
        return np.where(v >= 0, 1 / (1 + e), e / (1 + e))

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.values()
        return (g * y * (1 - y),)


class Relu:
    @staticmethod
    def forward(ctx, x):
        ctx.keep_output = True
        return np.where(x.value > 0, x.value, 0.0)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.values()
        return (np.where(y > 0, g, 0.0),)


class Sum:
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.consts.update(shape=x.value.shape, axis=axis, keepdims=keepdims)
        return x.value.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axis, keepdims = ctx.consts["shape"], ctx.consts["axis"], ctx.consts["keepdims"]
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        return (np.broadcast_to(g, shape).copy(),)


class Mean:
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        out = x.value.mean(axis=axis, keepdims=keepdims)
        ctx.consts.update(shape=x.value.shape, axis=axis, keepdims=keepdims,
                          n=x.value.size // max(np.size(out), 1))
        return out

    @staticmethod
    def backward(ctx, g):
        (g,) = Sum.backward(ctx, g)
        return (g / ctx.consts["n"],)


class Transpose:
    @staticmethod
    def forward(ctx, x):
        return np.ascontiguousarray(x.value.T)

    @staticmethod
    def backward(ctx, g):
        return (g.T,)


def add(a, b): return _apply(Add, a, b)
def sub(a, b): return _apply(Sub, a, b)
def mul(a, b): return _apply(Mul, a, b)
def div(a, b): return _apply(Div, a, b)
def matmul(a, b): return _apply(Matmul, a, b)
def neg(x): return _apply(Neg, x)
def exp(x): return _apply(Exp, x)
def log(x): return _apply(Log, x)
def tanh(x): return _apply(Tanh, x)
def sigmoid(x): return _apply(Sigmoid, x)
def relu(x): return _apply(Relu, x)
def sum(x, axis=None, keepdims=False): return _apply(Sum, x, axis=axis, keepdims=keepdims)
def mean(x, axis=None, keepdims=False): return _apply(Mean, x, axis=axis, keepdims=keepdims)
def transpose(x): return _apply(Transpose, x)


def topological_order(out):
    order, seen = [], set()

    def visit(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        for p in node.parents:
            visit(p)
        order.append(node)

    visit(out)
    return order
