"""Part 4 with naive loops: conv2d, its backward and max-pooling position by position."""
import numpy as np


def conv2d(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    O, _, kH, kW = w.shape
    Ho = (H + 2 * padding - kH) // stride + 1
    Wo = (W + 2 * padding - kW) // stride + 1
    out = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    s = 0.0 if b is None else b[o]
                    for c in range(C):
                        for di in range(kH):
                            for dj in range(kW):
                                r = i * stride + di - padding
                                q = j * stride + dj - padding
                                if 0 <= r < H and 0 <= q < W:
                                    s += w[o, c, di, dj] * x[n, c, r, q]
                    out[n, o, i, j] = s
    return out


def conv_output_shape(h, w, k, stride=1, padding=0):
    return ((h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)


def conv_num_params(c_in, c_out, k):
    return c_out * c_in * k * k + c_out


def dense_num_params(n_in, n_out):
    return n_in * n_out + n_out


def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    O, _, kH, kW = w.shape
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x.shape)
    dw = np.zeros(w.shape)
    db = None if b is None else np.zeros(O)
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    g = dout[n, o, i, j]
                    if db is not None:
                        db[o] += g
                    for c in range(C):
                        for di in range(kH):
                            for dj in range(kW):
                                r = i * stride + di - padding
                                q = j * stride + dj - padding
                                if 0 <= r < H and 0 <= q < W:
                                    dx[n, c, r, q] += w[o, c, di, dj] * g
                                    dw[o, c, di, dj] += x[n, c, r, q] * g
    return dx, dw, db


def max_pool2d(x, k, stride=None):
    s = k if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    m = -np.inf
                    for di in range(k):
                        for dj in range(k):
                            m = max(m, x[n, c, i * s + di, j * s + dj])
                    out[n, c, i, j] = m
    return out


def max_pool2d_backward(dout, x, k, stride=None):
    s = k if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, pos = -np.inf, None
                    for di in range(k):
                        for dj in range(k):
                            v = x[n, c, i * s + di, j * s + dj]
                            if v > best:
                                best, pos = v, (i * s + di, j * s + dj)
                    dx[n, c, pos[0], pos[1]] += dout[n, c, i, j]
    return dx


def flatten(x):
    N = x.shape[0]
    out = np.zeros((N, x[0].size))
    for n in range(N):
        t = 0
        for c in range(x.shape[1]):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    out[n, t] = x[n, c, i, j]
                    t += 1
    return out


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    h = conv2d(x, params["conv_w"], params["conv_b"], stride, padding)
    h = np.where(h > 0, h, 0.0)
    h = flatten(max_pool2d(h, pool, pool))
    out = np.zeros((h.shape[0], params["fc_w"].shape[0]))
    for n in range(h.shape[0]):
        for k in range(out.shape[1]):
            out[n, k] = params["fc_b"][k] + sum(params["fc_w"][k, m] * h[n, m] for m in range(h.shape[1]))
    return out
