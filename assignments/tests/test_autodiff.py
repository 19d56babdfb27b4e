"""Public checks for autodiff.py (Part 3): your Var against PyTorch's autograd on a few graphs.

Run from this folder:  pytest tests/test_autodiff.py
Passing these does not guarantee full marks: the grader runs more graphs (random DAGs with
shared nodes, broadcasting, matmul, the MLP in Vars) and more in-place scenarios.

In the torch twins below, constants are tensors that do not require grad, in-place changes run
under torch.no_grad(), and x.T is written x.T.clone() because a Var owns its value.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import autodiff
from autodiff import Var


def close(got, expected):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(expected),
                               rtol=1e-4, atol=1e-6)


def leaf(array):
    """The torch twin of Var(array)."""
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def const(array):
    return torch.tensor(array, dtype=torch.float64)


def expression(rng):
    """The same expression with Vars and with tensors: (vars, out, tensors, out_t).

    Uses module functions, operators with constants on either side, methods, a 1-D bias over
    rows, a 0-d Var (x - x.mean()), matmul, x.T, sum over an axis with keepdims, and fan-out.
    """
    x_, w_, b_ = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=4)
    p_, c_ = rng.uniform(0.5, 2.0, (3, 4)), rng.normal(size=(3, 4))
    x, w, b, p = Var(x_), Var(w_), Var(b_), Var(p_)
    xt, wt, bt, pt = leaf(x_), leaf(w_), leaf(b_), leaf(p_)
    nodes, twins = {}, {}
    nodes["centred"], twins["centred"] = x - x.mean(), xt - xt.mean()
    nodes["biased"] = autodiff.add(nodes["centred"], b)
    twins["biased"] = twins["centred"] + bt
    nodes["h"], twins["h"] = nodes["biased"].tanh(), torch.tanh(twins["biased"])
    nodes["sq"], twins["sq"] = nodes["h"] * nodes["h"], twins["h"] * twins["h"]
    nodes["ratio"] = 2.0 / p + c_ * nodes["sq"]
    twins["ratio"] = torch.div(const(2.0), pt) + const(c_) * twins["sq"]
    nodes["z"] = autodiff.matmul(nodes["ratio"] - nodes["h"], w)
    twins["z"] = torch.matmul(twins["ratio"] - twins["h"], wt)
    nodes["e"] = autodiff.exp(nodes["z"].T).sum(axis=1, keepdims=True)
    twins["e"] = torch.exp(twins["z"].T.clone()).sum(dim=1, keepdim=True)
    nodes["l"] = autodiff.log(nodes["e"]) * nodes["h"].sigmoid().mean()
    twins["l"] = torch.log(twins["e"]) * torch.sigmoid(twins["h"]).mean()
    nodes["out"] = autodiff.sum(nodes["l"]) - autodiff.relu(x).sum() + (-b).mean()
    twins["out"] = twins["l"].sum() - torch.relu(xt).sum() + (-bt).mean()
    leaves = {"x": (x, xt), "w": (w, wt), "b": (b, bt), "p": (p, pt)}
    return leaves, nodes, twins


# --- Q3.2: the graph -------------------------------------------------------------------------
@pytest.mark.question("3.2")
@pytest.mark.parametrize("seed", [31, 32])
def test_forward_values_match_torch(seed):
    _, nodes, twins = expression(np.random.default_rng(seed))
    for name in nodes:
        assert isinstance(nodes[name], Var), f"{name} is not a Var"
        close(nodes[name].value, twins[name].detach().numpy())


@pytest.mark.question("3.2")
def test_parents_are_the_var_operands_in_order():
    rng = np.random.default_rng(33)
    x, w = Var(rng.normal(size=(2, 3))), Var(rng.normal(size=(2, 3)))
    assert Var(1.0).parents == ()
    for made, expected in [(x * x, (x, x)), (x - w, (x, w)), (w - x, (w, x)),
                           (autodiff.div(w, x), (w, x)), (3.0 * x, (x,)),
                           (np.ones((2, 3)) - w, (w,)), (x.exp(), (x,)), (x.T, (x,)),
                           (x.sum(axis=0), (x,))]:
        assert isinstance(made, Var)
        assert len(made.parents) == len(expected)
        assert all(p is e for p, e in zip(made.parents, expected)), made.parents


@pytest.mark.question("3.2")
def test_topological_order():
    rng = np.random.default_rng(34)
    same = rng.normal(size=(2, 2))
    a, b = Var(same), Var(same.copy())          # equal values, two different nodes
    c = a * b
    d = autodiff.tanh(c) + c                     # c is shared
    e = d * a                                    # a is used twice
    unused = autodiff.exp(e)                     # out does not depend on it
    out = (e - b).sum()
    order = autodiff.topological_order(out)
    ids = [id(n) for n in order]
    reachable = [a, b, c, d, e, out, out.parents[0]]
    reachable.append(d.parents[0])               # tanh(c)
    assert len(ids) == len(set(ids)), "a node is listed twice"
    assert set(ids) == {id(n) for n in reachable}, "not exactly the nodes out depends on"
    assert id(unused) not in ids
    position = {i: k for k, i in enumerate(ids)}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)], "a node comes before its parent"
    assert order[-1] is out


@pytest.mark.question("3.2")
def test_var_owns_a_float64_copy():
    source = np.arange(6).reshape(2, 3)          # an int array
    x = Var(source)
    source += 100                                # the caller changes its array afterwards
    assert x.value.dtype == np.float64
    close(x.value, np.arange(6).reshape(2, 3))
    t = x.T
    assert not np.shares_memory(t.value, x.value), "x.T must be a new array, not a view"
    close(t.value, np.arange(6).reshape(2, 3).T)


# --- Q3.3: back-propagation ------------------------------------------------------------------
@pytest.mark.question("3.3")
@pytest.mark.parametrize("seed", [41, 42])
def test_backward_matches_torch(seed):
    leaves, nodes, twins = expression(np.random.default_rng(seed))
    for t in twins.values():
        t.retain_grad()
    nodes["out"].backward()
    twins["out"].backward()
    for name, (var, tensor) in leaves.items():
        close(var.grad, tensor.grad.numpy())
    for name in nodes:                           # intermediate nodes too
        close(nodes[name].grad, twins[name].grad.numpy())


@pytest.mark.question("3.3")
def test_fan_out_accumulates():
    x_ = np.random.default_rng(43).normal(size=(3, 2))
    x, xt = Var(x_), leaf(x_)
    y = autodiff.mul(x, x) + autodiff.exp(x) - x
    y.sum().backward()
    (xt * xt + torch.exp(xt) - xt).sum().backward()
    close(x.grad, xt.grad.numpy())


@pytest.mark.question("3.3")
def test_bias_and_scalar_gradients_are_summed_back():
    rng = np.random.default_rng(44)
    x_, b_ = rng.normal(size=(5, 3)), rng.normal(size=3)
    x, b, xt, bt = Var(x_), Var(b_), leaf(x_), leaf(b_)
    s = x.mean()
    out = autodiff.tanh(x + b - s).sum()
    out.backward()
    torch.tanh(xt + bt - xt.mean()).sum().backward()
    assert b.grad.shape == (3,) and s.grad.shape == ()
    close(b.grad, bt.grad.numpy())
    close(x.grad, xt.grad.numpy())


@pytest.mark.question("3.3")
def test_mlp_in_vars_matches_cross_entropy():
    """The Part 1 MLP in Vars; log-softmax through the ops, kept (K, B) so that the (B,)
    log-sum-exp broadcasts over rows."""
    rng = np.random.default_rng(45)
    B, D, H, K = 6, 4, 5, 3
    x, y = rng.normal(size=(B, D)), rng.integers(0, K, B)
    params = {"W1": rng.normal(0, 0.5, (H, D)), "b1": rng.normal(0, 0.1, H),
              "W2": rng.normal(0, 0.5, (K, H)), "b2": rng.normal(0, 0.1, K)}
    v = {k: Var(a) for k, a in params.items()}
    h = autodiff.tanh(x @ v["W1"].T + v["b1"])
    z = h @ v["W2"].T + v["b2"]                                  # (B, K)
    lse = autodiff.log(autodiff.exp(z).sum(axis=1))              # (B,)
    logp_t = z.T - lse                                           # (K, B)
    loss = -(logp_t * np.eye(K)[y].T).sum(axis=0).mean()
    loss.backward()
    t = {k: leaf(a) for k, a in params.items()}
    logits = F.linear(torch.tanh(F.linear(const(x), t["W1"], t["b1"])), t["W2"], t["b2"])
    expected = F.cross_entropy(logits, torch.from_numpy(y))
    expected.backward()
    close(loss.value, expected.item())
    for k in params:
        close(v[k].grad, t[k].grad.numpy())


# --- Q3.4: saved values and in-place operations ----------------------------------------------
@pytest.mark.question("3.4")
def test_version_counts_inplace_changes():
    rng = np.random.default_rng(51)
    x, w = Var(rng.normal(size=(2, 3))), Var(rng.normal(size=(2, 3)))
    y = x * w
    assert (x.version, w.version, y.version) == (0, 0, 0)
    before = x.value.copy()
    x.add_(1.0)
    x.mul_(np.full(3, 2.0))
    y.add_(w)
    assert (x.version, w.version, y.version) == (2, 0, 1)
    close(x.value, (before + 1.0) * 2.0)


def _changed_output(op):
    x = Var(np.random.default_rng(52).uniform(0.5, 2.0, (2, 3)))
    y = getattr(autodiff, op)(x)
    out = y.sum()
    (y if op != "log" else x).add_(1.0)          # log keeps its input, the others their output
    return out


@pytest.mark.question("3.4")
@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "relu", "log"])
def test_backward_raises_when_a_saved_value_changed(op):
    assert issubclass(autodiff.InplaceError, RuntimeError)
    out = _changed_output(op)
    with pytest.raises(autodiff.InplaceError):
        out.backward()


@pytest.mark.question("3.4")
def test_backward_raises_for_mul_of_two_vars():
    rng = np.random.default_rng(53)
    x, w = Var(rng.normal(size=(2, 3))), Var(rng.normal(size=(2, 3)))
    out = (x * w).sum()
    w.mul_(2.0)
    with pytest.raises(autodiff.InplaceError):
        out.backward()


@pytest.mark.question("3.4")
def test_backward_works_when_the_changed_value_was_not_saved():
    rng = np.random.default_rng(54)
    x_, p_ = rng.normal(size=(2, 3)), rng.uniform(0.5, 2.0, (2, 3))
    x, p = Var(x_), Var(p_)
    xt, pt = leaf(x_), leaf(p_)
    a = x * 2.0                       # mul by a constant keeps no Var
    b = autodiff.exp(x)               # exp keeps its output, not x
    c = autodiff.log(p)               # log keeps p, not its output
    out = a.sum() + b.sum() + (c * 3.0).sum()
    at, bt, ct = xt * 2.0, torch.exp(xt), torch.log(pt)
    out_t = at.sum() + bt.sum() + (ct * 3.0).sum()
    x.mul_(3.0)
    c.add_(1.0)
    with torch.no_grad():
        xt.mul_(3.0)
        ct.add_(1.0)
    out.backward()                    # must not raise
    out_t.backward()
    close(x.grad, xt.grad.numpy())
    close(p.grad, pt.grad.numpy())
