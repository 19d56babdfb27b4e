"""The autodiff suite's torch side: a program run in torch (the reference), and the backward
passes of known mistakes (autograder/mistakes/autodiff.py) run with torch's own local
Jacobians, to tell which mistake reproduces a student's gradients."""
from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import torch

from autograder.mistakes import autodiff as mistakes
from autograder.probes.autodiff_ops import ELEMENTWISE, torch_forward
from autograder.probes.substitution import graph_shape
from autograder.standins import ordered
from autograder.suites.autodiff_graphs import Program, graph


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



class Skip(Exception):
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
    walked, parents = graph_shape(nodes[out])
    topo = [walked[i].slot for i in ordered(parents)]
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
                raise Skip()
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
        raise Skip()
    found = []
    for role, a in enumerate(args):
        if not p.var[a]:
            continue
        c = torch.tensordot(g, J[role], dims=g.dim()) if g.dim() else g * J[role]
        if local is not None and name == op and local.role == role:
            try:
                c = torch.as_tensor(local.formula(g, c, xs + (y,)), dtype=torch.float64)
            except RuntimeError:   # shapes that do not multiply: not a mistake on this graph
                raise Skip() from None
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
        raise Skip() from None


def mistaken_passes(p: Program) -> list[tuple[str, tuple]]:
    """(hint, key) of every mistake that applies to the graph: key names it for `mistaken`."""
    ops = {ins[1] for ins in p.ins if ins[0] == "op"}
    found = [(local.hint, ("local", name, n)) for name in sorted(ops)
             for n, local in enumerate(mistakes.LOCAL.get(name, ()))]
    found += [(order.hint, ("order", n)) for n, order in enumerate(mistakes.ORDER)]
    found += [(mistakes.overwrite(name).hint, ("overwrite", name)) for name in sorted(ops)]
    return found
