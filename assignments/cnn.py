"""Part 4 — Convolutional neural networks (questions 4.1 and 4.2).

A convolution layer is local (each output looks at a k x k patch) and shares its weights across
positions: it needs far fewer parameters than a dense layer and shifting its input shifts its
output (translation equivariance, Q4.1). A CNN chains convolutions, non-linearities, pooling and
finally dense layers (Q4.2). The hidden tests compare with torch.nn.functional.conv2d,
F.max_pool2d (values and autograd gradients) and an nn.Sequential network.

Conventions (the whole kit follows them):
- numpy only: torch is not available when this module is graded. An unused `import torch`
  costs nothing; a question whose checks run into torch scores 0.
- Arrays are float64. Images are NCHW: x has shape (N, C, H, W). A conv weight is
  (C_out, C_in, kH, kW) and its bias (C_out,); a linear weight is (out, in) and its bias (out,).
- "Convolution" means cross-correlation, as in deep-learning libraries: the kernel is not
  flipped. Padding is symmetric zero padding; stride and padding are ints used for both the
  height and the width. Output sizes round down (floor) when the stride does not divide evenly.
- No function modifies its inputs.

numpy.lib.stride_tricks.sliding_window_view gives every k x k window of an array without
copying it; np.einsum then writes a convolution as one sum over named axes.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


# ---------------------------------------------------------------------------------------------
# Q4.1 — the main property: local connections and shared weights
# ---------------------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0):
    """Q4.1 — 2-D convolution (cross-correlation), as torch.nn.functional.conv2d.

    out[n, o, i, j] = b[o] + sum over c, di, dj of
                      w[o, c, di, dj] * x_padded[n, c, i * stride + di, j * stride + dj]
    where x_padded has `padding` zeros on each side of H and W. No kernel flip.

    Args:
        x: array of shape (N, C_in, H, W).
        w: array of shape (C_out, C_in, kH, kW); the kernel may be non-square.
        b: array of shape (C_out,), or None for no bias.
        stride: int >= 1, the step between windows, in both directions.
        padding: int >= 0, zeros added on each side, in both directions.

    Returns:
        out: float64 array of shape (N, C_out, H_out, W_out) with
            H_out = (H + 2 * padding - kH) // stride + 1 and
            W_out = (W + 2 * padding - kW) // stride + 1.
    """
    raise NotImplementedError("Q4.1: implement conv2d")


def conv_output_shape(h, w, k, stride=1, padding=0):
    """Q4.1 — spatial size of a convolution's output for a k x k kernel.

    Args:
        h, w: ints, the input's height and width.
        k: int, the kernel size (k x k).
        stride: int >= 1.
        padding: int >= 0, on each side.

    Returns:
        (h_out, w_out): tuple of ints, ((h + 2 * padding - k) // stride + 1, same for w).
    """
    raise NotImplementedError("Q4.1: implement conv_output_shape")


def conv_num_params(c_in, c_out, k):
    """Q4.1 — number of parameters of a conv layer with k x k kernels and a bias.

    It does not depend on the image size: the same kernels are shared by every position.

    Args:
        c_in: int, input channels.
        c_out: int, output channels.
        k: int, kernel size.

    Returns:
        n: int, c_out * (c_in * k**2 + 1).
    """
    raise NotImplementedError("Q4.1: implement conv_num_params")


def dense_num_params(n_in, n_out):
    """Q4.1 — number of parameters of a dense (fully connected) layer with a bias.

    Args:
        n_in: int, inputs (for an image, C * H * W).
        n_out: int, outputs.

    Returns:
        n: int, n_out * (n_in + 1).
    """
    raise NotImplementedError("Q4.1: implement dense_num_params")


# ---------------------------------------------------------------------------------------------
# Q4.2 — the components of a CNN
# ---------------------------------------------------------------------------------------------

def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    """Q4.2 — gradients of conv2d(x, w, b, stride, padding) given the upstream gradient.

    Every input pixel receives the gradient of every output whose window covered it, weighted by
    the kernel entry it met; pixels that no window reaches (when the stride does not divide
    evenly) get 0. Padding zeros are not inputs: their gradient is dropped.

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
    raise NotImplementedError("Q4.2: implement conv2d_backward")


def max_pool2d(x, k, stride=None):
    """Q4.2 — max-pooling over k x k windows, as torch.nn.functional.max_pool2d(x, k, stride).

    No padding; the output size rounds down: H_out = (H - k) // stride + 1 (same for W).

    Args:
        x: array of shape (N, C, H, W).
        k: int, window size (k x k).
        stride: int >= 1, or None for stride = k (non-overlapping windows).

    Returns:
        out: float64 array of shape (N, C, H_out, W_out), the maximum of each window.
    """
    raise NotImplementedError("Q4.2: implement max_pool2d")


def max_pool2d_backward(dout, x, k, stride=None):
    """Q4.2 — gradient of max_pool2d(x, k, stride) with respect to x.

    Each window sends its upstream gradient to one input pixel: the position of its maximum,
    the FIRST one in row-major order when several entries tie (as torch on CPU). All other
    pixels of the window get nothing. When windows overlap (stride < k) a pixel can be the
    maximum of several windows: its gradients add up.

    Args:
        dout: array of shape (N, C, H_out, W_out), dL/dout.
        x: array of shape (N, C, H, W), the forward input.
        k: int, window size.
        stride: int >= 1, or None for stride = k.

    Returns:
        dx: float64 array of shape (N, C, H, W).
    """
    raise NotImplementedError("Q4.2: implement max_pool2d_backward")


def flatten(x):
    """Q4.2 — flatten feature maps into vectors for the dense layers (as torch.flatten(x, 1)).

    Args:
        x: array of shape (N, C, H, W).

    Returns:
        out: array of shape (N, C * H * W), entries in C (row-major) order: channel, then row,
            then column.
    """
    raise NotImplementedError("Q4.2: implement flatten")


def cnn_forward(x, params, stride=1, padding=0, pool=2):
    """Q4.2 — a small CNN: conv -> relu -> max-pool -> flatten -> linear.

    logits = flatten(max_pool2d(relu(conv2d(x, conv_w, conv_b, stride, padding)), pool, pool))
             @ fc_w.T + fc_b

    Args:
        x: array of shape (N, C_in, H, W).
        params: dict with
            "conv_w": (C_out, C_in, kH, kW), "conv_b": (C_out,),
            "fc_w": (K, C_out * H_p * W_p) with (H_p, W_p) the pooled size, "fc_b": (K,).
        stride: int, the convolution's stride.
        padding: int, the convolution's padding.
        pool: int, the pooling window and stride (max_pool2d(h, pool, pool)).

    Returns:
        logits: float64 array of shape (N, K).
    """
    raise NotImplementedError("Q4.2: implement cnn_forward")
