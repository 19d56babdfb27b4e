"""Trusted drivers that run inside sandboxed children (never in the grader).

base holds the registry and the generic probes (call, call_strict); the others drive what one
call cannot: graphs (autodiff), optimiser runs and seeded generators (training), torch modules
built from weights and gradients through autograd (generative, Part 5 only); standins holds the
kit's own versions of functions that other questions call. A warm parent imports the modules of
its flavour (isolation/zygote.py), which registers their probes.
"""
