"""Mistaken formulas of cnn.py (Part 4): what each known mistake returns, for hints.

One function per student function, taking that function's own inputs and `expected` (torch's
result on them) and returning {hint: the value the mistaken formula gives on those inputs}. A
grader or a public check shows a hint only when the student's result matches its value, so a
hint is never a guess. Each value is built from `expected` or from torch (F.conv2d and
autograd on altered inputs) with only the mistake applied: nothing here is a numpy solution.
A mistake that cannot show on an input (a stride ignored when the stride is 1) is left out.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _conv(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """torch's cross-correlation on arrays; stride and padding ints or (rows, columns)."""
    return F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride, padding).numpy()


def _pad(x, top, bottom, left, right) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def _flipped(w) -> np.ndarray:
    return w[:, :, ::-1, ::-1]


# --- Q4.1 -------------------------------------------------------------------------------------
def conv2d(x, w, b, stride, padding, expected) -> dict:
    s, p = stride, padding
    c_out, c_in, kh, kw = w.shape
    found = {"kernel flipped: that is a true convolution; conv2d (like F.conv2d) is a "
             "cross-correlation and uses w as it is": _conv(x, _flipped(w), b, s, p)}
    if kh == kw:
        found["kernel transposed: w[o, c, i, j] multiplies row i, column j of the window"] = \
            _conv(x, w.transpose(0, 1, 3, 2), b, s, p)
    if c_in == c_out:
        found["w's axes 0 and 1 swapped: w is (C_out, C_in, kH, kW)"] = \
            _conv(x, w.transpose(1, 0, 2, 3), b, s, p)
    if p:
        found.update({
            "padding on one side only (p zeros before, none after): pad both sides":
                _conv(_pad(x, p, 0, p, 0), w, b, s, 0),
            "padding on one side only (p zeros after, none before): pad both sides":
                _conv(_pad(x, 0, p, 0, p), w, b, s, 0),
            "2·padding zeros on one side only: pad `padding` zeros on each side":
                _conv(_pad(x, 2 * p, 0, 2 * p, 0), w, b, s, 0),
            "padding ignored: add `padding` zeros on each side of H and W": _conv(x, w, b, s, 0),
        })
    if s > 1:
        h_out, w_out = expected.shape[2:]
        found.update({
            "stride ignored: windows taken at every position": _conv(x, w, b, 1, p),
            "window (i, j) taken at row i, column j: it starts at row i·stride, column "
            "j·stride": _conv(x, w, b, 1, p)[:, :, :h_out, :w_out],
            "stride applied to the rows only: it applies to both H and W":
                _conv(x, w, b, (s, 1), p),
            "stride applied to the columns only: it applies to both H and W":
                _conv(x, w, b, (1, s), p),
        })
    if b is not None:
        bias = b[None, :, None, None]
        found["bias ignored: out[n, o] gets b[o] added"] = expected - bias
        if c_in > 1:
            found["bias added once per input channel: add b[o] once per output"] = \
                expected + (c_in - 1) * bias
        if kh * kw > 1:
            found["bias added once per kernel entry: add b[o] once per output"] = \
                expected + (kh * kw - 1) * bias
    found["rows and columns of the output swapped: out[n, o, i, j] is the window at row i, "
          "column j"] = expected.transpose(0, 1, 3, 2)
    return found


