"""Part 4 — CNNs, numpy only (held-out corpus, style: nested loops over output positions).

Loops run over the output positions (and kernel offsets); batch and channels are handled
with tensordot inside the loops.
"""

import numpy as np


def _zero_pad(x, p):
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=np.float64)
    out[:, :, p:p + H, p:p + W] = x
    return out


# Q4.1 -----------------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = _zero_pad(x, padding)
    H_out = (H + 2 * padding - KH) // stride + 1
    W_out = (W + 2 * padding - KW) // stride + 1
    out = np.zeros((N, F, H_out, W_out), dtype=np.float64)
    for i in range(H_out):
        top = i * stride
        for j in range(W_out):
            left = j * stride
            patch = xp[:, :, top:top + KH, left:left + KW]           # (N, C, KH, KW)
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        for f in range(F):
            out[:, f] += b[f]
    return out


def conv_output_shape(h, w, k, stride=1, padding=0):
    h_out = (h + 2 * padding - k) // stride + 1
    w_out = (w + 2 * padding - k) // stride + 1
    return h_out, w_out


def conv_num_params(c_in, c_out, k):
    weights = c_out * c_in * k * k
    biases = c_out
    return weights + biases


def dense_num_params(n_in, n_out):
    return n_in * n_out + n_out


# Q4.2 -----------------------------------------------------------------------------------------

def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, H_out, W_out = dout.shape
    xp = _zero_pad(x, padding)
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape, dtype=np.float64)
    for i in range(H_out):
        top = i * stride
        for j in range(W_out):
            left = j * stride
            g = dout[:, :, i, j]                                    # (N, F)
            patch = xp[:, :, top:top + KH, left:left + KW]           # (N, C, KH, KW)
            dw += np.tensordot(g, patch, axes=([0], [0]))
            dxp[:, :, top:top + KH, left:left + KW] += np.tensordot(g, w, axes=([1], [0]))
    db = None
    if b is not None:
        db = np.zeros(F, dtype=np.float64)
        for f in range(F):
            db[f] = dout[:, f].sum()
    dx = dxp[:, :, padding:padding + H, padding:padding + W].copy()
    return dx, dw, db


def max_pool2d(x, k, stride=None):
    if stride is None:
        stride = k
    N, C, H, W = x.shape
    H_out = (H - k) // stride + 1
    W_out = (W - k) // stride + 1
    out = np.empty((N, C, H_out, W_out), dtype=np.float64)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


def max_pool2d_backward(dout, x, k, stride=None):
    if stride is None:
        stride = k
    N, C, H, W = x.shape
    _, _, H_out, W_out = dout.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    r0, c0 = i * stride, j * stride
                    window = x[n, c, r0:r0 + k, c0:c0 + k]
                    best_r, best_c = 0, 0
                    for r in range(k):
                        for q in range(k):
                            if window[r, q] > window[best_r, best_c]:
                                best_r, best_c = r, q
                    dx[n, c, r0 + best_r, c0 + best_c] += dout[n, c, i, j]
    return dx


def flatten(x):
    N = x.shape[0]
    out = np.empty((N, int(np.prod(x.shape[1:]))), dtype=np.float64)
    for n in range(N):
        out[n] = x[n].ravel(order="C")
    return out


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    conv = conv2d(x, params["conv_w"], params["conv_b"], stride=stride, padding=padding)
    activated = np.where(conv > 0, conv, 0.0)
    pooled = max_pool2d(activated, pool, stride=pool)
    features = flatten(pooled)
    logits = np.zeros((features.shape[0], params["fc_w"].shape[0]))
    for n in range(features.shape[0]):
        logits[n] = params["fc_w"] @ features[n] + params["fc_b"]
    return logits
