"""Part 2 optimisers with other state objects: Adam keeps a class instance (deep-copied at each
step), momentum a list of buffers in sorted key order."""
import numpy as np


def momentum_step(params, grads, state, lr, momentum):
    bufs = [] if state is None else state
    keys = sorted(grads)
    new_bufs = [grads[k] + (momentum * bufs[i] if bufs else 0) for i, k in enumerate(keys)]
    return {k: params[k] - lr * new_bufs[i] for i, k in enumerate(keys)}, new_bufs


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    import copy
    new = copy.deepcopy(state) if state is not None else _AdamState()
    new.t += 1
    b1, b2 = betas
    out = {}
    for k, g in grads.items():
        new.m[k] = b1 * new.m.get(k, 0) + (1 - b1) * g
        new.v[k] = b2 * new.v.get(k, 0) + (1 - b2) * g * g
        out[k] = params[k] - lr * (new.m[k] / (1 - b1 ** new.t)) / (np.sqrt(new.v[k] / (1 - b2 ** new.t)) + eps)
    return out, new


class _AdamState:
    def __init__(self):
        self.t, self.m, self.v = 0, {}, {}

