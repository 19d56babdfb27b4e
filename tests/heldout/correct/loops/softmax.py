"""Part 3 — numerically stable softmax, numpy only (held-out corpus, style: explicit loops).

The axis is moved last, the array viewed as rows, and every row handled by scalar code.
"""

import math

import numpy as np


def _rows(z, axis):
    z = np.asarray(z, dtype=np.float64)
    moved = np.moveaxis(z, axis, -1)
    return moved, moved.reshape(-1, moved.shape[-1])


def _row_lse(row):
    top = -math.inf
    for v in row:
        if v > top:
            top = v
    acc = 0.0
    for v in row:
        acc += math.exp(v - top)
    return top + math.log(acc)


def logsumexp(z, axis=-1):
    moved, rows = _rows(z, axis)
    out = np.empty(rows.shape[0], dtype=np.float64)
    for r in range(rows.shape[0]):
        out[r] = _row_lse(rows[r])
    out = out.reshape(moved.shape[:-1])
    return out[()] if out.ndim == 0 else out


def log_softmax(z, axis=-1):
    moved, rows = _rows(z, axis)
    out = np.empty(rows.shape, dtype=np.float64)
    for r in range(rows.shape[0]):
        lse = _row_lse(rows[r])
        for k in range(rows.shape[1]):
            out[r, k] = rows[r, k] - lse
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def softmax(z, axis=-1):
    moved, rows = _rows(z, axis)
    out = np.empty(rows.shape, dtype=np.float64)
    for r in range(rows.shape[0]):
        row = rows[r]
        top = max(row)
        weights = [math.exp(v - top) for v in row]
        total = math.fsum(weights)
        for k in range(rows.shape[1]):
            out[r, k] = weights[k] / total
    return np.moveaxis(out.reshape(moved.shape), -1, axis)
