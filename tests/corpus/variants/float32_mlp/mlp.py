"""Part 1 computed in float32 inside, returned as float64 (a correct implementation)."""
import numpy as np


def linear(x, W, b):
    x32, W32, b32 = (np.asarray(a, dtype=np.float32) for a in (x, W, b))
    return (x32 @ W32.T + b32).astype(np.float64)


def tanh(x):
    return np.tanh(np.asarray(x, dtype=np.float32)).astype(np.float64)
