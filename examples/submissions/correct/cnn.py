"""Part 4 — Convolutional neural networks (questions 4.1 and 4.2), numpy only.

Style choices of this submission (all within the contract):
- conv2d, conv2d_backward, max_pool2d and max_pool2d_backward are explicit Python loops over
  the OUTPUT positions (i, j); at each position numpy contracts the channel/kernel axes
  (np.tensordot) or reduces the window, so they stay fast on small inputs.
- The conv2d forward computes in float32 internally and returns float64 (the contract allows
  it: relative error around 1e-7). Its backward works in float64.
- max-pool backward finds each window's first maximum in row-major order with np.argmax on
  the window flattened to (N, C, k*k).
- No function modifies its inputs (padding and flatten make new arrays).
"""

import numpy as np


def _pad(x, padding, dtype):
    x = np.asarray(x, dtype=dtype)
    if padding == 0:
        return x
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=dtype)
    out[:, :, padding:padding + H, padding:padding + W] = x
    return out


# ---------------------------------------------------------------------------------------------
# Q4.1
# ---------------------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0):
    """Q4.1 — 2-D convolution (cross-correlation), as torch.nn.functional.conv2d.

    out[n, o, i, j] = b[o] + sum over c, di, dj of
                      w[o, c, di, dj] * x_padded[n, c, i * stride + di, j * stride + dj]

    Args:
        x: array of shape (N, C_in, H, W).
        w: array of shape (C_out, C_in, kH, kW); the kernel may be non-square.
        b: array of shape (C_out,), or None for no bias.
        stride: int >= 1.
        padding: int >= 0.

    Returns:
        out: float64 array of shape (N, C_out, H_out, W_out).
    """
    xp = _pad(x, padding, np.float32)
    w32 = np.asarray(w, dtype=np.float32)
    N = xp.shape[0]
    C_out, _, kH, kW = w32.shape
    H_out = (xp.shape[2] - kH) // stride + 1
    W_out = (xp.shape[3] - kW) // stride + 1
    out = np.empty((N, C_out, H_out, W_out), dtype=np.float32)
    for i in range(H_out):
        r = i * stride
        for j in range(W_out):
            c = j * stride
            window = xp[:, :, r:r + kH, c:c + kW]                 # (N, C_in, kH, kW)
            out[:, :, i, j] = np.tensordot(window, w32, axes=([1, 2, 3], [1, 2, 3]))
    out = out.astype(np.float64)
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def conv_output_shape(h, w, k, stride=1, padding=0):
    """Q4.1 — spatial size of a convolution's output for a k x k kernel.

    Returns:
        (h_out, w_out): tuple of ints, ((h + 2 * padding - k) // stride + 1, same for w).
    """
    def size(n):
        return int((n + 2 * padding - k) // stride + 1)
    return size(h), size(w)


def conv_num_params(c_in, c_out, k):
    """Q4.1 — number of parameters of a conv layer with k x k kernels and a bias.

    Returns:
        n: int, c_out * (c_in * k**2 + 1).
    """
    weights = c_out * c_in * k * k
    return int(weights + c_out)


def dense_num_params(n_in, n_out):
    """Q4.1 — number of parameters of a dense (fully connected) layer with a bias.

    Returns:
        n: int, n_out * (n_in + 1).
    """
    return int(n_in * n_out + n_out)


# ---------------------------------------------------------------------------------------------
# Q4.2
# ---------------------------------------------------------------------------------------------

def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    """Q4.2 — gradients of conv2d(x, w, b, stride, padding) given the upstream gradient.

    Args:
        dout: array of shape (N, C_out, H_out, W_out), dL/dout.
        x: array of shape (N, C_in, H, W), the forward input.
        w: array of shape (C_out, C_in, kH, kW).
        b: array of shape (C_out,), or None if the forward pass had no bias.
        stride: int >= 1, as in the forward pass.
        padding: int >= 0, as in the forward pass.

    Returns:
        dx: float64 array of shape (N, C_in, H, W).
        dw: float64 array of shape (C_out, C_in, kH, kW).
        db: float64 array of shape (C_out,), or None when b is None.
    """
    dout = np.asarray(dout, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    H, W = np.shape(x)[2], np.shape(x)[3]
    xp = _pad(x, padding, np.float64)
    _, _, kH, kW = w.shape
    H_out, W_out = dout.shape[2], dout.shape[3]
    dxp = np.zeros(xp.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    for i in range(H_out):
        r = i * stride
        for j in range(W_out):
            c = j * stride
            g = dout[:, :, i, j]                                   # (N, C_out)
            dxp[:, :, r:r + kH, c:c + kW] += np.tensordot(g, w, axes=([1], [0]))
            dw += np.tensordot(g, xp[:, :, r:r + kH, c:c + kW], axes=([0], [0]))
    dx = dxp[:, :, padding:padding + H, padding:padding + W].copy()
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def _pool_geometry(x, k, stride):
    s = k if stride is None else stride
    H_out = (x.shape[2] - k) // s + 1
    W_out = (x.shape[3] - k) // s + 1
    return s, H_out, W_out


def max_pool2d(x, k, stride=None):
    """Q4.2 — max-pooling over k x k windows, as torch.nn.functional.max_pool2d(x, k, stride).

    Args:
        x: array of shape (N, C, H, W).
        k: int, window size (k x k).
        stride: int >= 1, or None for stride = k.

    Returns:
        out: float64 array of shape (N, C, H_out, W_out), the maximum of each window.
    """
    x = np.asarray(x, dtype=np.float64)
    s, H_out, W_out = _pool_geometry(x, k, stride)
    out = np.empty(x.shape[:2] + (H_out, W_out), dtype=np.float64)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out


def max_pool2d_backward(dout, x, k, stride=None):
    """Q4.2 — gradient of max_pool2d(x, k, stride) with respect to x.

    Each window sends its gradient to its first maximum in row-major order; overlapping
    windows add up.

    Args:
        dout: array of shape (N, C, H_out, W_out), dL/dout.
        x: array of shape (N, C, H, W), the forward input.
        k: int, window size.
        stride: int >= 1, or None for stride = k.

    Returns:
        dx: float64 array of shape (N, C, H, W).
    """
    x = np.asarray(x, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    s, H_out, W_out = _pool_geometry(x, k, stride)
    N, C = x.shape[:2]
    dx = np.zeros(x.shape, dtype=np.float64)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(N, C, k * k)
            first = np.argmax(window, axis=2)                      # first max, row-major
            rows = i * s + first // k
            cols = j * s + first % k
            dx[n_idx, c_idx, rows, cols] += dout[:, :, i, j]
    return dx


def flatten(x):
    """Q4.2 — (N, C, H, W) -> (N, C * H * W) in C order (channel, row, column); a new array."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1).copy()


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    """Q4.2 — a small CNN: conv -> relu -> max-pool -> flatten -> linear.

    Args:
        x: array of shape (N, C_in, H, W).
        params: {"conv_w", "conv_b", "fc_w" (K, C_out * H_p * W_p), "fc_b" (K,)}.
        stride, padding: the convolution's.
        pool: the pooling window and stride.

    Returns:
        logits: float64 array of shape (N, K).
    """
    a = conv2d(x, params["conv_w"], params["conv_b"], stride=stride, padding=padding)
    a = np.where(a > 0, a, 0.0)
    a = max_pool2d(a, pool, pool)
    feats = flatten(a)
    fc_w = np.asarray(params["fc_w"], dtype=np.float64)
    return feats @ fc_w.T + np.asarray(params["fc_b"], dtype=np.float64)
