"""Part 4 — CNNs, numpy only (held-out corpus, style: im2col / col2im helpers and matmul).

Every window is unrolled into a column (im2col), a convolution becomes one matrix product and
its backward pass folds the columns back (col2im). Pooling reuses conv_output_shape.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def _out_len(n, k, stride, padding):
    return (n + 2 * padding - k) // stride + 1


def _im2col(x, kh, kw, stride, padding):
    """Columns of shape (N, C*kh*kw, L): each column one window, rows ordered (c, di, dj)."""
    N, C, H, W = x.shape
    Ho, Wo = _out_len(H, kh, stride, padding), _out_len(W, kw, stride, padding)
    xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)], mode="constant")
    cols = np.empty((N, C, kh, kw, Ho, Wo), dtype=np.float64)
    for di in range(kh):
        for dj in range(kw):
            cols[:, :, di, dj] = xp[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride]
    return cols.reshape(N, C * kh * kw, Ho * Wo), (Ho, Wo)


def _col2im(cols, x_shape, kh, kw, stride, padding, out_hw):
    """Adjoint of _im2col: scatter-add every column entry back to its input pixel."""
    N, C, H, W = x_shape
    Ho, Wo = out_hw
    cols = cols.reshape(N, C, kh, kw, Ho, Wo)
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=np.float64)
    for di in range(kh):
        for dj in range(kw):
            xp[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride] += cols[:, :, di, dj]
    return xp[:, :, padding:padding + H, padding:padding + W]


# Q4.1 -----------------------------------------------------------------------------------------

def conv2d(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    N = x.shape[0]
    C_out, C_in, kh, kw = w.shape
    cols, (Ho, Wo) = _im2col(np.asarray(x, dtype=np.float64), kh, kw, stride, padding)
    out = np.matmul(w.reshape(C_out, -1), cols)               # (N, C_out, L)
    if b is not None:
        out = out + np.reshape(b, (1, C_out, 1))
    return out.reshape(N, C_out, Ho, Wo)


def conv_output_shape(h: int, w: int, k: int, stride: int = 1, padding: int = 0) -> Tuple[int, int]:
    return (_out_len(h, k, stride, padding), _out_len(w, k, stride, padding))


def conv_num_params(c_in: int, c_out: int, k: int) -> int:
    return (c_in * k ** 2 + 1) * c_out


def dense_num_params(n_in: int, n_out: int) -> int:
    return (n_in + 1) * n_out


# Q4.2 -----------------------------------------------------------------------------------------

def conv2d_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                    stride: int = 1, padding: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    C_out, C_in, kh, kw = w.shape
    N = x.shape[0]
    cols, (Ho, Wo) = _im2col(np.asarray(x, dtype=np.float64), kh, kw, stride, padding)
    g = dout.reshape(N, C_out, Ho * Wo)
    dw = np.einsum("nol,nkl->ok", g, cols).reshape(w.shape)
    dcols = np.matmul(w.reshape(C_out, -1).T, g)              # (N, C_in*kh*kw, L)
    dx = _col2im(dcols, x.shape, kh, kw, stride, padding, (Ho, Wo))
    db = None if b is None else g.sum(axis=(0, 2))
    return dx, dw, db


def _pool_windows(x, k, stride):
    N, C, H, W = x.shape
    Ho, Wo = conv_output_shape(H, W, k, stride, 0)
    cols, _ = _im2col(x.reshape(N * C, 1, H, W), k, k, stride, 0)   # (N*C, k*k, L)
    return cols, (N, C, Ho, Wo)


def max_pool2d(x: np.ndarray, k: int, stride: int | None = None) -> np.ndarray:
    stride = k if stride is None else stride
    cols, (N, C, Ho, Wo) = _pool_windows(np.asarray(x, dtype=np.float64), k, stride)
    return cols.max(axis=1).reshape(N, C, Ho, Wo)


def max_pool2d_backward(dout: np.ndarray, x: np.ndarray, k: int, stride: int | None = None) -> np.ndarray:
    stride = k if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    cols, (N, C, Ho, Wo) = _pool_windows(x, k, stride)
    winner = cols.argmax(axis=1)                              # first maximum of each window
    dcols = np.zeros_like(cols)
    np.put_along_axis(dcols, winner[:, None, :], dout.reshape(N * C, 1, Ho * Wo), axis=1)
    H, W = x.shape[2], x.shape[3]
    dx = _col2im(dcols, (N * C, 1, H, W), k, k, stride, 0, (Ho, Wo))
    return dx.reshape(x.shape)


def flatten(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(len(x), -1)


def _dense(h, W, b):
    return h @ W.T + b


def cnn_forward(x: np.ndarray, params: dict[str, np.ndarray], stride: int = 1, padding: int = 0,
                pool: int = 2) -> np.ndarray:
    z = conv2d(x, params["conv_w"], params["conv_b"], stride=stride, padding=padding)
    a = np.clip(z, 0.0, None)
    p = max_pool2d(a, pool, pool)
    return _dense(flatten(p), params["fc_w"], params["fc_b"])
