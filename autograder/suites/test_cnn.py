"""Q4.1 and Q4.2 — convolutions, pooling and a small CNN, against torch (float64).

Q4.1, the main property of a convolution layer (local, shared weights, equivariant):
- conv2d vs F.conv2d on strides 1 to 3, paddings 0 to 2, non-square images and kernels, batches,
  several channels, b=None and the defaults, strides that do not divide the padded size.
- conv_output_shape vs the shape F.conv2d returns, compared exactly.
- conv_num_params / dense_num_params vs the parameters of nn.Conv2d / nn.Linear, compared
  exactly (a missing bias is 1e-6 of a big dense layer: a tolerance would let it pass), up to
  the dense layer that would do a conv layer's job on a 227x227 image (1.3e11 parameters).
- translation equivariance: conv2d of a shifted image equals the shifted conv2d output away
  from the borders; it pays only when both calls also match F.conv2d.

Q4.2, the components of a CNN:
- conv2d_backward (dx, dw, db, graded separately) vs torch autograd of F.conv2d with a random
  upstream gradient, including strides that leave real rows/columns no window reaches;
- max_pool2d vs F.max_pool2d, max_pool2d_backward vs its autograd (overlapping windows, ties);
- flatten vs torch.flatten(x, 1);
- cnn_forward vs nn.Sequential(Conv2d, ReLU, MaxPool2d(pool, pool), Flatten, Linear) holding
  the same weights. It runs with the kit's own conv2d (Q4.1's, see autograder/standins.py); its
  max_pool2d and flatten belong to Q4.2 itself and are graded in their own tests, so a
  cnn_forward that is right given the student's own max_pool2d and flatten passes (a bug in
  them costs Q4.2 once, in their own tests).

Each test's docstring names the mistakes it fails; hints come from autograder/mistakes/cnn.py
(the student's result equals what that mistaken formula gives on the same input). Inputs the
student's function changes in place fail every test through submission.call.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import Mismatch, as_array, as_parts, assert_close, assert_true, case_rng
from autograder.failures import StudentCodeError
from autograder.mistakes import cnn as mistakes
from autograder.references import reference

MODULE = "cnn"


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


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


def f_conv2d(x, w, b, stride, padding) -> np.ndarray:
    return F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride, padding).numpy()


@reference
def conv_expected(case: int) -> np.ndarray:
    return f_conv2d(*conv_inputs(case))


@reference
def conv_mistakes(case: int) -> dict:
    return mistakes.conv2d(*conv_inputs(case), conv_expected(case))


def call_conv2d(submission, x, w, b, *rest):
    """The student's conv2d(x, w, b, *rest) (or conv2d(x, w) when rest is empty and b None);
    a call with b=None that raises says what b=None means."""
    try:
        return submission.call(MODULE, "conv2d", x, w, *((b, *rest) if rest else ()))
    except StudentCodeError as error:
        if b is not None or error.kind != "raised":
            raise
        raise StudentCodeError(error.kind, f"{error}\n  b=None means no bias: nothing is added "
                                           f"to the output", error.type) from None


@pytest.mark.question("4.1", weight=4)
@pytest.mark.parametrize("case", range(len(CONV_SPECS)))
def test_conv2d_matches_f_conv2d(submission, case):
    """conv2d = F.conv2d. Fails: a flipped kernel (true convolution), a transposed kernel,
    w's C_out and C_in axes swapped (a case has C_in == C_out), padding on one side only, 2p on
    one side, no padding, the stride ignored, along one axis only, or windows at row i instead
    of i·stride, the bias ignored or added once per input channel or kernel entry, b=None
    crashing, output rows and columns swapped, a wrong size when the stride does not divide."""
    x, w, b, s, p = conv_inputs(case)
    if CONV_SPECS[case][-1] == "default":
        got = call_conv2d(submission, x, w, None)
        check = "conv2d(x, w) (defaults: b=None, stride=1, padding=0)"
    else:
        got = call_conv2d(submission, x, w, b, s, p)
        check = f"conv2d(x, w, {'b' if b is not None else 'None'}, stride={s}, padding={p})"
    assert_close(got, conv_expected(case), check=check + " vs F.conv2d", inputs={"x": x, "w": w},
                 mistakes=conv_mistakes(case))


# --------------------------------------------------------------------------------------------
# Q4.1 — translation equivariance, paid only with F.conv2d's values
# --------------------------------------------------------------------------------------------

# (N, C_in, H, W, C_out, kH, kW, dy, dx), stride 1, padding 0: padding only changes the border,
# which the comparison leaves out, and a padding bug keeps a conv equivariant.
SHIFT_SPECS = [(1, 2, 9, 8, 2, 3, 2, 2, -1),
               (2, 1, 8, 9, 3, 2, 3, -2, 1),
               (1, 3, 7, 9, 2, 3, 3, 1, 3),
               (1, 2, 9, 9, 2, 3, 3, -3, -1)]


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """x moved down by dy rows and right by dx columns, zeros where nothing comes in."""
    out = np.zeros_like(x)
    h, w = x.shape[2:]
    out[:, :, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, :, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def interior(n: int, k: int, d: int) -> slice:
    """Output positions i whose window (input rows i ... i + k - 1) lies where the image
    shifted by d is an exact copy of x: rows [max(d, 0), n + min(d, 0))."""
    return slice(max(d, 0), n + min(d, 0) - k + 1)


@functools.cache
def shift_inputs(case: int):
    n, c_in, h, w_, c_out, kh, kw, dy, dx = SHIFT_SPECS[case]
    rng = case_rng("cnn.equivariance", case)
    x = rng.normal(0, 1, (n, c_in, h, w_))
    w = rng.normal(0, 1, (c_out, c_in, kh, kw))
    b = rng.normal(0, 1, c_out)
    return x, shifted(x, dy, dx), w, b, dy, dx


@reference
def shift_expected(case: int, which: int) -> np.ndarray:
    """F.conv2d of the image (which=0) or of the shifted image (which=1)."""
    images, (w, b) = shift_inputs(case)[:2], shift_inputs(case)[2:4]
    return f_conv2d(images[which], w, b, 1, 0)


@reference
def shift_mistakes(case: int, which: int) -> dict:
    images, (w, b) = shift_inputs(case)[:2], shift_inputs(case)[2:4]
    return mistakes.conv2d(images[which], w, b, 1, 0, shift_expected(case, which))


@pytest.mark.question("4.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(SHIFT_SPECS)))
def test_conv2d_is_translation_equivariant(submission, case):
    """conv2d(shift(x)) = shift(conv2d(x)) away from the borders (stride 1, padding 0, shifts
    with dy != dx, some negative), the student's conv2d against itself; then both calls against
    F.conv2d, so that only a right conv2d earns this (zeros are equivariant too). Fails: an
    output (i, j) not computed from the patch at (i, j) (rows and columns of the output
    swapped, a kernel entry chosen by the absolute position, a bias varying along a spatial
    axis), and every mistake of test_conv2d_matches_f_conv2d at stride 1 and padding 0."""
    x, x_shift, w, b, dy, dx = shift_inputs(case)
    check = f"conv2d(shift(x), w, b) vs shift(conv2d(x, w, b)), image shifted by (dy={dy}, dx={dx})"
    out = call_conv2d(submission, x, w, b, 1, 0)
    out_shift = call_conv2d(submission, x_shift, w, b, 1, 0)
    want_shape = shift_expected(case, 0).shape
    for name, got in (("conv2d(x)", out), ("conv2d(shift(x))", out_shift)):
        shape = as_array(got, check, name).shape
        assert_true(shape == want_shape,
                    f"{check}: {name} has shape {shape}, expected {want_shape}")
    rows = interior(x.shape[2], w.shape[2], dy)
    cols = interior(x.shape[3], w.shape[3], dx)
    unshifted = slice(rows.start - dy, rows.stop - dy), slice(cols.start - dx, cols.stop - dx)
    assert_close(as_array(out_shift, check, "")[:, :, rows, cols],
                 as_array(out, check, "")[:, :, unshifted[0], unshifted[1]],
                 check=f"{check}, compared on output rows {rows.start}..{rows.stop - 1}, columns "
                       f"{cols.start}..{cols.stop - 1} (away from the borders): out[n, o, i, j] "
                       f"must depend only on the patch under (i, j), with the same kernel at "
                       f"every position", inputs={"x": x, "w": w})
    for which, (name, got) in enumerate((("conv2d(x, w, b)", out),
                                         ("conv2d(shift(x), w, b)", out_shift))):
        assert_close(got, shift_expected(case, which), check=f"{name} vs F.conv2d",
                     inputs={"x": x, "w": w}, mistakes=shift_mistakes(case, which))


# --------------------------------------------------------------------------------------------
# Q4.1 — conv_output_shape
# --------------------------------------------------------------------------------------------

# (h, w, k, stride, padding): dividing and non-dividing strides, large images.
SHAPE_SPECS = [(7, 7, 3, 1, 0), (8, 6, 3, 2, 1), (9, 7, 2, 3, 2), (28, 28, 5, 1, 2),
               (32, 31, 3, 2, 0), (224, 224, 7, 2, 3), (10, 13, 4, 3, 1), (5, 9, 5, 1, 0)]


@reference
def output_shape_expected(case: int) -> tuple:
    h, w, k, s, p = SHAPE_SPECS[case]
    x = torch.zeros(1, 1, h, w, dtype=torch.float64)
    return tuple(F.conv2d(x, torch.zeros(1, 1, k, k, dtype=torch.float64), None, s, p).shape[2:])


@pytest.mark.question("4.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(SHAPE_SPECS)))
def test_conv_output_shape_matches_f_conv2d(submission, case):
    """(h_out, w_out) = the spatial shape F.conv2d returns, exactly. Fails: no +1, padding
    counted once or subtracted, ceil instead of floor or a true division (strides that do not
    divide), the stride ignored, h and w swapped (h != w)."""
    h, w, k, s, p = SHAPE_SPECS[case]
    check = f"conv_output_shape(h={h}, w={w}, k={k}, stride={s}, padding={p}) vs F.conv2d"
    got = submission.call(MODULE, "conv_output_shape", h, w, k, s, p)
    got = as_parts(got.tolist() if isinstance(got, np.ndarray) else got, 2, check)
    expected = output_shape_expected(case)
    assert_close(got, expected, check=check, inputs={}, rtol=0, atol=0,
                 mistakes=mistakes.conv_output_shape(h, w, k, s, p, expected))


# --------------------------------------------------------------------------------------------
# Q4.1 — parameter counts: shared weights
# --------------------------------------------------------------------------------------------

@reference
def torch_conv_count(c_in: int, c_out: int, k: int) -> int:
    layer = torch.nn.Conv2d(c_in, c_out, k, device="meta")
    return sum(p.numel() for p in layer.parameters())


@reference
def torch_dense_count(n_in: int, n_out: int) -> int:
    layer = torch.nn.Linear(n_in, n_out, device="meta")   # no memory, even at 1e11 parameters
    return sum(p.numel() for p in layer.parameters())


def assert_count(got, expected: int, check: str, found: dict) -> None:
    """Exact: a parameter count is an integer, and a missing bias of a huge layer is far below
    any relative tolerance."""
    assert_close(got, expected, check=f"{check}: the parameters torch counts", inputs={},
                 rtol=0, atol=0, mistakes=found)


def check_conv_count(submission, c_in, c_out, k):
    got = submission.call(MODULE, "conv_num_params", c_in, c_out, k)
    expected = torch_conv_count(c_in, c_out, k)
    assert_count(got, expected, f"conv_num_params(c_in={c_in}, c_out={c_out}, k={k}) vs "
                 f"nn.Conv2d", mistakes.conv_num_params(c_in, c_out, k, expected))
    return got


def check_dense_count(submission, n_in, n_out, check):
    got = submission.call(MODULE, "dense_num_params", n_in, n_out)
    expected = torch_dense_count(n_in, n_out)
    assert_count(got, expected, check, mistakes.dense_num_params(n_in, n_out, expected))


# (c_in, c_out, k) for conv, (n_in, n_out) for dense.
COUNT_SPECS = [((3, 16, 3), (784, 10)), ((1, 6, 5), (120, 84)), ((8, 4, 1), (5, 1)),
               ((16, 32, 7), (3, 7))]


@pytest.mark.question("4.1", weight=1)
@pytest.mark.parametrize("case", range(len(COUNT_SPECS)))
def test_num_params_match_torch_layers(submission, case):
    """conv_num_params = parameters of nn.Conv2d, dense_num_params = those of nn.Linear,
    exactly. Fails: no bias, a bias per (output, input) channel pair or per input, k instead of
    k**2, the input channels forgotten, in + out instead of a product."""
    (c_in, c_out, k), (n_in, n_out) = COUNT_SPECS[case]
    check_conv_count(submission, c_in, c_out, k)
    check_dense_count(submission, n_in, n_out,
                      f"dense_num_params(n_in={n_in}, n_out={n_out}) vs nn.Linear")


# A conv layer 3 -> 16 channels, 3x3, padding 1 (same size) on images of growing size, and the
# dense layer that would map the flattened image to the same flattened feature map.
SHARING_SIZES = [(8, 8), (32, 32), (61, 47), (227, 227)]


@pytest.mark.question("4.1", weight=1)
def test_weight_sharing_conv_count_does_not_grow_with_the_image(submission):
    """The 3x3 conv layer's count (which takes no image size: its kernels are shared) against
    the dense layer doing its job on images from 8x8 to 227x227 (flattened image in, flattened
    feature map out), every count exact. Fails: the mistakes of test_num_params, and int32 or
    float32 arithmetic that loses the exact count of a dense layer with 1.3e11 parameters."""
    c_in, c_out, k = 3, 16, 3
    conv = check_conv_count(submission, c_in, c_out, k)
    for h, w in SHARING_SIZES:
        n_in, n_out = c_in * h * w, c_out * h * w
        check_dense_count(submission, n_in, n_out,
                          f"dense_num_params({n_in}, {n_out}): the dense layer doing the job of "
                          f"that conv layer on a {h}x{w} image (the conv layer needs {conv} "
                          f"parameters at any size; nn.Linear counts n_out·(n_in + 1) exactly)")


# --------------------------------------------------------------------------------------------
# Q4.2 — conv2d_backward against autograd
# --------------------------------------------------------------------------------------------

# (N, C_in, H, W, C_out, kH, kW, stride, padding, bias). Real rows/columns that no window
# reaches: case 1 (last row and column), 2 (last column), 4 (last row, with padding 1),
# 5 (last row, last two columns).
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
PARTS = ("dx", "dw", "db")


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


@reference
def backward_expected(case: int) -> tuple:
    """(dx, dw, db) of sum(dout * F.conv2d(x, w, b, stride, padding)) by autograd."""
    dout, x, w, b, s, p = backward_inputs(case)
    xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
    bt = None if b is None else _t(b).requires_grad_()
    F.conv2d(xt, wt, bt, s, p).backward(_t(dout))
    return xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy()


@reference
def backward_mistakes(case: int) -> dict:
    return mistakes.conv2d_backward(*backward_inputs(case), backward_expected(case))


def check_backward_part(submission, case: int, part: int):
    """Call conv2d_backward and compare one of (dx, dw, db) with autograd's."""
    dout, x, w, b, s, p = backward_inputs(case)
    check = (f"conv2d_backward(dout, x, w, {'b' if b is not None else 'None'}, stride={s}, "
             f"padding={p})")
    got = as_parts(submission.call(MODULE, "conv2d_backward", dout, x, w, b, s, p), 3,
                   check + " (dx, dw, db)")[part]
    expected = backward_expected(case)[part]
    if expected is None:
        assert_true(got is None, f"{check}: db must be None when the forward pass had no bias "
                                 f"(b=None), got {type(got).__name__}")
        return
    assert_close(got, expected, check=f"{check}: {PARTS[part]} vs autograd of F.conv2d",
                 inputs={"dout": dout, "x": x, "w": w},
                 mistakes={hint: value[part] for hint, value in backward_mistakes(case).items()
                           if value[part] is not None})


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward_dx_matches_autograd(submission, case):
    """dx = autograd's. Fails: dx through a flipped (or twice flipped) kernel or through w with
    its channel axes swapped, the stride ignored in dx, padding cropped from one side only or
    not at all, dx of the size the windows cover, garbage instead of 0 in rows and columns the
    last window never reaches."""
    check_backward_part(submission, case, 0)


