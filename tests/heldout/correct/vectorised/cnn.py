"""Part 4 — CNNs, numpy only (held-out corpus, style: sliding_window_view + einsum)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad(x, padding):
    if padding == 0:
        return np.asarray(x, dtype=np.float64)
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def _windows(x, kh, kw, stride):
    """(N, C, H_out, W_out, kh, kw) view of every window, stride applied."""
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))
    return win[:, :, ::stride, ::stride]


# Q4.1 -----------------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0):
    kh, kw = w.shape[2], w.shape[3]
    win = _windows(_pad(x, padding), kh, kw, stride)
    out = np.einsum("nchwij,ocij->nohw", win, w)
    if b is not None:
        out = out + b[None, :, None, None]
    return out.astype(np.float64)


def conv_output_shape(h, w, k, stride=1, padding=0):
    return ((h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)


def conv_num_params(c_in, c_out, k):
    return c_out * (c_in * k * k + 1)


def dense_num_params(n_in, n_out):
    return n_out * (n_in + 1)


# Q4.2 -----------------------------------------------------------------------------------------

def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    kh, kw = w.shape[2], w.shape[3]
    xp = _pad(x, padding)
    win = _windows(xp, kh, kw, stride)
    h_out, w_out = dout.shape[2], dout.shape[3]
    dw = np.einsum("nchwij,nohw->ocij", win, dout)
    db = dout.sum(axis=(0, 2, 3)) if b is not None else None
    dxp = np.zeros(xp.shape, dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride] += np.einsum(
                "nohw,oc->nchw", dout, w[:, :, i, j])
    dx = dxp[:, :, padding:padding + H, padding:padding + W]
    return dx.copy(), dw, db


def max_pool2d(x, k, stride=None):
    s = k if stride is None else stride
    win = _windows(np.asarray(x, dtype=np.float64), k, k, s)
    return win.max(axis=(-2, -1))


def max_pool2d_backward(dout, x, k, stride=None):
    s = k if stride is None else stride
    win = _windows(np.asarray(x, dtype=np.float64), k, k, s)
    N, C, h_out, w_out = win.shape[:4]
    first = win.reshape(N, C, h_out, w_out, k * k).argmax(axis=-1)   # first max, row-major
    di, dj = np.divmod(first, k)
    n, c, i, j = np.indices((N, C, h_out, w_out))
    dx = np.zeros(x.shape, dtype=np.float64)
    np.add.at(dx, (n, c, i * s + di, j * s + dj), dout)
    return dx


def flatten(x):
    return np.reshape(x, (x.shape[0], -1))


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    h = conv2d(x, params["conv_w"], params["conv_b"], stride, padding)
    h = np.maximum(h, 0.0)
    h = max_pool2d(h, pool, pool)
    h = flatten(h)
    return h @ params["fc_w"].T + params["fc_b"]
