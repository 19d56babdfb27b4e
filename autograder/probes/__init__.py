"""Trusted drivers that run inside sandboxed children; importing this registers them all.

base holds the generic probes (call, call_strict, call_with_inputs); the others drive what one
call cannot: graphs (autodiff), optimiser runs and seeded generators (training), torch modules
built from weights and gradients through autograd (generative).
"""
from autograder.probes import autodiff, base, generative, training  # noqa: F401
from autograder.probes.base import PROBES

__all__ = ["PROBES"]