@pytest.mark.question("4.2", weight=1.25)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward_dw_matches_autograd(submission, case):
    """dw = autograd's. Fails: windows taken as if the stride were 1, dw flipped, channel axes
    swapped, averaged over the batch."""
    check_backward_part(submission, case, 1)


@pytest.mark.question("4.2", weight=0.75)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward_db_matches_autograd(submission, case):
    """db = autograd's: dout summed over the batch and positions, None when b is None.
    Fails: db averaged, summed over positions only (N, C) or the batch only, or over every
    axis, an array when the forward pass had no bias."""
    check_backward_part(submission, case, 2)


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


def stride_args(k, stride) -> tuple:
    return (k,) if stride is None else (k, stride)


def pool_text(name, k, stride) -> str:
    return f"{name}(x, {k})" if stride is None else f"{name}(x, {k}, stride={stride})"


@reference
def pool_expected(case: int) -> np.ndarray:
    x, k, stride, _ = pool_inputs("random", case)
    return F.max_pool2d(_t(x), k, stride).numpy()


@reference
def pool_mistakes(case: int) -> dict:
    x, k, stride, _ = pool_inputs("random", case)
    return mistakes.max_pool2d(x, k, stride, pool_expected(case))


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(POOL_SPECS)))
def test_max_pool2d_matches_f_max_pool2d(submission, case):
    """max_pool2d = F.max_pool2d: stride None (= k), stride < k, stride > k, sizes that do not
    divide. Fails: stride None read as 1, the stride ignored, k and stride swapped, windows at
    row i instead of i·stride, average pooling, a ceil output size."""
    x, k, stride, _ = pool_inputs("random", case)
    got = submission.call(MODULE, "max_pool2d", x, *stride_args(k, stride))
    assert_close(got, pool_expected(case), check=pool_text("max_pool2d", k, stride) +
                 " vs F.max_pool2d", inputs={"x": x}, mistakes=pool_mistakes(case))


