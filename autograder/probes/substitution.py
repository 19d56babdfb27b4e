"""Putting stand-ins in place of student functions, in the child (see autograder/standins.py).

The child never holds a stand-in's code: a call of a stood-in function is answered by the
grader. A child is spawned with the names and contract signatures of the stand-ins its
question may use; during a probe call `installed` replaces those functions wherever the
student bound them, and puts the student's back afterwards. A replaced function asks the grader
through `ask(name, kind, payload)`:
- "value": the stand-in's value on these arguments (numpy functions);
- "vjp": for Part 5's differentiable stand-ins, the value comes from "value" and the gradient
  from a vector-Jacobian product the grader computes, through a torch.autograd.Function, so
  gradients flow through the stand-in as through the student's own code;
- "order": a topological order, asked with the graph's shape only (each node's parent indices).
A stand-in is used only for a call the contract's signature accepts: a call with arguments of
the student's own invention goes to the student's own function.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from typing import Callable, Iterator

Ask = Callable[[str, str, object], object]


class StandInError(RuntimeError):
    """The grader could not compute a stand-in on the arguments the student's code passed."""


def signature_of(parameters: list[list]) -> inspect.Signature:
    """A Signature from [[name, has_default], ...] (what the grader sends for each stand-in)."""
    return inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                default=None if has_default else
                                                inspect.Parameter.empty)
                              for name, has_default in parameters])


def _stand_in(name: str, spec: dict, ask: Ask) -> Callable:
    """The function a stood-in call runs: it asks the grader, in the way `spec["kind"]` says."""
    kind = spec["kind"]
    if kind == "order":
        return lambda out: _ordered(name, out, ask)
    if kind == "differentiable":
        return lambda *args, **kwargs: _differentiable(name, ask, args, kwargs)
    return lambda *args, **kwargs: ask(name, "value", [list(args), kwargs])


def _ordered(name: str, out, ask: Ask) -> list:
    """A topological order of the graph behind `out`, asked with its shape only."""
    nodes, parents = graph_shape(out)
    return [nodes[i] for i in ask(name, "order", parents)]


def graph_shape(out) -> tuple[list, list[list[int]]]:
    """(nodes, each node's parent indices): the graph behind `out`, `out` first. Only nodes
    (objects with `.parents`) are followed: a constant listed among a node's parents, a Q3.2
    mistake, is left out rather than crash the backward pass that walks the order. The suite
    simulates the student's walk with the same function (suites/autodiff_reference.py)."""
    def parents_of(node) -> tuple:
        return tuple(p for p in getattr(node, "parents", ()) if hasattr(p, "parents"))

    nodes, index, stack = [], {}, [out]
    while stack:
        node = stack.pop()
        if id(node) not in index:
            index[id(node)] = len(nodes)
            nodes.append(node)
            stack.extend(parents_of(node))
    return nodes, [[index[id(p)] for p in parents_of(node)] for node in nodes]


def _differentiable(name: str, ask: Ask, args: tuple, kwargs: dict):
    import torch

    if kwargs or not any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
        return ask(name, "value", [list(args), kwargs])
    return _autograd_function().apply(name, ask, *args)


@functools.cache
def _autograd_function():
    import torch

    class AskedFunction(torch.autograd.Function):
        """Value and vector-Jacobian product of a stand-in, both computed by the grader."""

        @staticmethod
        def forward(ctx, name, ask, *args):
            ctx.name, ctx.ask, ctx.args = name, ask, args
            return ask(name, "value", [[a.detach() if isinstance(a, torch.Tensor) else a
                                        for a in args], {}])

        @staticmethod
        def backward(ctx, grad_output):
            inputs = [a.detach() if isinstance(a, torch.Tensor) else a for a in ctx.args]
            grads = ctx.ask(ctx.name, "vjp", [inputs, grad_output.detach()])
            return (None, None, *grads)

    return AskedFunction


@contextlib.contextmanager
def installed(stand_ins: dict[str, dict], student_dir: str, ask: Ask) -> Iterator[None]:
    """Replace, in every student module already imported (from the folder `student_dir`), each
    function named in `stand_ins` ({name: {"kind", "parameters"}}), wherever the student bound
    it (`mlp.linear`, or `linear` imported into training.py), by a wrapper that asks the grader;
    everything is put back on exit."""
    modules = [m for m in list(sys.modules.values())
               if isinstance(getattr(m, "__file__", None), str)
               and os.path.dirname(os.path.abspath(m.__file__)) == student_dir]
    owners = {m.__name__: m for m in modules}
    replaced = []
    for name, spec in stand_ins.items():
        module_name, function = name.split(".")
        own = getattr(owners.get(module_name), function, None)
        if not callable(own):
            continue
        wrapper = _wrapper(signature_of(spec["parameters"]), _stand_in(name, spec, ask), own)
        for module in modules:
            for attribute, value in list(vars(module).items()):
                if value is own:
                    replaced.append((module, attribute, value))
                    setattr(module, attribute, wrapper)
    try:
        yield
    finally:
        for module, attribute, value in reversed(replaced):
            setattr(module, attribute, value)


def _wrapper(signature: inspect.Signature, stand_in: Callable, own: Callable) -> Callable:
    @functools.wraps(own)
    def call(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError:   # the student's own extension of the contract: their own function
            return own(*args, **kwargs)
        return stand_in(*args, **kwargs)

    return call
