"""Part 4 in float32 inside: an im2col + matmul forward, dx as the full convolution of the
dilated upstream gradient with the flipped kernel."""
import numpy as np


def _im2col(xp, kH, kW, s, Ho, Wo):
    N, C = xp.shape[:2]
    cols = np.empty((N, C, kH, kW, Ho, Wo), dtype=xp.dtype)
    for di in range(kH):
        for dj in range(kW):
            cols[:, :, di, dj] = xp[:, :, di:di + s * Ho:s, dj:dj + s * Wo:s]
    return cols.reshape(N, C * kH * kW, Ho * Wo)


def conv2d(x, w, b=None, stride=1, padding=0):
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    N, C, H, W = x.shape
    O, _, kH, kW = w.shape
    Ho = (H + 2 * padding - kH) // stride + 1
    Wo = (W + 2 * padding - kW) // stride + 1
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), np.float32)
    xp[:, :, padding:padding + H, padding:padding + W] = x32
    cols = _im2col(xp, kH, kW, stride, Ho, Wo)
    out = (w32.reshape(O, -1) @ cols).reshape(N, O, Ho, Wo)
    if b is not None:
        out += b.astype(np.float32)[:, None, None]
    return out.astype(np.float64)


def conv_output_shape(h, w, k, stride=1, padding=0):
    f = lambda n: int(np.floor((n + 2 * padding - k) / stride)) + 1
    return f(h), f(w)


def conv_num_params(c_in, c_out, k):
    return int(c_out * (c_in * k ** 2 + 1))


def dense_num_params(n_in, n_out):
    return int(n_out) * (int(n_in) + 1)


def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    d32, x32, w32 = dout.astype(np.float32), x.astype(np.float32), w.astype(np.float32)
    N, C, H, W = x.shape
    O, _, kH, kW = w.shape
    Ho, Wo = dout.shape[2:]
    Hp, Wp = H + 2 * padding, W + 2 * padding
    xp = np.zeros((N, C, Hp, Wp), np.float32)
    xp[:, :, padding:padding + H, padding:padding + W] = x32
    cols = _im2col(xp, kH, kW, stride, Ho, Wo)
    dw = np.einsum("nop,nkp->ok", d32.reshape(N, O, -1), cols).reshape(w.shape)
    # dilate dout, pad by k-1 and to the padded input size, correlate with the flipped kernel
    dil = np.zeros((N, O, Hp - kH + 1, Wp - kW + 1), np.float32)
    dil[:, :, ::stride, ::stride][:, :, :Ho, :Wo] = d32
    dil = np.pad(dil, ((0, 0), (0, 0), (kH - 1, kH - 1), (kW - 1, kW - 1)))
    wf = w32[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dxp = np.zeros((N, C, Hp, Wp), np.float32)
    for di in range(kH):
        for dj in range(kW):
            dxp += np.einsum("nohw,co->nchw", dil[:, :, di:di + Hp, dj:dj + Wp], wf[:, :, di, dj])
    dx = dxp[:, :, padding:padding + H, padding:padding + W]
    db = None if b is None else d32.sum(axis=(0, 2, 3)).astype(np.float64)
    return dx.astype(np.float64), dw.astype(np.float64), db


def max_pool2d(x, k, stride=None):
    s = stride or k
    N, C, H, W = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.full((N, C, Ho, Wo), -np.inf, np.float32)
    for di in range(k):
        for dj in range(k):
            out = np.maximum(out, x.astype(np.float32)[:, :, di:di + s * Ho:s, dj:dj + s * Wo:s])
    return out.astype(np.float64)


def max_pool2d_backward(dout, x, k, stride=None):
    s = stride or k
    N, C, H, W = x.shape
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x.shape)
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(N, C, -1)
            a = np.argmax(win, axis=-1)
            for n in range(N):
                for c in range(C):
                    dx[n, c, i * s + a[n, c] // k, j * s + a[n, c] % k] += dout[n, c, i, j]
    return dx


def flatten(x):
    return np.ascontiguousarray(x).reshape(len(x), -1).copy()


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    h = conv2d(x, params["conv_w"], params["conv_b"], stride, padding)
    h = max_pool2d(np.maximum(h, 0), pool)
    return (flatten(h).astype(np.float32) @ params["fc_w"].T.astype(np.float32)
            + params["fc_b"].astype(np.float32)).astype(np.float64)