@reference
def pool_backward_expected(kind: str, case: int) -> np.ndarray:
    x, k, stride, dout = pool_inputs(kind, case)
    xt = _t(x).requires_grad_()
    F.max_pool2d(xt, k, stride).backward(_t(dout))
    return xt.grad.numpy()


@reference
def pool_backward_mistakes(kind: str, case: int) -> dict:
    x, k, stride, dout = pool_inputs(kind, case)
    return mistakes.max_pool2d_backward(dout, x, k, stride, pool_backward_expected(kind, case))


def check_pool_backward(submission, kind: str, case: int):
    x, k, stride, dout = pool_inputs(kind, case)
    got = submission.call(MODULE, "max_pool2d_backward", dout, x, *stride_args(k, stride))
    what = "integer-valued x (ties)" if kind == "ties" else "random x"
    check = pool_text("max_pool2d_backward", k, stride).replace("(x", "(dout, x")
    assert_close(got, pool_backward_expected(kind, case),
                 check=f"{check} on {what} vs autograd of F.max_pool2d",
                 inputs={"dout": dout, "x": x}, mistakes=pool_backward_mistakes(kind, case))


@pytest.mark.question("4.2", weight=1.25)
@pytest.mark.parametrize("case", range(len(POOL_SPECS)))
def test_max_pool2d_backward_matches_autograd(submission, case):
    """dx = autograd of F.max_pool2d on random x. Fails: overlapping windows overwriting each
    other's gradient instead of adding up, average pooling's gradient, dout sent to the whole
    window, windows at row i instead of i·stride."""
    check_pool_backward(submission, "random", case)


