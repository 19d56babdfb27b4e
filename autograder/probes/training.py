"""Probes for the training suites (run inside the sandboxed child)."""
