"""Q4.1 and Q4.2 — convolutions, pooling and a small CNN, against torch (float64).

Q4.1, the main property of a convolution layer (local, shared weights, equivariant):
- conv2d vs F.conv2d on strides 1 to 3, paddings 0 to 2, non-square images and kernels, batches,
  several channels, b=None and the defaults, strides that do not divide the padded size. Fails:
  a flipped kernel (true convolution instead of cross-correlation), padding on one side only,
  no padding, the stride ignored or applied wrongly, the bias ignored, w's C_out and C_in axes
  swapped (a case has C_in == C_out), a kernel transposed (kH and kW swapped; square-kernel
  case), `out + b` crashing or a wrong output size when the stride does not divide evenly.
- conv_output_shape vs the shape F.conv2d returns. Fails: no +1, padding counted once, ceil
  instead of floor (cases where the stride does not divide), the stride ignored.
- conv_num_params / dense_num_params vs the parameters of nn.Conv2d / nn.Linear, compared
  exactly (a missing bias is 1e-6 of a big dense layer: a tolerance would let it pass). Fails:
  no bias, a bias per (output, input) channel pair, k instead of k**2, in + out instead of a
  product. The weight-sharing test compares a 3x3 conv layer (its count takes no image size:
  shared kernels) with the dense layer doing its job (flattened image in, flattened feature map
  out) on images from 8x8 to 227x227, whose count grows with the image (nn.Linear built on the
  meta device, no memory). Fails in addition: int32 or float32 arithmetic that loses the exact
  count of a dense layer with 1e11 parameters.
- translation equivariance: conv2d of a shifted image equals the shifted conv2d output away from
  the borders (stride 1, padding 0, shifts with dy != dx, some negative). The test compares the
  student's conv2d with itself, not with torch. Fails: an output (i, j) that does not come
  from the patch at (i, j) — rows and columns of the output swapped (out[i, j] built from the patch at (j, i)),
  a kernel entry chosen by the absolute position (different weights per location, e.g. indexing
  w with the output position modulo k), a bias broadcast along a spatial axis. A flipped or
  transposed kernel, one-sided padding, or wrong channel mixing are still translation
  equivariant: they pass this test and lose the F.conv2d comparison instead.
- inputs unchanged (an in-place pad or normalisation of x fails).

Q4.2, the components of a CNN:
- conv2d_backward (dx, dw, db, graded separately) vs torch autograd of F.conv2d with a random
  upstream gradient, on the same variety of strides and paddings, including strides that leave
  real rows/columns that no window reaches. Fails: dx through a flipped (or not flipped)
  kernel, the stride ignored in dx or dw, padding cropped from one side only, garbage instead of
  0 in rows/columns the last window never reaches, dx of the shape covered by windows only, db
  as a mean or per example, db not None when b is None.
- max_pool2d vs F.max_pool2d: stride None (= k), stride < k, stride > k, sizes that do not
  divide. Fails: stride None read as 1, the stride ignored, average pooling, ceil output size.
- max_pool2d_backward vs autograd of F.max_pool2d: random inputs (overlapping windows whose
  gradients must add up: overwriting fails) and integer inputs with ties (torch on CPU sends a
  window's gradient to its FIRST maximum in row-major order: sending it to every maximum or to
  the last one fails).
- flatten vs torch.flatten(x, 1). Fails: Fortran order (whole array or per image), channels last,
  a wrong shape.
- cnn_forward vs nn.Sequential(Conv2d, ReLU, MaxPool2d(pool, pool), Flatten, Linear) holding
  the same weights. cnn_forward is specified as built from conv2d, relu, max-pool, flatten and a
  linear layer, so a conv2d bug also costs this (small) share of Q4.2. Fails: no ReLU, no bias,
  pooling with stride 1, flatten in the wrong order, fc_w not transposed, ignoring stride,
  padding or pool (a default-argument case, others with stride 2, padding 1, pool 2 and 3).
- inputs unchanged (x, dout, w, b, the params dict).
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import Mismatch, assert_close, assert_true, assert_unchanged, case_rng
from autograder.isolation.sandbox import StudentCodeError

MODULE = "cnn"


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv(x, w, b=None, stride=1, padding=0):
    """F.conv2d on numpy arrays, float64 result as numpy."""
    return F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride, padding).numpy()


def _pad_sides(x, top, bottom, left, right):
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def _shape(got, n: int, check: str, where: str):
    """The student's tuple/list of n values, or a Mismatch naming what came back."""
    if isinstance(got, np.ndarray) and got.ndim == 1:
        got = got.tolist()
    if not isinstance(got, (tuple, list)) or len(got) != n:
        raise Mismatch(f"{check} on {where}: expected a tuple of {n} values, got "
                       f"{type(got).__name__} {str(got)[:60]}")
    return got


# --------------------------------------------------------------------------------------------
# Q4.1 — conv2d against F.conv2d
# --------------------------------------------------------------------------------------------