@pytest.mark.question("4.2", weight=1.25)
@pytest.mark.parametrize("case", range(len(TIE_SPECS)))
def test_max_pool2d_backward_ties_go_to_the_first_maximum(submission, case):
    """dx = autograd of F.max_pool2d on integer x with ties: torch on CPU sends a window's
    gradient to its FIRST maximum in row-major order. Fails: every maximum, the last one, and
    the mistakes of test_max_pool2d_backward_matches_autograd."""
    check_pool_backward(submission, "ties", case)


# --------------------------------------------------------------------------------------------
# Q4.2 — flatten
# --------------------------------------------------------------------------------------------

FLATTEN_SHAPES = [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 5, 2), (2, 4, 1, 1)]


@functools.cache
def flatten_input(case: int) -> np.ndarray:
    return case_rng("cnn.flatten", case).normal(0, 1, FLATTEN_SHAPES[case])


@reference
def flatten_expected(case: int) -> np.ndarray:
    return torch.flatten(_t(flatten_input(case)), 1).numpy()


@pytest.mark.question("4.2", weight=1)
@pytest.mark.parametrize("case", range(len(FLATTEN_SHAPES)))
def test_flatten_matches_torch_flatten(submission, case):
    """flatten = torch.flatten(x, 1). Fails: Fortran order (whole array or per image), channels
    last, the batch axis flattened too, only H and W flattened, channels joined to the batch."""
    x = flatten_input(case)
    got = submission.call(MODULE, "flatten", x)
    expected = flatten_expected(case)
    assert_close(got, expected, check="flatten(x) vs torch.flatten(x, 1)", inputs={"x": x},
                 mistakes=mistakes.flatten(x, expected))


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


