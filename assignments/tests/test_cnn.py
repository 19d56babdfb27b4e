"""Public checks for cnn.py (Q4.1, Q4.2): your functions against PyTorch, on inputs of their own.

Run `pytest tests/test_cnn.py` in your folder. Each check reads: seeded inputs -> the torch
reference -> your result (run as the grader runs it) -> the grader's comparison, with its hint
when your result is what a known mistake gives (autograder/mistakes/cnn.py). Forward and backward
are checked apart: a right max_pool2d passes its checks whatever max_pool2d_backward does. The
grader's hidden tests use other inputs, and more of them.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks import Mismatch, as_array, as_parts, assert_close, assert_true, case_rng
from autograder.mistakes import cnn as mistakes
from public_checks import StudentCodeError

MODULE = "cnn"


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def f_conv2d(x, w, b, stride, padding) -> np.ndarray:
    return F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride, padding).numpy()


def call_conv2d(submission, x, w, b, *rest):
    """Your conv2d(x, w, b, *rest) (conv2d(x, w) when rest is empty and b None); a call with
    b=None that raises says what b=None means."""
    try:
        return submission.call(MODULE, "conv2d", x, w, *((b, *rest) if rest else ()))
    except StudentCodeError as error:
        if b is not None or error.kind != "raised":
            raise
        raise StudentCodeError(error.kind, f"{error}\n  b=None means no bias: nothing is added "
                                           f"to the output", error.type) from None


# === Q4.1: conv2d against F.conv2d ===========================================================
# (N, C_in, H, W, C_out, kH, kW, stride, padding, bias): bias None passes b=None, "default"
# calls conv2d(x, w) with every default.
CONV_SPECS = [
    (2, 3, 6, 7, 3, 3, 2, 2, 1, True),        # C_in == C_out, non-square kernel, stride 2
    (1, 2, 8, 7, 2, 3, 3, 3, 2, None),        # b=None, stride 3 does not divide
    (2, 2, 5, 6, 3, 2, 2, 1, 0, "default"),
]


@functools.cache
def conv_case(case: int):
    """((x, w, b, stride, padding), F.conv2d's value, its known mistakes)."""
    n, c_in, h, w_, c_out, kh, kw, s, p, bias = CONV_SPECS[case]
    rng = case_rng("public", "cnn.conv2d", case)
    x, w = rng.normal(0, 1, (n, c_in, h, w_)), rng.normal(0, 1, (c_out, c_in, kh, kw))
    b = rng.normal(0, 1, c_out) if bias is True else None
    expected = f_conv2d(x, w, b, s, p)
    return (x, w, b, s, p), expected, mistakes.conv2d(x, w, b, s, p, expected)


@pytest.mark.question("4.1", weight=4)
@pytest.mark.parametrize("case", range(len(CONV_SPECS)))
def test_conv2d(submission, case):
    (x, w, b, s, p), expected, wrong = conv_case(case)
    if CONV_SPECS[case][-1] == "default":
        got = call_conv2d(submission, x, w, None)
        check = "conv2d(x, w) (defaults: b=None, stride=1, padding=0)"
    else:
        got = call_conv2d(submission, x, w, b, s, p)
        check = f"conv2d(x, w, {'b' if b is not None else 'None'}, stride={s}, padding={p})"
    assert_close(got, expected, check=check + " vs F.conv2d", inputs={"x": x, "w": w},
                 mistakes=wrong)


@functools.cache
def shift_case():
    """(x, x shifted by (dy, dx) = (2, -1) with zeros coming in, w, b), F.conv2d of both, and
    the known mistakes of both."""
    rng = case_rng("public", "cnn.equivariance")
    x, w, b = rng.normal(0, 1, (1, 2, 9, 8)), rng.normal(0, 1, (2, 2, 3, 2)), rng.normal(0, 1, 2)
    x_shift = np.zeros_like(x)
    x_shift[:, :, 2:, :-1] = x[:, :, :-2, 1:]
    expected = [f_conv2d(image, w, b, 1, 0) for image in (x, x_shift)]
    return (x, x_shift, w, b), expected, [mistakes.conv2d(image, w, b, 1, 0, e)
                                          for image, e in zip((x, x_shift), expected)]


@pytest.mark.question("4.1", weight=1.5)
def test_conv2d_is_translation_equivariant(submission):
    """conv2d(shift(x)) = shift(conv2d(x)) away from the borders; then both against F.conv2d,
    so that only a right conv2d passes (zeros are equivariant too)."""
    (x, x_shift, w, b), expected, wrong = shift_case()
    check = "conv2d(shift(x), w, b) vs shift(conv2d(x, w, b)), image shifted by (dy=2, dx=-1)"
    out = as_array(call_conv2d(submission, x, w, b, 1, 0), check, "conv2d(x)")
    out_shift = as_array(call_conv2d(submission, x_shift, w, b, 1, 0), check, "conv2d(shift(x))")
    for name, got in (("conv2d(x)", out), ("conv2d(shift(x))", out_shift)):
        assert_true(got.shape == expected[0].shape,
                    f"{check}: {name} has shape {got.shape}, expected {expected[0].shape}")
    # output rows 2..6 and columns 0..5 of the shifted image see exact copies of x's patches
    assert_close(out_shift[:, :, 2:7, 0:6], out[:, :, 0:5, 1:7],
                 check=f"{check}, compared on output rows 2..6, columns 0..5 (away from the "
                       f"borders): out[n, o, i, j] must depend only on the patch under (i, j), "
                       f"with the same kernel at every position", inputs={"x": x, "w": w})
    for got, want, mistaken, name in zip((out, out_shift), expected, wrong,
                                         ("conv2d(x, w, b)", "conv2d(shift(x), w, b)")):
        assert_close(got, want, check=f"{name} vs F.conv2d", inputs={"x": x, "w": w},
                     mistakes=mistaken)


SHAPE_SPECS = [(9, 7, 3, 2, 1), (10, 13, 4, 3, 2), (28, 28, 5, 1, 0)]   # (h, w, k, stride, pad)


@pytest.mark.question("4.1", weight=1.5)
@pytest.mark.parametrize("case", range(len(SHAPE_SPECS)))
def test_conv_output_shape(submission, case):
    h, w, k, s, p = SHAPE_SPECS[case]
    check = f"conv_output_shape(h={h}, w={w}, k={k}, stride={s}, padding={p}) vs F.conv2d"
    expected = tuple(F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, k, k), None, s, p)
                     .shape[2:])
    got = submission.call(MODULE, "conv_output_shape", h, w, k, s, p)
    got = as_parts(got.tolist() if isinstance(got, np.ndarray) else got, 2, check)
    assert_close(got, expected, check=check, inputs={}, rtol=0, atol=0,
                 mistakes=mistakes.conv_output_shape(h, w, k, s, p, expected))


