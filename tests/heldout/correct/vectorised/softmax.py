"""Part 3 — numerically stable softmax, numpy only (held-out corpus, style: vectorised numpy).

logsumexp is the building block: log Σ exp(z) = m + log Σ exp(z − m) with m the maximum.
"""

import numpy as np


def logsumexp(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    m = np.max(z, axis=axis)
    s = np.sum(np.exp(z - np.expand_dims(m, axis)), axis=axis)
    return m + np.log(s)


def log_softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    return z - np.expand_dims(logsumexp(z, axis=axis), axis)


def softmax(z, axis=-1):
    return np.exp(log_softmax(z, axis=axis))
