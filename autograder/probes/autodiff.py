"""Probes for the autodiff suites (run inside the sandboxed child)."""