def torch_count(layer) -> int:
    return sum(p.numel() for p in layer.parameters())


COUNT_SPECS = [((3, 8, 5), (3 * 32 * 32, 10)), ((6, 6, 1), (7, 2))]   # (conv), (dense)


@pytest.mark.question("4.1")
@pytest.mark.parametrize("case", range(len(COUNT_SPECS)))
def test_num_params(submission, case):
    """conv_num_params = the parameters of nn.Conv2d, dense_num_params those of nn.Linear,
    exactly (a bias forgotten on a big layer is far below any relative tolerance)."""
    (c_in, c_out, k), (n_in, n_out) = COUNT_SPECS[case]
    expected = torch_count(torch.nn.Conv2d(c_in, c_out, k, device="meta"))
    got = submission.call(MODULE, "conv_num_params", c_in, c_out, k)
    assert_close(got, expected, check=f"conv_num_params(c_in={c_in}, c_out={c_out}, k={k}) vs "
                 f"nn.Conv2d: the parameters torch counts", inputs={}, rtol=0, atol=0,
                 mistakes=mistakes.conv_num_params(c_in, c_out, k, expected))
    expected = torch_count(torch.nn.Linear(n_in, n_out, device="meta"))
    got = submission.call(MODULE, "dense_num_params", n_in, n_out)
    assert_close(got, expected, check=f"dense_num_params(n_in={n_in}, n_out={n_out}) vs "
                 f"nn.Linear: the parameters torch counts", inputs={}, rtol=0, atol=0,
                 mistakes=mistakes.dense_num_params(n_in, n_out, expected))


