"""Part 4 — CNNs, numpy only (held-out corpus, style: float32 inside, float64 out).

Convolutions are written with tensordot over float32 windows (as a GPU would compute them);
every returned array is float64.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def _padded32(x, p):
    return np.pad(_f32(x), ((0, 0), (0, 0), (p, p), (p, p)))


# Q4.1 -----------------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0):
    w32 = _f32(w)
    win = sliding_window_view(_padded32(x, padding), w32.shape[2:], axis=(2, 3))
    win = win[:, :, ::stride, ::stride]                        # (N, C, Ho, Wo, kh, kw)
    out = np.tensordot(win, w32, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, C_out)
    out = np.moveaxis(out, -1, 1)
    if b is not None:
        out = out + _f32(b)[:, None, None]
    return out.astype(np.float64)


def conv_output_shape(h, w, k, stride=1, padding=0):
    size = lambda n: (n + 2 * padding - k) // stride + 1
    return size(h), size(w)


def conv_num_params(c_in, c_out, k):
    return int(c_out * (c_in * k * k + 1))


def dense_num_params(n_in, n_out):
    return int(n_out * (n_in + 1))


# Q4.2 -----------------------------------------------------------------------------------------

def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    H, W = x.shape[2], x.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    d32, w32 = _f32(dout), _f32(w)
    xp = _padded32(x, padding)
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    dw = np.tensordot(d32, win, axes=([0, 2, 3], [0, 2, 3]))   # (C_out, C_in, kh, kw)
    Ho, Wo = dout.shape[2], dout.shape[3]
    dxp = np.zeros(xp.shape, dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            contrib = np.tensordot(d32, w32[:, :, i, j], axes=([1], [0]))  # (N, Ho, Wo, C_in)
            dxp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += np.moveaxis(contrib, -1, 1)
    dx = dxp[:, :, padding:padding + H, padding:padding + W].astype(np.float64)
    db = None if b is None else d32.sum(axis=(0, 2, 3)).astype(np.float64)
    return dx, dw.astype(np.float64), db


def max_pool2d(x, k, stride=None):
    stride = stride or k
    win = sliding_window_view(_f32(x), (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.max(axis=(4, 5)).astype(np.float64)


def max_pool2d_backward(dout, x, k, stride=None):
    stride = stride or k
    x64 = np.asarray(x, dtype=np.float64)       # ties must be judged on the exact values
    win = sliding_window_view(x64, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    N, C, Ho, Wo = win.shape[:4]
    arg = win.reshape(N, C, Ho, Wo, k * k).argmax(axis=-1)
    dx = np.zeros(x64.shape, dtype=np.float32)
    d32 = _f32(dout)
    for i in range(Ho):
        for j in range(Wo):
            r = i * stride + arg[:, :, i, j] // k
            c = j * stride + arg[:, :, i, j] % k
            n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
            np.add.at(dx, (n_idx, c_idx, r, c), d32[:, :, i, j])
    return dx.astype(np.float64)


def flatten(x):
    return np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1).copy()


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    h = conv2d(x, params["conv_w"], params["conv_b"], stride, padding)
    h = max_pool2d(np.maximum(h, 0), pool, pool)
    f = _f32(flatten(h))
    return (f @ _f32(params["fc_w"]).T + _f32(params["fc_b"])).astype(np.float64)