# (N, C_in, H, W, C_out, kH, kW, stride, padding, bias) — bias None: b=None passed; "default":
# conv2d(x, w) with every default (no bias, stride 1, padding 0).
CONV_SPECS = [
    (2, 3, 7, 7, 2, 3, 3, 1, 0, True),
    (1, 2, 8, 6, 3, 3, 2, 2, 1, True),        # non-square kernel, stride does not divide
    (2, 2, 9, 7, 2, 2, 3, 3, 2, None),        # b=None, padding 2, stride 3
    (1, 3, 6, 9, 3, 3, 3, 2, 1, True),        # C_in == C_out, square kernel: axis swaps show
    (2, 1, 5, 8, 2, 4, 2, 1, 2, True),        # tall kernel, padding 2
    (1, 2, 6, 5, 2, 3, 3, 1, 0, "default"),
    (2, 2, 9, 9, 2, 3, 2, 3, 0, True),        # stride 3, W does not divide
]


@functools.cache
def conv_inputs(case: int):
    n, c_in, h, w_, c_out, kh, kw, stride, padding, bias = CONV_SPECS[case]
    rng = case_rng("cnn.conv2d", case)
    x = rng.normal(0, 1, (n, c_in, h, w_))
    w = rng.normal(0, 1, (c_out, c_in, kh, kw))
    b = rng.normal(0, 1, c_out) if bias is True else None
    return x, w, b, stride, padding


@functools.cache
def conv_expected_and_mistakes(case: int):
    x, w, b, s, p = conv_inputs(case)
    expected = _conv(x, w, b, s, p)
    mistakes = {"kernel flipped: that is a true convolution; conv2d in deep learning (and "
                "F.conv2d) is a cross-correlation, w is used as is (Q4.1)":
                _conv(x, w[:, :, ::-1, ::-1].copy(), b, s, p)}
    if p > 0:
        mistakes.update({
            "padding applied on one side only (p zeros before, none after): pad both sides (Q4.1)":
                _conv(_pad_sides(x, p, 0, p, 0), w, b, s, 0),
            "padding applied on one side only (p zeros after, none before): pad both sides (Q4.1)":
                _conv(_pad_sides(x, 0, p, 0, p), w, b, s, 0),
            "2·padding zeros on one side instead of padding on each side (Q4.1)":
                _conv(_pad_sides(x, 2 * p, 0, 2 * p, 0), w, b, s, 0),
            "padding ignored (Q4.1)": _conv(x, w, b, s, 0),
        })
    if s > 1:
        mistakes["stride ignored: windows taken at every position (Q4.1)"] = _conv(x, w, b, 1, p)
    if b is not None:
        mistakes["bias ignored (Q4.1)"] = _conv(x, w, None, s, p)
    if w.shape[0] == w.shape[1]:
        mistakes["w's axes 0 and 1 swapped: w is (C_out, C_in, kH, kW) (Q4.1)"] = _conv(
            x, w.transpose(1, 0, 2, 3).copy(), b, s, p)
    if w.shape[2] == w.shape[3]:
        mistakes["kernel transposed (rows and columns of w swapped) (Q4.1)"] = _conv(
            x, w.transpose(0, 1, 3, 2).copy(), b, s, p)
    return expected, mistakes


def call_conv2d(submission, case: int):
    x, w, b, s, p = conv_inputs(case)
    if CONV_SPECS[case][-1] == "default":
        args, check = (x, w), "conv2d(x, w) (defaults: b=None, stride=1, padding=0)"
    else:
        args = (x, w, b, s, p)
        check = f"conv2d(x, w, {'b' if b is not None else 'None'}, stride={s}, padding={p})"
    try:
        return submission.call(MODULE, "conv2d", *args), check
    except StudentCodeError as error:
        if b is not None or error.kind != "raised" or "NoneType" not in str(error):
            raise
        raise Mismatch(f"{error}\n  hint: b=None means no bias: add b only when it is given "
                       f"(if b is not None) (Q4.1)") from None


@pytest.mark.question("4.1", weight=4)
@pytest.mark.parametrize("case", range(len(CONV_SPECS)))
def test_conv2d_matches_f_conv2d(submission, case):
    x, w, b, s, p = conv_inputs(case)
    got, check = call_conv2d(submission, case)
    expected, mistakes = conv_expected_and_mistakes(case)
    assert_close(got, expected, check=check + " vs F.conv2d", inputs={"x": x, "w": w},
                 mistakes=mistakes)


# --------------------------------------------------------------------------------------------
# Q4.1 — conv_output_shape
# --------------------------------------------------------------------------------------------

# (h, w, k, stride, padding): dividing and non-dividing strides, large images.
SHAPE_SPECS = [(7, 7, 3, 1, 0), (8, 6, 3, 2, 1), (9, 7, 2, 3, 2), (28, 28, 5, 1, 2),
               (32, 31, 3, 2, 0), (224, 224, 7, 2, 3), (10, 13, 4, 3, 1), (5, 9, 5, 1, 0)]


@functools.cache
def torch_output_shape(h, w, k, stride, padding):
    x = torch.zeros(1, 1, h, w, dtype=torch.float64)
    return tuple(F.conv2d(x, torch.zeros(1, 1, k, k, dtype=torch.float64), None, stride,
                          padding).shape[2:])