@pytest.mark.question("4.1")
def test_dense_count_of_a_conv_layer_job_on_a_large_image(submission):
    """The dense layer mapping a flattened 3x227x227 image to a flattened 16x227x227 feature map
    (what a 3x3 conv layer with 448 shared parameters does): 1.3e11 parameters, exactly."""
    n_in, n_out = 3 * 227 * 227, 16 * 227 * 227
    expected = torch_count(torch.nn.Linear(n_in, n_out, device="meta"))
    got = submission.call(MODULE, "dense_num_params", n_in, n_out)
    assert_close(got, expected, check=f"dense_num_params({n_in}, {n_out}) vs nn.Linear: the "
                 f"parameters torch counts", inputs={}, rtol=0, atol=0,
                 mistakes=mistakes.dense_num_params(n_in, n_out, expected))


# === Q4.2: conv2d_backward against autograd ==================================================
# (N, C_in, H, W, C_out, kH, kW, stride, padding, bias)
BACKWARD_SPECS = [
    (2, 2, 6, 7, 3, 3, 2, 1, 1, True),        # non-square kernel, padding 1
    (1, 3, 9, 8, 2, 3, 3, 3, 0, True),        # stride 3: the last row and columns unreached
    (2, 2, 7, 7, 2, 2, 2, 2, 2, False),       # b=None: db must be None
]
PARTS = ("dx", "dw", "db")