@reference
def cnn_expected(case: int) -> np.ndarray:
    """nn.Sequential(Conv2d, ReLU, MaxPool2d(pool, pool), Flatten) then Linear, same weights."""
    x, params, s, p, q, _ = cnn_inputs(case)
    c_out, c_in, k, _ = params["conv_w"].shape
    n_cls, n_in = params["fc_w"].shape
    conv = torch.nn.Conv2d(c_in, c_out, k, s, p, dtype=torch.float64)
    fc = torch.nn.Linear(n_in, n_cls, dtype=torch.float64)
    with torch.no_grad():
        for layer, weight, bias in ((conv, "conv_w", "conv_b"), (fc, "fc_w", "fc_b")):
            layer.weight.copy_(_t(params[weight]))
            layer.bias.copy_(_t(params[bias]))
        network = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(q, q),
                                      torch.nn.Flatten(), fc)
        return network(_t(x)).numpy()


@reference
def cnn_mistakes(case: int) -> dict:
    x, params, s, p, q, _ = cnn_inputs(case)
    return mistakes.cnn_forward(x, params, s, p, q, cnn_expected(case))


@reference
def cnn_activations(case: int) -> np.ndarray:
    """relu(F.conv2d(x, conv_w, conv_b)): what cnn_forward pools."""
    x, params, s, p, _, _ = cnn_inputs(case)
    return F.relu(F.conv2d(_t(x), _t(params["conv_w"]), _t(params["conv_b"]), s, p)).numpy()


