"""Part 3 — a numerically stable softmax, written with numpy only.

exp overflows to inf for arguments above about 709, so evaluating the textbook formulas
directly turns logits of a few hundred into inf and nan. All three functions here must be exact
for logits as large as ±1e4, with no overflow, invalid-value or divide-by-zero warning; an
exponential that underflows to 0 is fine.

Conventions:
- Inputs are float64 arrays of any number of dimensions; `axis` picks the axis the softmax
  runs over (the last one by default; negative values count from the end, as in numpy).
- No function modifies its input.
- numpy only: torch is not available when this module is graded. An unused `import torch`
  costs nothing; a question whose checks run into torch scores 0.
"""

import numpy as np


def softmax(z, axis=-1):
    """Q3.1 — softmax along one axis: exp(z_k) / Σ_j exp(z_j).

    Args:
        z: array of logits, any shape.
        axis: the axis to normalise over.

    Returns:
        array of z's shape, entries in [0, 1], summing to 1 along `axis`.
    """
    raise NotImplementedError("Q3.1: implement softmax")


def log_softmax(z, axis=-1):
    """Q3.1 — log of the softmax along one axis: z_k − log Σ_j exp(z_j).

    Args:
        z: array of logits, any shape.
        axis: the axis to normalise over.

    Returns:
        array of z's shape, entries ≤ 0.
    """
    raise NotImplementedError("Q3.1: implement log_softmax")


def logsumexp(z, axis=-1):
    """Q3.1 — log Σ_j exp(z_j) along one axis, which is removed.

    Args:
        z: array of logits, any shape.
        axis: the axis to reduce.

    Returns:
        array of z's shape without `axis` (a numpy float64 scalar for a 1-D z).
    """
    raise NotImplementedError("Q3.1: implement logsumexp")