@functools.cache
def backward_case(case: int):
    """((dout, x, w, b, stride, padding), autograd's (dx, dw, db), their known mistakes)."""
    n, c_in, h, w_, c_out, kh, kw, s, p, bias = BACKWARD_SPECS[case]
    rng = case_rng("public", "cnn.conv2d_backward", case)
    x, w = rng.normal(0, 1, (n, c_in, h, w_)), rng.normal(0, 1, (c_out, c_in, kh, kw))
    b = rng.normal(0, 1, c_out) if bias else None
    dout = rng.normal(0, 1, (n, c_out, (h + 2 * p - kh) // s + 1, (w_ + 2 * p - kw) // s + 1))
    xt, wt = _t(x).requires_grad_(), _t(w).requires_grad_()
    bt = None if b is None else _t(b).requires_grad_()
    F.conv2d(xt, wt, bt, s, p).backward(_t(dout))
    expected = (xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy())
    return (dout, x, w, b, s, p), expected, mistakes.conv2d_backward(dout, x, w, b, s, p, expected)


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("part", range(3), ids=PARTS)
@pytest.mark.parametrize("case", range(len(BACKWARD_SPECS)))
def test_conv2d_backward(submission, case, part):
    (dout, x, w, b, s, p), expected, wrong = backward_case(case)
    check = (f"conv2d_backward(dout, x, w, {'b' if b is not None else 'None'}, stride={s}, "
             f"padding={p})")
    got = as_parts(submission.call(MODULE, "conv2d_backward", dout, x, w, b, s, p), 3,
                   check + " (dx, dw, db)")[part]
    if expected[part] is None:
        assert_true(got is None, f"{check}: db must be None when the forward pass had no bias "
                                 f"(b=None), got {type(got).__name__}")
        return
    assert_close(got, expected[part], check=f"{check}: {PARTS[part]} vs autograd of F.conv2d",
                 inputs={"dout": dout, "x": x, "w": w},
                 mistakes={hint: value[part] for hint, value in wrong.items()
                           if value[part] is not None})


# === Q4.2: max-pooling, forward and backward apart ===========================================
# (N, C, H, W, k, stride, integer-valued x: ties); stride None = k
POOL_SPECS = [(2, 2, 7, 8, 2, None, False),   # sizes k does not divide
              (1, 3, 8, 7, 3, 2, False),      # overlapping windows
              (2, 2, 8, 7, 2, 3, False),      # stride > k: gaps
              (2, 2, 7, 8, 3, 1, True),       # ties, heavily overlapping
              (1, 3, 8, 8, 2, None, True)]    # ties


def stride_args(k, stride) -> tuple:
    return (k,) if stride is None else (k, stride)


def pool_text(name, k, stride) -> str:
    return f"{name}(x, {k})" if stride is None else f"{name}(x, {k}, stride={stride})"


@functools.cache
def pool_case(case: int):
    """((x, k, stride, dout), F.max_pool2d's value and its autograd dx, the known mistakes of
    both)."""
    n, c, h, w, k, stride, ties = POOL_SPECS[case]
    rng = case_rng("public", "cnn.max_pool2d", case)
    x = rng.integers(0, 3, (n, c, h, w)).astype(np.float64) if ties else rng.normal(0, 1, (n, c, h, w))
    xt = _t(x).requires_grad_()
    out = F.max_pool2d(xt, k, stride)
    dout = rng.normal(0, 1, tuple(out.shape))
    out.backward(_t(dout))
    expected = out.detach().numpy(), xt.grad.numpy()
    return (x, k, stride, dout), expected, (
        mistakes.max_pool2d(x, k, stride, expected[0]),
        mistakes.max_pool2d_backward(dout, x, k, stride, expected[1]))


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(3))
def test_max_pool2d(submission, case):
    (x, k, stride, _), (expected, _), (wrong, _) = pool_case(case)
    got = submission.call(MODULE, "max_pool2d", x, *stride_args(k, stride))
    assert_close(got, expected, check=pool_text("max_pool2d", k, stride) + " vs F.max_pool2d",
                 inputs={"x": x}, mistakes=wrong)


@pytest.mark.question("4.2", weight=2.5)
@pytest.mark.parametrize("case", range(len(POOL_SPECS)))
def test_max_pool2d_backward(submission, case):
    """dx of max-pooling; with ties (integer x) torch on CPU sends a window's gradient to its
    FIRST maximum in row-major order, and overlapping windows add up."""
    (x, k, stride, dout), (_, expected), (_, wrong) = pool_case(case)
    got = submission.call(MODULE, "max_pool2d_backward", dout, x, *stride_args(k, stride))
    what = "integer-valued x (ties)" if POOL_SPECS[case][-1] else "random x"
    check = pool_text("max_pool2d_backward", k, stride).replace("(x", "(dout, x")
    assert_close(got, expected, check=f"{check} on {what} vs autograd of F.max_pool2d",
                 inputs={"dout": dout, "x": x}, mistakes=wrong)


FLATTEN_SHAPES = [(2, 3, 4, 5), (3, 2, 1, 4)]


@pytest.mark.question("4.2")
@pytest.mark.parametrize("case", range(len(FLATTEN_SHAPES)))
def test_flatten(submission, case):
    x = case_rng("public", "cnn.flatten", case).normal(0, 1, FLATTEN_SHAPES[case])
    expected = torch.flatten(_t(x), 1).numpy()
    got = submission.call(MODULE, "flatten", x)
    assert_close(got, expected, check="flatten(x) vs torch.flatten(x, 1)", inputs={"x": x},
                 mistakes=mistakes.flatten(x, expected))


# === Q4.2: cnn_forward against an nn.Sequential ==============================================
# (N, C_in, H, W, C_out, k, stride, padding, pool, classes); stride None: cnn_forward(x, params)
CNN_SPECS = [(2, 2, 9, 8, 3, 3, 1, 1, 3, 4),
             (2, 1, 8, 8, 2, 3, 2, 1, 2, 3),
             (1, 2, 7, 7, 2, 3, None, None, None, 3)]


@functools.cache
def cnn_case(case: int):
    """((x, params, stride, padding, pool, defaults), the nn.Sequential's logits, the known
    mistakes)."""
    n, c_in, h, w, c_out, k, stride, padding, pool, n_cls = CNN_SPECS[case]
    s, p, q = stride or 1, padding or 0, pool or 2
    rng = case_rng("public", "cnn.cnn_forward", case)
    n_in = c_out * (((h + 2 * p - k) // s + 1) // q) * (((w + 2 * p - k) // s + 1) // q)
    x = rng.normal(0, 1, (n, c_in, h, w))
    params = {"conv_w": rng.normal(0, 0.5, (c_out, c_in, k, k)), "conv_b": rng.normal(0, 0.5, c_out),
              "fc_w": rng.normal(0, 0.5, (n_cls, n_in)), "fc_b": rng.normal(0, 0.5, n_cls)}
    conv = torch.nn.Conv2d(c_in, c_out, k, s, p, dtype=torch.float64)
    fc = torch.nn.Linear(n_in, n_cls, dtype=torch.float64)
    with torch.no_grad():
        for layer, weight, bias in ((conv, "conv_w", "conv_b"), (fc, "fc_w", "fc_b")):
            layer.weight.copy_(_t(params[weight]))
            layer.bias.copy_(_t(params[bias]))
        expected = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(q, q),
                                       torch.nn.Flatten(), fc)(_t(x)).numpy()
    return (x, params, s, p, q, stride is None), expected, \
        mistakes.cnn_forward(x, params, s, p, q, expected)


def right_given_own_components(submission, case: int, got) -> bool:
    """Whether `got` is fc(flatten(max_pool2d(relu(conv)))) computed with your own max_pool2d
    and flatten on torch's activations: what a cnn_forward right in itself returns when those
    two (checked in their own tests) are wrong, which the grader accepts too."""
    (x, params, s, p, q, _), _, _ = cnn_case(case)
    act = F.relu(F.conv2d(_t(x), _t(params["conv_w"]), _t(params["conv_b"]), s, p)).numpy()
    try:
        pooled = submission.call(MODULE, "max_pool2d", act, q, q)
        flat = as_array(submission.call(MODULE, "flatten", pooled), "flatten", "")
        if flat.ndim != 2 or flat.shape[1] != params["fc_w"].shape[1]:
            return False
        own = F.linear(_t(flat), _t(params["fc_w"]), _t(params["fc_b"])).numpy()
        assert_close(got, own, check="cnn_forward with your own components", inputs={})
    except (StudentCodeError, Mismatch):
        return False
    return True


@pytest.mark.question("4.2", weight=1.5)
@pytest.mark.parametrize("case", range(len(CNN_SPECS)))
def test_cnn_forward(submission, case):
    """cnn_forward = nn.Sequential(Conv2d, ReLU, MaxPool2d(pool, pool), Flatten, Linear) with
    the same weights, or the same network with your own max_pool2d and flatten (their mistakes
    are charged in their own tests). It calls your conv2d too: fix that first (the grader uses
    its own conv2d there, which is Q4.1's)."""
    (x, params, s, p, q, defaults), expected, wrong = cnn_case(case)
    if defaults:
        got = submission.call(MODULE, "cnn_forward", x, params)
        check = "cnn_forward(x, params) (defaults: stride=1, padding=0, pool=2)"
    else:
        got = submission.call(MODULE, "cnn_forward", x, params, s, p, q)
        check = f"cnn_forward(x, params, stride={s}, padding={p}, pool={q})"
    try:
        assert_close(got, expected, check=check + " vs nn.Sequential(Conv2d, ReLU, MaxPool2d, "
                     "Flatten, Linear) with the same weights", inputs={"x": x, "params": params},
                     mistakes=wrong)
    except Mismatch:
        if not right_given_own_components(submission, case, got):
            raise
