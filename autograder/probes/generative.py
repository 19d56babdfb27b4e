"""Probes for the generative suites (run inside the sandboxed child)."""
