"""Isolation: the only way the grader reaches student code (see sandbox.py)."""
