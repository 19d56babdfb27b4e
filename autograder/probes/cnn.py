"""Probes for the cnn suites (run inside the sandboxed child)."""