def conv_output_shape(h, w, k, stride, padding, expected) -> dict:
    s, p = stride, padding

    def each(size):
        return tuple(size(n) for n in (h, w))

    return {
        "forgot the +1: there are (size + 2·padding - k) // stride + 1 window positions":
            tuple(n - 1 for n in expected),
        "padding counted once: it is added on both sides, + 2·padding":
            each(lambda n: (n + p - k) // s + 1),
        "padding subtracted: padding adds 2·padding to the size":
            each(lambda n: (n - 2 * p - k) // s + 1),
        "rounded up: the output size rounds down (floor) when the stride does not divide":
            each(lambda n: -(-(n + 2 * p - k) // s) + 1),
        "true division: the size is an int, (size + 2·padding - k) // stride + 1":
            each(lambda n: (n + 2 * p - k) / s + 1),
        "stride ignored: divide by the stride": each(lambda n: n + 2 * p - k + 1),
        "height and width swapped: the result is (h_out, w_out)": tuple(expected[::-1]),
    }


def _integer_mistakes(expected: int) -> dict:
    found = {}
    if expected >= 2 ** 31:
        found["the count overflowed 32-bit integers: compute with Python ints"] = \
            (expected + 2 ** 31) % 2 ** 32 - 2 ** 31
    if float(np.float32(expected)) != expected:
        found["float32 arithmetic rounded the count: a parameter count is an exact integer "
              "(Python ints)"] = float(np.float32(expected))
    return found


def conv_num_params(c_in, c_out, k, expected) -> dict:
    return {
        "no bias: each output channel also has one bias": expected - c_out,
        "one bias per (output, input) channel pair: a conv layer has one bias per output "
        "channel": expected + c_out * (c_in - 1),
        "a k x k kernel has k**2 weights per input channel, not k": c_out * (c_in * k + 1),
        "input channels forgotten: each output channel has a k x k kernel per INPUT channel":
            c_out * (k * k + 1),
        **_integer_mistakes(expected),
    }


def dense_num_params(n_in, n_out, expected) -> dict:
    return {
        "no bias: each output also has one bias": expected - n_out,
        "one bias per input: a dense layer has one bias per OUTPUT, n_out·(n_in + 1)":
            expected - n_out + n_in,
        "a dense layer connects every input to every output: n_out·(n_in + 1), a product":
            n_in + n_out + 1,
        **_integer_mistakes(expected),
    }


# --- Q4.2 -------------------------------------------------------------------------------------
def _conv_grads(dout, x, w, b, stride, padding):
    """(dx, dw, db) of sum(g * F.conv2d(x, w, b, stride, padding)) by torch's autograd, where g
    is dout in the top-left corner of the output's shape (zeros elsewhere, if it is larger)."""
    xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
    bt = None if b is None else _t(b).requires_grad_()
    out = F.conv2d(xt, wt, bt, stride, padding)
    g = torch.zeros_like(out)
    g[:, :, :dout.shape[2], :dout.shape[3]] = _t(dout)
    out.backward(g)
    return xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy()


def _unreached(n, k, stride, padding, n_out) -> int:
    """How many of the last rows (of n) no window covers when the stride does not divide."""
    return int(np.sum(np.arange(n) + padding >= (n_out - 1) * stride + k))


def conv2d_backward(dout, x, w, b, stride, padding, expected) -> dict:
    """{hint: (dx, dw, db)}: each mistake changes one of the three, the others are expected's."""
    dx, dw, db = expected
    s, p = stride, padding
    n, c_in, h, w_ = x.shape
    c_out, _, kh, kw = w.shape

    def with_dx(value):
        return value, dw, db

    def with_dw(value):
        return dx, value, db

    found = {"dx went back through the kernel flipped: with a cross-correlation forward, dout "
             "goes back through w as it is (a full convolution with w rotated 180° is the "
             "same thing; rotating twice is this mistake)":
             with_dx(_conv_grads(dout, x, _flipped(w), b, s, p)[0]),
             "dw flipped (rotated 180°): dw[o, c, i, j] pairs kernel entry (i, j) with the "
             "windows' entry (i, j)": with_dw(dw[:, :, ::-1, ::-1])}
    if c_in == c_out:
        found["dx went back through w with its axes 0 and 1 swapped: w is (C_out, C_in, kH, "
              "kW)"] = with_dx(_conv_grads(dout, x, w.transpose(1, 0, 2, 3), b, s, p)[0])
        found["dw's axes 0 and 1 swapped: dw is (C_out, C_in, kH, kW), like w"] = \
            with_dw(dw.transpose(1, 0, 2, 3))
    if s > 1:
        dx_1, dw_1, _ = _conv_grads(dout, x, w, b, 1, p)
        found["stride ignored in dx: dout[i, j] goes back to the window starting at row "
              "i·stride, column j·stride"] = with_dx(dx_1)
        found["stride ignored in dw: dout[i, j] pairs with the window starting at row "
              "i·stride, column j·stride"] = with_dw(dw_1)
    if p:
        xp = _t(_pad(x, p, p, p, p)).requires_grad_()
        F.conv2d(xp, _t(w), None, s, 0).backward(_t(dout))
        dx_padded = xp.grad.numpy()
        found.update({
            "padding cropped from the end only (dx_padded[:H, :W]): the padded gradient loses p "
            "rows/columns on EACH side, dx = dx_padded[p:p+H, p:p+W]":
                with_dx(dx_padded[:, :, :h, :w_]),
            "padding cropped from the start only (dx_padded[2p:, 2p:]): the padded gradient "
            "loses p rows/columns on EACH side, dx = dx_padded[p:p+H, p:p+W]":
                with_dx(dx_padded[:, :, 2 * p:, 2 * p:]),
            "padding not cropped: dx has x's shape, dx = dx_padded[p:p+H, p:p+W]":
                with_dx(dx_padded),
        })
    rows = _unreached(h, kh, s, p, dout.shape[2])
    cols = _unreached(w_, kw, s, p, dout.shape[3])
    if rows or cols:
        found["dx has the size the windows cover, not x's shape (H, W): rows/columns no "
              "window reaches get a zero gradient"] = with_dx(dx[:, :, :h - rows, :w_ - cols])
    if n > 1:
        found["dw averaged over the batch: it is the sum over examples and positions"] = \
            with_dw(dw / n)
    if db is not None:
        for hint, value in {
            "db averaged: it is the sum of dout over the batch and positions":
                db / (n * dout.shape[2] * dout.shape[3]),
            "db summed over positions only, not over the batch: sum over axes (0, 2, 3)":
                dout.sum(axis=(2, 3)),
            "db summed over the batch only, not over positions: sum over axes (0, 2, 3)":
                dout.sum(axis=0),
            "db summed over every axis: one sum per output channel, over axes (0, 2, 3)":
                db.sum(),
        }.items():
            found[hint] = dx, dw, value
    return found


def _pool(x, k, stride, **kwargs) -> np.ndarray:
    return F.max_pool2d(_t(x), k, stride, **kwargs).numpy()


def max_pool2d(x, k, stride, expected) -> dict:
    s = k if stride is None else stride
    h_out, w_out = expected.shape[2:]
    found = {
        "average pooling: max_pool2d takes the maximum of each window":
            F.avg_pool2d(_t(x), k, s).numpy(),
        "output size rounded up: a partial window at the border is dropped (floor)":
            _pool(x, k, s, ceil_mode=True),
    }
    if stride is None:
        found["stride=None means stride = k (non-overlapping windows), not 1"] = _pool(x, k, 1)
    elif stride != k:
        found["stride ignored: windows start every `stride` pixels, not every k"] = \
            _pool(x, k, k)
        found["k and stride swapped: max_pool2d(x, k, stride) has k x k windows"] = \
            _pool(x, stride, k)
    if s > 1:
        found["window (i, j) taken at row i, column j: it starts at row i·stride, column "
              "j·stride"] = _pool(x, k, 1)[:, :, :h_out, :w_out]
    return found


def _routed(x, k, s, dout, weights_of) -> np.ndarray:
    """dx when window l sends dout[l] to its entries with weights weights_of(windows), windows
    (N·C, k·k, L) from F.unfold; F.fold adds up what overlapping windows send."""
    n, c, h, w = x.shape
    windows = F.unfold(_t(x).reshape(n * c, 1, h, w), k, stride=s)
    sent = weights_of(windows) * _t(dout).reshape(n * c, 1, -1)
    return F.fold(sent, (h, w), k, stride=s).reshape(n, c, h, w).numpy()


def max_pool2d_backward(dout, x, k, stride, expected) -> dict:
    s = k if stride is None else stride
    n, c, h, w = x.shape

    def last_max(windows):
        position = k * k - 1 - windows.flip(1).argmax(1)
        return F.one_hot(position, k * k).transpose(1, 2).to(windows.dtype)

    xt = _t(x).requires_grad_()
    F.avg_pool2d(xt, k, s).backward(_t(dout))
    found = {
        "on a tie the gradient went to every maximum of the window: it goes to the FIRST "
        "maximum in row-major order only, as torch":
            _routed(x, k, s, dout, lambda v: (v == v.amax(1, keepdim=True)).to(v.dtype)),
        "on a tie the gradient went to the LAST maximum of the window: it goes to the first "
        "one in row-major order, as torch": _routed(x, k, s, dout, last_max),
        "the gradient of average pooling (dout / k² to every pixel of the window): max-pooling "
        "sends dout to the window's maximum only": xt.grad.numpy(),
        "dout sent to every pixel of the window: max-pooling sends it to the window's maximum "
        "only": xt.grad.numpy() * k * k,
    }
    if s < k:
        # torch's own indices of each window's first maximum; a plain assignment keeps the
        # last window's value where windows share their maximum.
        _, index = F.max_pool2d(_t(x), k, s, return_indices=True)
        overwritten = np.zeros((n, c, h * w))
        nn_, cc = np.indices(index.shape[:2])
        overwritten[nn_[..., None], cc[..., None], index.reshape(n, c, -1).numpy()] = \
            dout.reshape(n, c, -1)
        found["overlapping windows overwrite each other's gradient: a pixel that is the "
              "maximum of several windows receives the sum (use += or np.add.at)"] = \
            overwritten.reshape(x.shape)
    if s > 1:
        xt = _t(x).requires_grad_()
        out = F.max_pool2d(xt, k, 1)
        g = torch.zeros_like(out)
        g[:, :, :dout.shape[2], :dout.shape[3]] = _t(dout)
        out.backward(g)
        found["window (i, j) taken at row i, column j: it starts at row i·stride, column "
              "j·stride"] = xt.grad.numpy()
    return found


def flatten(x, expected) -> dict:
    n, c = x.shape[:2]
    return {
        "flattened in Fortran order (order='F'): use C order, as torch.flatten(x, 1)":
            x.reshape(n, -1, order="F"),
        "each image flattened in Fortran (column-major) order: C order is channel, then row, "
        "then column": x.transpose(0, 3, 2, 1).reshape(n, -1),
        "channels last (N, H, W, C) before flattening: torch keeps channel, row, column":
            x.transpose(0, 2, 3, 1).reshape(n, -1),
        "the batch axis flattened too: the result is (N, C·H·W)": expected.ravel(),
        "only H and W flattened: the result is (N, C·H·W)": expected.reshape(n, c, -1),
        "the channels joined to the batch: the result is (N, C·H·W)":
            expected.reshape(n * c, -1),
    }


def cnn_forward(x, params, stride, padding, pool, expected) -> dict:
    conv_w, conv_b, fc_w, fc_b = (_t(params[k]) for k in ("conv_w", "conv_b", "fc_w", "fc_b"))
    xt, logits = _t(x), _t(expected)
    conv = F.conv2d(xt, conv_w, conv_b, stride, padding)
    pooled = F.max_pool2d(F.relu(conv), pool, pool)

    def head(features: torch.Tensor) -> np.ndarray:
        return F.linear(features.reshape(len(x), -1), fc_w, fc_b).numpy()

    found = {
        "no ReLU between the convolution and the pooling": head(F.max_pool2d(conv, pool, pool)),
        "sigmoid instead of ReLU after the convolution":
            head(F.max_pool2d(torch.sigmoid(conv), pool, pool)),
        "tanh instead of ReLU after the convolution":
            head(F.max_pool2d(torch.tanh(conv), pool, pool)),
        "average pooling: the CNN max-pools": head(F.avg_pool2d(F.relu(conv), pool, pool)),
        "flattened in Fortran order (order='F'): C order, as torch.flatten(x, 1)":
            head(_t(pooled.numpy().reshape(len(x), -1, order="F"))),
        "each image flattened in Fortran (column-major) order: C order is channel, then row, "
        "then column": head(pooled.permute(0, 3, 2, 1)),
        "channels last before flattening: flatten keeps channel, row, column":
            head(pooled.permute(0, 2, 3, 1)),
        "fc bias missing: logits = flat @ fc_w.T + fc_b": (logits - fc_b).numpy(),
        "ReLU applied to the logits too: the last layer is linear": F.relu(logits).numpy(),
        "softmax applied: cnn_forward returns logits": torch.softmax(logits, 1).numpy(),
        "log-softmax applied: cnn_forward returns logits": torch.log_softmax(logits, 1).numpy(),
    }
    if padding >= 1 and stride != padding:
        swapped = F.max_pool2d(F.relu(F.conv2d(xt, conv_w, conv_b, padding, stride)),
                               pool, pool)
        if swapped[0].numel() == fc_w.shape[1]:
            found["stride and padding swapped in the call to conv2d: conv2d(x, w, b, stride, "
                  "padding)"] = head(swapped)
    return found