@pytest.mark.question("4.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(SHAPE_SPECS)))
def test_conv_output_shape_matches_f_conv2d(submission, case):
    h, w, k, s, p = SHAPE_SPECS[case]
    check = f"conv_output_shape(h={h}, w={w}, k={k}, stride={s}, padding={p})"
    got = _shape(submission.call(MODULE, "conv_output_shape", h, w, k, s, p), 2, check,
                 "ints")
    expected = torch_output_shape(h, w, k, s, p)
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == e
             for v, e in zip(got, expected))
    if ok:
        return
    formulas = {
        "forgot the +1: there are (size + 2·padding − k) // stride + 1 window positions (Q4.1)":
            tuple((n + 2 * p - k) // s for n in (h, w)),
        "padding counted once: it is added on both sides, + 2·padding (Q4.1)":
            tuple((n + p - k) // s + 1 for n in (h, w)),
        "rounded up: the output size rounds down (floor) when the stride does not divide (Q4.1)":
            tuple(-(-(n + 2 * p - k) // s) + 1 for n in (h, w)),
        "stride ignored (Q4.1)": tuple(n + 2 * p - k + 1 for n in (h, w)),
    }
    values = list(formulas.values())
    hint = next((f"\n  hint: {text}" for text, wrong in formulas.items()   # unambiguous only
                 if wrong != expected and tuple(got) == wrong and values.count(wrong) == 1), "")
    raise Mismatch(f"{check}: expected {expected} (the spatial shape F.conv2d returns), "
                   f"got {tuple(got)}{hint}")


# --------------------------------------------------------------------------------------------
# Q4.1 — parameter counts: shared weights
# --------------------------------------------------------------------------------------------

def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@functools.cache
def torch_conv_count(c_in, c_out, k) -> int:
    return count(torch.nn.Conv2d(c_in, c_out, k, device="meta"))


@functools.cache
def torch_dense_count(n_in, n_out) -> int:
    return count(torch.nn.Linear(n_in, n_out, device="meta"))


def assert_count(got, expected: int, check: str, mistakes: dict) -> None:
    """Exact comparison: a parameter count is an integer, and a missing bias of a huge layer is
    far below any relative tolerance."""
    if (isinstance(got, (int, float)) and not isinstance(got, bool)) and got == expected:
        return
    mistakes = dict(mistakes)
    if expected >= 2 ** 31:
        mistakes["the count overflowed 32-bit integers: compute with Python ints (Q4.1)"] = \
            (expected + 2 ** 31) % 2 ** 32 - 2 ** 31
    hint = next((f"\n  hint: {text}" for text, wrong in mistakes.items()
                 if wrong != expected and got == wrong), "")
    if not hint and isinstance(got, (int, float)) and abs(got - expected) <= 1e-6 * expected:
        hint = ("\n  hint: nearly right but not exact: float32 arithmetic? A parameter count is "
                "an exact integer (Q4.1)")
    raise Mismatch(f"{check}: expected {expected} (the parameters torch counts), got "
                   f"{got!r}{hint}")


def conv_count_mistakes(c_in, c_out, k):
    return {"no bias: each output channel also has one bias (Q4.1)": c_out * c_in * k * k,
            "one bias per (output, input) channel pair: a conv layer has one bias per output "
            "channel (Q4.1)": c_out * c_in * (k * k + 1),
            "a k x k kernel has k**2 weights per input channel, not k (Q4.1)":
                c_out * (c_in * k + 1)}


def dense_count_mistakes(n_in, n_out):
    return {"no bias: each output also has one bias (Q4.1)": n_in * n_out,
            "a dense layer connects every input to every output: n_out·(n_in + 1) (Q4.1)":
                n_in + n_out + 1}


# (c_in, c_out, k) for conv, (n_in, n_out) for dense.
COUNT_SPECS = [((3, 16, 3), (784, 10)), ((1, 6, 5), (120, 84)), ((8, 4, 1), (5, 1)),
               ((16, 32, 7), (3, 7))]


@pytest.mark.question("4.1", weight=1)
@pytest.mark.parametrize("case", range(len(COUNT_SPECS)))
def test_num_params_match_torch_layers(submission, case):
    (c_in, c_out, k), (n_in, n_out) = COUNT_SPECS[case]
    got = submission.call(MODULE, "conv_num_params", c_in, c_out, k)
    assert_count(got, torch_conv_count(c_in, c_out, k),
                 f"conv_num_params(c_in={c_in}, c_out={c_out}, k={k}) vs nn.Conv2d",
                 conv_count_mistakes(c_in, c_out, k))
    got = submission.call(MODULE, "dense_num_params", n_in, n_out)
    assert_count(got, torch_dense_count(n_in, n_out),
                 f"dense_num_params(n_in={n_in}, n_out={n_out}) vs nn.Linear",
                 dense_count_mistakes(n_in, n_out))


# A conv layer 3 -> 16 channels, 3x3, padding 1 (same size) on images of growing size, and the
# dense layer that would map the flattened image to the same flattened feature map.
SHARING_SIZES = [(8, 8), (32, 32), (61, 47), (227, 227)]


@pytest.mark.question("4.1", weight=1)
def test_weight_sharing_conv_count_does_not_grow_with_the_image(submission):
    c_in, c_out, k = 3, 16, 3
    conv = submission.call(MODULE, "conv_num_params", c_in, c_out, k)
    assert_count(conv, torch_conv_count(c_in, c_out, k),
                 f"conv_num_params({c_in}, {c_out}, {k}) (3x3 conv, 3 -> 16 channels)",
                 conv_count_mistakes(c_in, c_out, k))
    for h, w in SHARING_SIZES:
        n_in, n_out = c_in * h * w, c_out * h * w
        got = submission.call(MODULE, "dense_num_params", n_in, n_out)
        assert_count(got, torch_dense_count(n_in, n_out),
                     f"dense_num_params({n_in}, {n_out}): the dense layer doing the job of that "
                     f"conv layer on a {h}x{w} image (the conv layer needs {conv} parameters at "
                     f"any size; nn.Linear counts n_out·(n_in + 1) exactly, even at 1e11)",
                     dense_count_mistakes(n_in, n_out))


# --------------------------------------------------------------------------------------------
# Q4.1 — translation equivariance (the student's conv2d against itself)
# --------------------------------------------------------------------------------------------

# (N, C_in, H, W, C_out, kH, kW, padding, dy, dx), stride 1, padding 0: padding only changes the
# border, which the comparison leaves out, and a padding bug (one-sided, missing) keeps a conv
# equivariant — the F.conv2d comparison grades padding.
SHIFT_SPECS = [(1, 2, 9, 8, 2, 3, 2, 0, 2, -1),
               (2, 1, 8, 9, 3, 2, 3, 0, -2, 1),
               (1, 3, 7, 9, 2, 3, 3, 0, 1, 3),
               (1, 2, 9, 9, 2, 3, 3, 0, -3, -1)]


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """x moved down by dy rows and right by dx columns, zeros where nothing comes in."""
    out = np.zeros_like(x)
    h, w = x.shape[2:]
    out[:, :, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, :, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def interior(n: int, k: int, padding: int, d: int) -> range:
    """Output positions i whose window (input rows i - padding ... i - padding + k - 1) lies
    where the shifted image is an exact copy of x: rows [max(d, 0), n + min(d, 0))."""
    return range(max(d, 0) + padding, n + min(d, 0) + padding - k + 1)


@functools.cache
def shift_inputs(case: int):
    n, c_in, h, w_, c_out, kh, kw, p, dy, dx = SHIFT_SPECS[case]
    rng = case_rng("cnn.equivariance", case)
    x = rng.normal(0, 1, (n, c_in, h, w_))
    w = rng.normal(0, 1, (c_out, c_in, kh, kw))
    b = rng.normal(0, 1, c_out)
    return x, w, b, p, dy, dx


@pytest.mark.question("4.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(SHIFT_SPECS)))
def test_conv2d_is_translation_equivariant(submission, case):
    x, w, b, p, dy, dx = shift_inputs(case)
    (h, w_), (kh, kw) = x.shape[2:], w.shape[2:]
    x_shift = shifted(x, dy, dx)
    check = f"conv2d(shift(x), w, b, stride=1, padding={p}) vs shift(conv2d(x, w, b, 1, {p}))"
    out = submission.call(MODULE, "conv2d", x, w, b, 1, p)
    out_shift = submission.call(MODULE, "conv2d", x_shift, w, b, 1, p)
    want_shape = (x.shape[0], w.shape[0], h + 2 * p - kh + 1, w_ + 2 * p - kw + 1)
    for name, o in (("conv2d(x)", out), ("conv2d(shift(x))", out_shift)):
        shape = np.shape(o)
        assert_true(shape == want_shape, f"{check} with the image shifted by (dy={dy}, dx={dx}): "
                    f"{name} has shape {shape}, expected {want_shape}")
    rows, cols = interior(h, kh, p, dy), interior(w_, kw, p, dx)
    got = np.asarray(out_shift)[:, :, rows.start:rows.stop, cols.start:cols.stop]
    want = np.asarray(out)[:, :, rows.start - dy:rows.stop - dy, cols.start - dx:cols.stop - dx]
    assert_close(got, want, check=f"{check}, image shifted by (dy={dy}, dx={dx}), compared on "
                 f"output rows {rows.start}..{rows.stop - 1}, "
                 f"columns {cols.start}..{cols.stop - 1} "
                 f"(away from the borders): out[n, o, i, j] must depend only on the patch under "
                 f"(i, j), with the same kernel at every position (Q4.1)",
                 inputs={"x": x, "w": w})


@pytest.mark.question("4.1", weight=0.5)
def test_conv2d_input_not_modified(submission):
    x, w, b, s, p = conv_inputs(3)      # C_in == C_out: even a channel mix-up runs
    _, (x_after, w_after, b_after, *_), _ = submission.call_with_inputs(
        MODULE, "conv2d", x, w, b, s, p)
    assert_unchanged({"x": x, "w": w, "b": b}, {"x": x_after, "w": w_after, "b": b_after},
                     check=f"conv2d(x, w, b, stride={s}, padding={p})")


# --------------------------------------------------------------------------------------------
# Q4.2 — conv2d_backward against autograd
# --------------------------------------------------------------------------------------------

# (N, C_in, H, W, C_out, kH, kW, stride, padding, bias). Real rows/columns that no window
# reaches (where the classic dx bug shows): case 1 (last row and column), 2 (last column),
# 4 (last row, with padding 1), 5 (last row, last two columns).
BACKWARD_SPECS = [
    (2, 2, 7, 6, 3, 3, 3, 1, 0, True),
    (1, 3, 8, 8, 2, 3, 3, 2, 0, True),
    (2, 2, 9, 7, 2, 3, 3, 3, 0, False),       # b=None: db must be None
    (1, 2, 8, 7, 3, 3, 2, 2, 1, True),        # non-square kernel, padding 1
    (2, 1, 9, 8, 2, 3, 3, 3, 1, True),
    (1, 2, 9, 8, 2, 2, 3, 3, 0, True),        # non-square kernel, stride 3
    (2, 3, 5, 6, 2, 2, 2, 1, 2, True),        # padding 2
    (2, 2, 6, 7, 2, 3, 3, 2, 2, True),        # stride 2, padding 2
]


def unreached(n: int, k: int, stride: int, padding: int, n_out: int) -> np.ndarray:
    """Real rows (of n) that no window covers: padded row index ≥ (n_out − 1)·stride + k."""
    return np.arange(n) + padding >= (n_out - 1) * stride + k


@functools.cache
def backward_inputs(case: int):
    n, c_in, h, w_, c_out, kh, kw, s, p, bias = BACKWARD_SPECS[case]
    rng = case_rng("cnn.conv2d_backward", case)
    x = rng.normal(0, 1, (n, c_in, h, w_))
    w = rng.normal(0, 1, (c_out, c_in, kh, kw))
    b = rng.normal(0, 1, c_out) if bias else None
    out_shape = (n, c_out, (h + 2 * p - kh) // s + 1, (w_ + 2 * p - kw) // s + 1)
    dout = rng.normal(0, 1, out_shape)
    return dout, x, w, b, s, p


def conv_grads(dout, x, w, b, s, p):
    """(dx, dw, db) of sum(F.conv2d(x, w, b, s, p) * dout) by autograd."""
    xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
    bt = None if b is None else _t(b).requires_grad_()
    F.conv2d(xt, wt, bt, s, p).backward(_t(dout))
    return xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy()


@functools.cache
def backward_expected(case: int):
    dout, x, w, b, s, p = backward_inputs(case)
    dx, dw, db = conv_grads(dout, x, w, b, s, p)
    # Gradient with respect to the padded input (for the one-sided-crop hint).
    xp = _t(_pad_sides(x, p, p, p, p)).requires_grad_()
    F.conv2d(xp, _t(w), None, s, 0).backward(_t(dout))
    dx_padded = xp.grad.numpy()
    h, w_ = x.shape[2:]
    kh, kw = w.shape[2:]
    dx_mistakes = {
        "dx computed with the kernel flipped the wrong way: for a cross-correlation forward, "
        "dx sends dout back through w as it is (Q4.2)":
            conv_grads(dout, x, w[:, :, ::-1, ::-1].copy(), b, s, p)[0],
    }
    if p > 0:
        dx_mistakes.update({
            "padding cropped from the end only (dx_padded[:H, :W]): the padded gradient loses "
            "p rows/columns on EACH side, dx = dx_padded[p:p+H, p:p+W] (Q4.2)":
                dx_padded[:, :, :h, :w_],
            "padding cropped from the start only (dx_padded[2p:, 2p:]): the padded gradient "
            "loses p rows/columns on EACH side, dx = dx_padded[p:p+H, p:p+W] (Q4.2)":
                dx_padded[:, :, 2 * p:, 2 * p:],
        })
    dw_mistakes = {
        "dw taken from the windows as if stride were 1: window (i, j) starts at row i·stride, "
        "column j·stride (Q4.2)": np.einsum(
            "nohw,nchwij->ocij", dout, np.lib.stride_tricks.sliding_window_view(
                _pad_sides(x, p, p, p, p), (kh, kw), axis=(2, 3))[:, :, :dout.shape[2],
                                                                   :dout.shape[3]]),
        "dw computed with the kernel flipped (Q4.2)": dw[:, :, ::-1, ::-1],
    }
    if s > 1:
        # dout scattered as if stride were 1 (dout's (i, j) feeding the window at (i, j)).
        xt = _t(x).requires_grad_()
        out = F.conv2d(xt, _t(w), None, 1, p)
        g = torch.zeros_like(out)
        g[:, :, :dout.shape[2], :dout.shape[3]] = _t(dout)
        out.backward(g)
        dx_mistakes["stride ignored in dx: dout[i, j] goes back to the window starting at row "
                    "i·stride, column j·stride (Q4.2)"] = xt.grad.numpy()
    rows = unreached(h, kh, s, p, dout.shape[2])
    cols = unreached(w_, kw, s, p, dout.shape[3])
    return (dx, dw, db), dx_mistakes, dw_mistakes, rows, cols


def call_backward(submission, case: int):
    dout, x, w, b, s, p = backward_inputs(case)
    check = (f"conv2d_backward(dout, x, w, {'b' if b is not None else 'None'}, stride={s}, "
             f"padding={p})")
    got = submission.call(MODULE, "conv2d_backward", dout, x, w, b, s, p)
    got = _shape(got, 3, check, "(dx, dw, db)")
    return got, check, {"dout": dout, "x": x, "w": w}


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward_dx_matches_autograd(submission, case):
    got, check, inputs = call_backward(submission, case)
    (dx, _, _), mistakes, _, rows, cols = backward_expected(case)
    have = got[0]
    mistakes = dict(mistakes)
    h_cov, w_cov = int((~rows).sum()), int((~cols).sum())
    if rows.any() or cols.any():
        mistakes["dx has the size the windows cover, not x's shape (H, W): rows/columns no "
                 "window reaches get a zero gradient (Q4.2)"] = dx[:, :, :h_cov, :w_cov]
        if np.shape(have) == dx.shape:
            # Right wherever a window reaches, wrong only where none does.
            only_unreached = dx.copy()
            have_array = np.asarray(have, dtype=np.float64)
            only_unreached[:, :, rows, :] = have_array[:, :, rows, :]
            only_unreached[:, :, :, cols] = have_array[:, :, :, cols]
            mistakes["dx is wrong only on the last rows/columns that no window reaches (the "
                     "stride does not divide the padded size): their gradient is 0 (Q4.2)"] = \
                only_unreached
    assert_close(have, dx, check=check + ": dx vs autograd of F.conv2d", inputs=inputs,
                 mistakes=mistakes)


@pytest.mark.question("4.2", weight=1.25)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward_dw_matches_autograd(submission, case):
    got, check, inputs = call_backward(submission, case)
    (_, dw, _), _, mistakes, _, _ = backward_expected(case)
    assert_close(got[1], dw, check=check + ": dw vs autograd of F.conv2d", inputs=inputs,
                 mistakes=mistakes)


@pytest.mark.question("4.2", weight=0.75)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward_db_matches_autograd(submission, case):
    got, check, inputs = call_backward(submission, case)
    (_, _, db), _, _, _, _ = backward_expected(case)
    dout = inputs["dout"]
    if db is None:
        assert_true(got[2] is None, f"{check}: db must be None when the forward pass had no "
                    f"bias (b=None), got {type(got[2]).__name__}")
        return
    assert_close(got[2], db, check=check + ": db vs autograd of F.conv2d", inputs=inputs,
                 mistakes={
                     "db averaged: it is the sum of dout over the batch and positions (Q4.2)":
                         dout.mean(axis=(0, 2, 3)),
                     "db summed over positions only, not over the batch (Q4.2)":
                         dout.sum(axis=(2, 3)),
                     "db summed over the batch only, not over positions (Q4.2)":
                         dout.sum(axis=0),
                 })


# --------------------------------------------------------------------------------------------
# Q4.2 — max-pooling, forward and backward
# --------------------------------------------------------------------------------------------

# (N, C, H, W, k, stride, integer-valued): stride None = k.
POOL_SPECS = [
    (2, 3, 8, 8, 2, None, False),
    (1, 2, 7, 9, 3, None, False),             # sizes k does not divide
    (2, 2, 7, 7, 3, 2, False),                # overlapping windows
    (1, 3, 9, 8, 3, 1, False),                # heavily overlapping
    (2, 2, 6, 7, 2, 3, False),                # stride > k: gaps
]
TIE_SPECS = [
    (2, 3, 8, 8, 2, None, True),
    (2, 2, 7, 9, 3, 2, True),
    (1, 3, 9, 8, 3, 1, True),
    (1, 2, 7, 7, 2, 1, True),
]


@functools.cache
def pool_inputs(kind: str, case: int):
    n, c, h, w, k, stride, integer = (POOL_SPECS if kind == "random" else TIE_SPECS)[case]
    rng = case_rng("cnn.max_pool2d", kind, case)
    shape = (n, c, h, w)
    x = rng.integers(0, 3, shape).astype(np.float64) if integer else rng.normal(0, 1, shape)
    s = k if stride is None else stride
    dout = rng.normal(0, 1, (n, c, (h - k) // s + 1, (w - k) // s + 1))
    return x, k, stride, dout


def call_args(k, stride):
    return (k,) if stride is None else (k, stride)


def pool_text(name, k, stride):
    return f"{name}(x, {k})" if stride is None else f"{name}(x, {k}, stride={stride})"


def windows(x, k, s):
    return np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]


@functools.cache
def pool_forward_expected(case: int):
    x, k, stride, _ = pool_inputs("random", case)
    s = k if stride is None else stride
    expected = F.max_pool2d(_t(x), k, s).numpy()
    mistakes = {"average pooling: max_pool2d takes the maximum of each window (Q4.2)":
                F.avg_pool2d(_t(x), k, s).numpy()}
    if stride is None:
        mistakes["stride=None means stride = k (non-overlapping windows), not 1 (Q4.2)"] = \
            F.max_pool2d(_t(x), k, 1).numpy()
    elif stride != k:
        mistakes["stride ignored: windows start every `stride` pixels (Q4.2)"] = \
            F.max_pool2d(_t(x), k, k).numpy()
    mistakes["output size rounded up: partial windows at the border are dropped (Q4.2)"] = \
        F.max_pool2d(_t(x), k, s, ceil_mode=True).numpy()
    return expected, mistakes


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(POOL_SPECS)))
def test_max_pool2d_matches_f_max_pool2d(submission, case):
    x, k, stride, _ = pool_inputs("random", case)
    got = submission.call(MODULE, "max_pool2d", x, *call_args(k, stride))
    expected, mistakes = pool_forward_expected(case)
    assert_close(got, expected, check=pool_text("max_pool2d", k, stride) + " vs F.max_pool2d",
                 inputs={"x": x}, mistakes=mistakes)


def pool_grad_reference(x, k, stride, dout):
    xt = _t(x).requires_grad_()
    F.max_pool2d(xt, k, k if stride is None else stride).backward(_t(dout))
    return xt.grad.numpy()


def pool_grad_mistakes(x, k, stride, dout):
    """What the classic wrong backward passes return on this input."""
    s = k if stride is None else stride
    win = windows(x, k, s)
    n, c, ho, wo = win.shape[:4]
    flat = win.reshape(n, c, ho, wo, k * k)
    nn_, cc, ii, jj = np.indices((n, c, ho, wo))

    def scatter(pos, add=True):
        dx = np.zeros(x.shape)
        index = (nn_, cc, ii * s + pos // k, jj * s + pos % k)
        if add:
            np.add.at(dx, index, dout)
        else:
            dx[index] = dout          # repeated positions: the last window wins
        return dx

    first = flat.argmax(-1)
    last = k * k - 1 - flat[..., ::-1].argmax(-1)
    every = np.zeros(x.shape)
    is_max = flat == flat.max(-1, keepdims=True)
    for pos in range(k * k):
        sel = is_max[..., pos]
        np.add.at(every, (nn_[sel], cc[sel], ii[sel] * s + pos // k, jj[sel] * s + pos % k),
                  dout[sel])
    mistakes = {}
    if s < k:
        mistakes["overlapping windows overwrite each other's gradient: a pixel that is the "
                 "maximum of several windows receives the sum (use += or np.add.at) (Q4.2)"] = \
            scatter(first, add=False)
    mistakes["on a tie the gradient went to every maximum of the window: it goes to the FIRST "
             "maximum in row-major order only, as torch (Q4.2)"] = every
    mistakes["on a tie the gradient went to the LAST maximum of the window: it goes to the "
             "first one in row-major order, as torch (Q4.2)"] = scatter(last)
    return mistakes


@functools.cache
def pool_backward_expected(kind: str, case: int):
    x, k, stride, dout = pool_inputs(kind, case)
    return pool_grad_reference(x, k, stride, dout), pool_grad_mistakes(x, k, stride, dout)


def check_pool_backward(submission, kind, case):
    x, k, stride, dout = pool_inputs(kind, case)
    got = submission.call(MODULE, "max_pool2d_backward", dout, x, *call_args(k, stride))
    expected, mistakes = pool_backward_expected(kind, case)
    what = "integer-valued x (ties)" if kind == "ties" else "random x"
    assert_close(got, expected, check=pool_text("max_pool2d_backward", k, stride).replace(
        "(x", "(dout, x") + f" on {what} vs autograd of F.max_pool2d",
        inputs={"dout": dout, "x": x}, mistakes=mistakes)


@pytest.mark.question("4.2", weight=1.25)
@pytest.mark.parametrize("case", range(len(POOL_SPECS)))
def test_max_pool2d_backward_matches_autograd(submission, case):
    check_pool_backward(submission, "random", case)


@pytest.mark.question("4.2", weight=1.25)
@pytest.mark.parametrize("case", range(len(TIE_SPECS)))
def test_max_pool2d_backward_ties_go_to_the_first_maximum(submission, case):
    check_pool_backward(submission, "ties", case)


# --------------------------------------------------------------------------------------------
# Q4.2 — flatten
# --------------------------------------------------------------------------------------------

FLATTEN_SHAPES = [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 5, 2), (2, 4, 1, 1)]


@pytest.mark.question("4.2", weight=1)
@pytest.mark.parametrize("case", range(len(FLATTEN_SHAPES)))
def test_flatten_matches_torch_flatten(submission, case):
    x = case_rng("cnn.flatten", case).normal(0, 1, FLATTEN_SHAPES[case])
    got = submission.call(MODULE, "flatten", x)
    n = x.shape[0]
    assert_close(got, torch.flatten(_t(x), 1).numpy(), check="flatten(x) vs torch.flatten(x, 1)",
                 inputs={"x": x}, mistakes={
                     "each image flattened in Fortran (column-major) order: C order is channel, "
                     "then row, then column (Q4.2)":
                         np.stack([xi.ravel(order="F") for xi in x]),
                     "flattened in Fortran order (order='F'): use C order (Q4.2)":
                         x.reshape(n, -1, order="F"),
                     "channels last (N, H, W, C) before flattening: torch keeps channel, row, "
                     "column (Q4.2)": x.transpose(0, 2, 3, 1).reshape(n, -1),
                 })


# --------------------------------------------------------------------------------------------
# Q4.2 — cnn_forward against an nn.Sequential
# --------------------------------------------------------------------------------------------

# (N, C_in, H, W, C_out, k, stride, padding, pool, K); stride None: cnn_forward(x, params).
CNN_SPECS = [
    (2, 2, 8, 8, 3, 3, 1, 1, 2, 4),
    (2, 1, 9, 7, 2, 3, 1, 0, 2, 3),           # pooled size rounds down
    (1, 3, 9, 9, 2, 3, 2, 1, 2, 5),           # conv stride 2
    (2, 2, 9, 8, 3, 2, 1, 1, 3, 3),           # pool 3
    (2, 2, 7, 7, 2, 3, None, None, None, 3),  # defaults: stride 1, padding 0, pool 2
]


@functools.cache
def cnn_inputs(case: int):
    n, c_in, h, w, c_out, k, stride, padding, pool, n_cls = CNN_SPECS[case]
    s, p, q = stride or 1, padding or 0, pool or 2
    rng = case_rng("cnn.cnn_forward", case)
    hp = ((h + 2 * p - k) // s + 1) // q
    wp = ((w + 2 * p - k) // s + 1) // q
    x = rng.normal(0, 1, (n, c_in, h, w))
    params = {"conv_w": rng.normal(0, 0.5, (c_out, c_in, k, k)),
              "conv_b": rng.normal(0, 0.5, c_out),
              "fc_w": rng.normal(0, 0.5, (n_cls, c_out * hp * wp)),
              "fc_b": rng.normal(0, 0.5, n_cls)}
    return x, params, s, p, q, stride is None


def sequential(params, s, p, q, relu=True, flatten_order="C"):
    c_out, c_in, k, _ = params["conv_w"].shape
    n_cls, n_in = params["fc_w"].shape
    conv = torch.nn.Conv2d(c_in, c_out, k, s, p).double()
    fc = torch.nn.Linear(n_in, n_cls).double()
    with torch.no_grad():
        conv.weight.copy_(_t(params["conv_w"]))
        conv.bias.copy_(_t(params["conv_b"]))
        fc.weight.copy_(_t(params["fc_w"]))
        fc.bias.copy_(_t(params["fc_b"]))
    layers = [conv] + ([torch.nn.ReLU()] if relu else []) + [torch.nn.MaxPool2d(q, q)]
    if flatten_order == "C":
        layers.append(torch.nn.Flatten())
    return torch.nn.Sequential(*layers), fc


@functools.cache
def cnn_expected(case: int):
    x, params, s, p, q, _ = cnn_inputs(case)
    features, fc = sequential(params, s, p, q)
    with torch.no_grad():
        expected = fc(features(_t(x))).numpy()
        no_relu, fc2 = sequential(params, s, p, q, relu=False)
        pooled = sequential(params, s, p, q, flatten_order=None)[0](_t(x)).numpy()
        n = x.shape[0]
        mistakes = {
            "no ReLU between the convolution and the pooling (Q4.2)":
                fc2(no_relu(_t(x))).numpy(),
            "flatten in Fortran order: C order, as torch.flatten(x, 1) (Q4.2)":
                fc(_t(np.stack([pi.ravel(order="F") for pi in pooled]))).numpy(),
            "channels last before flattening: flatten keeps channel, row, column (Q4.2)":
                fc(_t(pooled.transpose(0, 2, 3, 1).reshape(n, -1).copy())).numpy(),
            "fc bias missing (Q4.2)": expected - params["fc_b"],
        }
    return expected, mistakes


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(CNN_SPECS)))
def test_cnn_forward_matches_nn_sequential(submission, case):
    x, params, s, p, q, defaults = cnn_inputs(case)
    if defaults:
        got = submission.call(MODULE, "cnn_forward", x, params)
        check = "cnn_forward(x, params) (defaults: stride=1, padding=0, pool=2)"
    else:
        got = submission.call(MODULE, "cnn_forward", x, params, s, p, q)
        check = f"cnn_forward(x, params, stride={s}, padding={p}, pool={q})"
    expected, mistakes = cnn_expected(case)
    assert_close(got, expected, check=check + " vs nn.Sequential(Conv2d, ReLU, MaxPool2d, "
                 "Flatten, Linear) with the same weights (it uses your conv2d: check Q4.1 first)",
                 inputs={"x": x, "params": params}, mistakes=mistakes)


# --------------------------------------------------------------------------------------------
# Q4.2 — inputs unchanged
# --------------------------------------------------------------------------------------------

def _unchanged_call(name):
    if name == "conv2d_backward":
        dout, x, w, b, s, p = backward_inputs(3)
        return (dout, x, w, b, s, p), ("dout", "x", "w", "b")
    if name in ("max_pool2d", "max_pool2d_backward"):
        x, k, stride, dout = pool_inputs("ties", 2)
        return ((x, k, stride) if name == "max_pool2d" else (dout, x, k, stride),
                ("x",) if name == "max_pool2d" else ("dout", "x"))
    if name == "flatten":
        return (case_rng("cnn.flatten", 0).normal(0, 1, FLATTEN_SHAPES[0]),), ("x",)
    x, params, s, p, q, _ = cnn_inputs(4)   # padding 0, C_in == C_out: most conv bugs still run
    return (x, params, s, p, q), ("x", "params")


@pytest.mark.question("4.2", weight=0.5)
@pytest.mark.parametrize("name", ["conv2d_backward", "max_pool2d", "max_pool2d_backward",
                                  "flatten", "cnn_forward"])
def test_components_do_not_modify_inputs(submission, name):
    args, names = _unchanged_call(name)
    _, after, _ = submission.call_with_inputs(MODULE, name, *args)
    assert_unchanged(dict(zip(names, args)), dict(zip(names, after)), check=f"{name}(...)")