def right_given_own_components(submission, case: int, got) -> bool:
    """Whether `got` is fc(flatten(max_pool2d(relu(conv)))) computed with the student's own
    max_pool2d and flatten on torch's activations: what a cnn_forward right in itself returns
    when those two (graded in their own tests) are wrong."""
    x, params, _, _, q, _ = cnn_inputs(case)
    try:
        pooled = submission.call(MODULE, "max_pool2d", cnn_activations(case), q, q)
        flat = as_array(submission.call(MODULE, "flatten", pooled), "flatten", "")
        if flat.ndim != 2 or flat.shape[1] != params["fc_w"].shape[1]:
            return False
        own = F.linear(_t(flat), _t(params["fc_w"]), _t(params["fc_b"])).numpy()
        assert_close(got, own, check="cnn_forward with the student's own components", inputs={})
    except (StudentCodeError, Mismatch):
        return False
    return True


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(CNN_SPECS)))
def test_cnn_forward_matches_nn_sequential(submission, case):
    """cnn_forward = nn.Sequential(Conv2d, ReLU, MaxPool2d(pool, pool), Flatten, Linear) with
    the same weights, or the same network with the student's own max_pool2d and flatten (their
    mistakes are charged in their own tests). Fails: no ReLU, sigmoid or tanh instead, average
    pooling, pooling with stride 1, flatten in another order, fc_w not transposed, no fc bias,
    ReLU or (log-)softmax on the logits, stride and padding swapped or ignored, pool ignored
    (a default-argument case, others with stride 2, padding 1, pool 3)."""
    x, params, s, p, q, defaults = cnn_inputs(case)
    if defaults:
        got = submission.call(MODULE, "cnn_forward", x, params)
        check = "cnn_forward(x, params) (defaults: stride=1, padding=0, pool=2)"
    else:
        got = submission.call(MODULE, "cnn_forward", x, params, s, p, q)
        check = f"cnn_forward(x, params, stride={s}, padding={p}, pool={q})"
    check += " vs nn.Sequential(Conv2d, ReLU, MaxPool2d, Flatten, Linear) with the same weights"
    try:
        assert_close(got, cnn_expected(case), check=check, inputs={"x": x, "params": params},
                     mistakes=cnn_mistakes(case))
    except Mismatch:
        if not right_given_own_components(submission, case, got):
            raise
