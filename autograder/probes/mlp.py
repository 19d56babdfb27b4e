"""Probes for the mlp suites (run inside the sandboxed child)."""
