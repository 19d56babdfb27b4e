"""Part 4 — CNNs, numpy only (held-out fairness case: pure-Python loops everywhere).

Correct but slow: every sum is a Python loop over scalars, including conv2d_backward and
max_pool2d_backward. numpy is only used to allocate the result arrays.
"""

import numpy as np


def _padded_value(x, n, c, r, q, padding, H, W):
    r -= padding
    q -= padding
    if 0 <= r < H and 0 <= q < W:
        return float(x[n, c, r, q])
    return 0.0


def conv2d(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    H_out = (H + 2 * padding - KH) // stride + 1
    W_out = (W + 2 * padding - KW) // stride + 1
    out = np.zeros((N, F, H_out, W_out), dtype=np.float64)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    acc = 0.0 if b is None else float(b[f])
                    for c in range(C):
                        for di in range(KH):
                            for dj in range(KW):
                                acc += float(w[f, c, di, dj]) * _padded_value(
                                    x, n, c, i * stride + di, j * stride + dj, padding, H, W)
                    out[n, f, i, j] = acc
    return out


def conv_output_shape(h, w, k, stride=1, padding=0):
    h_out = 0
    while (h_out * stride) + k <= h + 2 * padding:
        h_out += 1
    w_out = 0
    while (w_out * stride) + k <= w + 2 * padding:
        w_out += 1
    return (h_out, w_out)


def conv_num_params(c_in, c_out, k):
    total = 0
    for _ in range(c_out):
        total += c_in * k * k + 1
    return total


def dense_num_params(n_in, n_out):
    total = 0
    for _ in range(n_out):
        total += n_in + 1
    return total


def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    _, _, H_out, W_out = dout.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    g = float(dout[n, f, i, j])
                    for c in range(C):
                        for di in range(KH):
                            for dj in range(KW):
                                r = i * stride + di - padding
                                q = j * stride + dj - padding
                                if 0 <= r < H and 0 <= q < W:
                                    dw[f, c, di, dj] += g * float(x[n, c, r, q])
                                    dx[n, c, r, q] += g * float(w[f, c, di, dj])
    db = None
    if b is not None:
        db = np.zeros(F, dtype=np.float64)
        for n in range(N):
            for f in range(F):
                for i in range(H_out):
                    for j in range(W_out):
                        db[f] += float(dout[n, f, i, j])
    return dx, dw, db


def max_pool2d(x, k, stride=None):
    s = k if stride is None else stride
    N, C, H, W = x.shape
    H_out = (H - k) // s + 1
    W_out = (W - k) // s + 1
    out = np.zeros((N, C, H_out, W_out), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    best = float(x[n, c, i * s, j * s])
                    for di in range(k):
                        for dj in range(k):
                            v = float(x[n, c, i * s + di, j * s + dj])
                            if v > best:
                                best = v
                    out[n, c, i, j] = best
    return out


def max_pool2d_backward(dout, x, k, stride=None):
    s = k if stride is None else stride
    N, C, H, W = x.shape
    _, _, H_out, W_out = dout.shape
    dx = np.zeros(x.shape, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    br, bc = i * s, j * s
                    for di in range(k):
                        for dj in range(k):
                            r, q = i * s + di, j * s + dj
                            if x[n, c, r, q] > x[n, c, br, bc]:
                                br, bc = r, q
                    dx[n, c, br, bc] += float(dout[n, c, i, j])
    return dx


def flatten(x):
    N, C, H, W = x.shape
    out = np.zeros((N, C * H * W), dtype=np.float64)
    for n in range(N):
        k = 0
        for c in range(C):
            for r in range(H):
                for q in range(W):
                    out[n, k] = x[n, c, r, q]
                    k += 1
    return out


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    h = conv2d(x, params["conv_w"], params["conv_b"], stride, padding)
    N, C, H, W = h.shape
    for n in range(N):
        for c in range(C):
            for r in range(H):
                for q in range(W):
                    if h[n, c, r, q] < 0:
                        h[n, c, r, q] = 0.0
    feats = flatten(max_pool2d(h, pool, pool))
    fc_w, fc_b = params["fc_w"], params["fc_b"]
    K = fc_w.shape[0]
    logits = np.zeros((N, K), dtype=np.float64)
    for n in range(N):
        for o in range(K):
            acc = float(fc_b[o])
            for i in range(feats.shape[1]):
                acc += float(fc_w[o, i]) * feats[n, i]
            logits[n, o] = acc
    return logits
