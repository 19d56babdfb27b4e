"""Public checks for cnn.py (Q4.1, Q4.2): your functions against PyTorch, on a few inputs.

Run `pytest tests/test_cnn.py` in your folder. Passing these does not guarantee full marks: the
hidden tests use more cases (other shapes, strides, paddings, ties) and check that inputs are
left unchanged.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cnn


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def close(got, expected, what):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=what)


# (N, C_in, H, W, C_out, kH, kW, stride, padding, with bias)
CONV_CASES = [(2, 2, 6, 6, 3, 3, 3, 1, 0, True),
              (1, 3, 7, 5, 2, 2, 3, 2, 1, True),
              (2, 1, 8, 8, 2, 3, 3, 3, 2, False)]


def conv_case(i):
    n, c_in, h, w_, c_out, kh, kw, s, p, bias = CONV_CASES[i]
    rng = np.random.default_rng(400 + i)
    x = rng.normal(size=(n, c_in, h, w_))
    w = rng.normal(size=(c_out, c_in, kh, kw))
    b = rng.normal(size=c_out) if bias else None
    return x, w, b, s, p


@pytest.mark.question("4.1")
@pytest.mark.parametrize("i", range(len(CONV_CASES)))
def test_conv2d_matches_torch(i):
    x, w, b, s, p = conv_case(i)
    expected = F.conv2d(t(x), t(w), None if b is None else t(b), s, p).numpy()
    close(cnn.conv2d(x, w, b, s, p), expected, f"conv2d, stride={s}, padding={p}")


@pytest.mark.question("4.1")
def test_conv_output_shape_matches_torch():
    for h, w, k, s, p in [(7, 7, 3, 1, 0), (9, 8, 3, 2, 1), (10, 11, 4, 3, 2)]:
        out = F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, k, k), None, s, p)
        assert tuple(cnn.conv_output_shape(h, w, k, s, p)) == tuple(out.shape[2:])


@pytest.mark.question("4.1")
def test_num_params_match_torch_layers():
    for c_in, c_out, k in [(3, 8, 3), (1, 4, 5)]:
        layer = torch.nn.Conv2d(c_in, c_out, k)
        assert cnn.conv_num_params(c_in, c_out, k) == sum(q.numel() for q in layer.parameters())
    for n_in, n_out in [(3 * 32 * 32, 10), (7, 2)]:
        layer = torch.nn.Linear(n_in, n_out)
        assert cnn.dense_num_params(n_in, n_out) == sum(q.numel() for q in layer.parameters())


@pytest.mark.question("4.1")
def test_conv2d_is_translation_equivariant():
    rng = np.random.default_rng(410)
    x, w, b = rng.normal(size=(1, 2, 9, 9)), rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2)
    dy, dx = 2, 1
    x_shift = np.zeros_like(x)
    x_shift[:, :, dy:, dx:] = x[:, :, :-dy, :-dx]
    out, out_shift = cnn.conv2d(x, w, b), cnn.conv2d(x_shift, w, b)
    # Away from the borders, shifting the input shifts the output by the same amount.
    close(out_shift[:, :, dy:, dx:], out[:, :, :-dy, :-dx], "conv2d(shift(x)) vs shift(conv2d(x))")


@pytest.mark.question("4.2")
@pytest.mark.parametrize("i", range(len(CONV_CASES)))
def test_conv2d_backward_matches_autograd(i):
    x, w, b, s, p = conv_case(i)
    xt, wt = t(x).requires_grad_(), t(w).requires_grad_()
    bt = None if b is None else t(b).requires_grad_()
    out = F.conv2d(xt, wt, bt, s, p)
    dout = np.random.default_rng(420 + i).normal(size=tuple(out.shape))
    out.backward(t(dout))
    dx, dw, db = cnn.conv2d_backward(dout, x, w, b, s, p)
    close(dx, xt.grad.numpy(), "dx")
    close(dw, wt.grad.numpy(), "dw")
    if b is None:
        assert db is None
    else:
        close(db, bt.grad.numpy(), "db")


# (N, C, H, W, k, stride, integer-valued x: ties)
POOL_CASES = [(2, 2, 6, 6, 2, None, False), (1, 3, 7, 8, 3, 2, False), (2, 2, 6, 7, 2, 1, True)]


@pytest.mark.question("4.2")
@pytest.mark.parametrize("i", range(len(POOL_CASES)))
def test_max_pool2d_and_backward_match_torch(i):
    n, c, h, w, k, stride, ties = POOL_CASES[i]
    rng = np.random.default_rng(430 + i)
    shape = (n, c, h, w)
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.normal(size=shape)
    xt = t(x).requires_grad_()
    out = F.max_pool2d(xt, k, stride)
    dout = rng.normal(size=tuple(out.shape))
    out.backward(t(dout))
    args = (k,) if stride is None else (k, stride)
    close(cnn.max_pool2d(x, *args), out.detach().numpy(), "max_pool2d")
    close(cnn.max_pool2d_backward(dout, x, *args), xt.grad.numpy(), "max_pool2d_backward")


@pytest.mark.question("4.2")
def test_flatten_matches_torch():
    x = np.random.default_rng(440).normal(size=(2, 3, 4, 5))
    close(cnn.flatten(x), torch.flatten(t(x), 1).numpy(), "flatten")


@pytest.mark.question("4.2")
def test_cnn_forward_matches_nn_sequential():
    rng = np.random.default_rng(450)
    x = rng.normal(size=(2, 2, 8, 8))
    params = {"conv_w": rng.normal(size=(3, 2, 3, 3)), "conv_b": rng.normal(size=3),
              "fc_w": rng.normal(size=(4, 3 * 4 * 4)), "fc_b": rng.normal(size=4)}
    conv, fc = torch.nn.Conv2d(2, 3, 3, 1, 1).double(), torch.nn.Linear(48, 4).double()
    with torch.no_grad():
        for param, key in [(conv.weight, "conv_w"), (conv.bias, "conv_b"),
                           (fc.weight, "fc_w"), (fc.bias, "fc_b")]:
            param.copy_(t(params[key]))
        net = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2),
                                  torch.nn.Flatten(), fc)
        expected = net(t(x)).numpy()
    close(cnn.cnn_forward(x, params, 1, 1, 2), expected, "cnn_forward")
