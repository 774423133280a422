"""Layers as pure forward/backward pairs on numpy arrays.

Every layer has `X_forward(inputs..., params) -> (out, cache)` and
`X_backward(dout, cache) -> grads`, the gradients in the order of the forward inputs,
each with exactly the shape and dtype of its input. No function modifies its inputs
(batchnorm's running statistics, stored back into `bn_param`, are the one documented
exception). Letters in shapes: N examples, D features, M outputs, C classes or channels,
H x W spatial size, F filters of size HH x WW.
"""

import numpy as np


def affine_forward(x, w, b):
    """Fully connected layer: out = x.reshape(N, D) @ w + b.

    Inputs:
    - x: (N, d_1, ..., d_k), each example flattened row-wise to D = d_1 * ... * d_k
    - w: (D, M) weights
    - b: (M,) biases

    Returns a tuple of:
    - out: (N, M)
    - cache: (x, w, b)
    """
    out = None
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)
    ### END SOLUTION
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of the fully connected layer.

    Inputs:
    - dout: (N, M) upstream gradient
    - cache: (x, w, b) from affine_forward

    Returns a tuple of:
    - dx: same shape as x, (N, d_1, ..., d_k)
    - dw: (D, M)
    - db: (M,)
    """
    x, w, b = cache
    dx, dw, db = None, None, None
    ### BEGIN SOLUTION
    dx = (dout @ w.T).reshape(x.shape)  # (N, d_1, ..., d_k)
    dw = x.reshape(x.shape[0], -1).T @ dout  # (D, M)
    db = dout.sum(axis=0)  # (M,)
    ### END SOLUTION
    return dx, dw, db


def relu_forward(x):
    """Rectified linear unit, elementwise max(0, x).

    Inputs:
    - x: array of any shape

    Returns a tuple of:
    - out: same shape as x
    - cache: x
    """
    out = None
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of the ReLU: the gradient passes where x > 0.

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: x from relu_forward

    Returns:
    - dx: same shape as x
    """
    x = cache
    dx = None
    ### BEGIN SOLUTION
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx


def softmax_loss(x, y):
    """Mean cross-entropy loss of the softmax of scores, and its gradient.

    Subtract each row's maximum before exponentiating so large scores do not overflow.

    Inputs:
    - x: (N, C) scores, x[i, j] is the score of class j for example i
    - y: (N,) labels, 0 <= y[i] < C

    Returns a tuple of:
    - loss: scalar
    - dx: (N, C) gradient of the loss with respect to x
    """
    loss, dx = None, None
    ### BEGIN SOLUTION
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # (N, C)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)  # (N, C)
    dx[np.arange(N), y] -= 1
    dx /= N
    ### END SOLUTION
    return loss, dx


def svm_loss(x, y):
    """Mean multiclass hinge loss (margin 1) of scores, and its gradient.

    Inputs:
    - x: (N, C) scores
    - y: (N,) labels, 0 <= y[i] < C

    Returns a tuple of:
    - loss: scalar
    - dx: (N, C)
    """
    N = x.shape[0]
    rows = np.arange(N)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)  # (N, C)
    margins[rows, y] = 0
    loss = margins.sum() / N
    dx = (margins > 0).astype(x.dtype)  # (N, C)
    dx[rows, y] -= dx.sum(axis=1)
    dx /= N
    return loss, dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of each feature over the minibatch.

    Train mode normalises with the batch mean and the biased batch variance and updates
    the running averages:
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
    (the same for the variance), stored back into bn_param. Test mode normalises with
    the running averages instead.

    Inputs:
    - x: (N, D)
    - gamma: (D,) scale
    - beta: (D,) shift
    - bn_param: dict with
      - mode: 'train' or 'test' (required; anything else is a ValueError)
      - eps: added to the variance for numeric stability (default 1e-5)
      - momentum: of the running averages (default 0.9)
      - running_mean, running_var: (D,), zeros of x's dtype when absent

    Returns a tuple of:
    - out: (N, D)
    - cache: what batchnorm_backward and batchnorm_backward_alt need
    """
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(
            f"batchnorm_forward: bn_param['mode'] must be 'train' or 'test', got {mode!r}"
        )
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    ### BEGIN SOLUTION
    if mode == "train":
        mu = x.mean(axis=0)  # (D,)
        var = x.var(axis=0)  # (D,)
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std  # (N, D)
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, std)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None  # test mode has no backward pass
    ### END SOLUTION

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of batchnorm, staged through the computation graph node by node.

    Inputs:
    - dout: (N, D) upstream gradient
    - cache: from batchnorm_forward in train mode

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma  # (N, D)
    # x_hat = xc / std with xc = x - mu and std = sqrt(mean(xc**2) + eps)
    xc = x_hat * std  # (N, D)
    dstd = -(dx_hat * xc).sum(axis=0) / std**2  # (D,)
    dvar = dstd / (2 * std)  # (D,)
    dxc = dx_hat / std + 2 * xc * dvar / N  # (N, D)
    dx = dxc - dxc.mean(axis=0)
    ### END SOLUTION
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batchnorm from the simplified closed form.

    Same inputs, same cache and same results as batchnorm_backward, in a few lines.

    Returns a tuple of dx (N, D), dgamma (D,), dbeta (D,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    # With dx_hat = gamma * dout: mean(dx_hat) = gamma * dbeta / N and mean(dx_hat * x_hat) =
    # gamma * dgamma / N, so the two sums above are all the closed form needs.
    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)  # (N, D)
    ### END SOLUTION
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalization: normalise each example (row) over its features.

    The same in train and test mode; no running statistics.

    Inputs:
    - x: (N, D)
    - gamma: (D,) scale
    - beta: (D,) shift
    - ln_param: dict with eps (default 1e-5)

    Returns a tuple of:
    - out: (N, D)
    - cache: what layernorm_backward needs
    """
    eps = ln_param.get("eps", 1e-5)
    out, cache = None, None
    ### BEGIN SOLUTION
    mu = x.mean(axis=1, keepdims=True)  # (N, 1)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)  # (N, 1)
    x_hat = (x - mu) / std  # (N, D)
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, std)
    ### END SOLUTION
    return out, cache


def layernorm_backward(dout, cache):
    """Backward pass of layer normalization.

    Inputs:
    - dout: (N, D) upstream gradient
    - cache: from layernorm_forward

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma  # (N, D)
    dx = (
        dx_hat
        - dx_hat.mean(axis=1, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True)
    ) / std
    ### END SOLUTION
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Inverted dropout.

    Note: p is the probability of KEEPING a unit (the classic course's convention), not of
    dropping it. Kept units are scaled by 1 / p at training time so the test-time forward
    pass is the identity.

    Inputs:
    - x: array of any shape
    - dropout_param: dict with
      - p: keep probability, 0 < p <= 1
      - mode: 'train' or 'test'
      - seed: optional; when given, numpy's global RNG is reseeded with it (for checks)

    Returns a tuple of:
    - out: same shape and dtype as x
    - cache: (dropout_param, mask); mask is None in test mode
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if not 0 < p <= 1:
        raise ValueError(
            f"dropout_forward: p is the keep probability, expected 0 < p <= 1, got {p}"
        )
    if mode not in ("train", "test"):
        raise ValueError(
            f"dropout_forward: dropout_param['mode'] must be 'train' or 'test', got {mode!r}"
        )
    if dropout_param.get("seed") is not None:
        np.random.seed(dropout_param["seed"])

    mask, out = None, None
    ### BEGIN SOLUTION
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask.astype(x.dtype, copy=False)
    else:
        out, mask = x, None
    ### END SOLUTION
    cache = (dropout_param, mask)
    return out, cache


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout: the forward mask (with its 1/p scale) again.

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: (dropout_param, mask) from dropout_forward

    Returns:
    - dx: same shape and dtype as dout
    """
    dropout_param, mask = cache
    dx = None
    ### BEGIN SOLUTION
    if dropout_param["mode"] == "train":
        dx = dout * mask.astype(dout.dtype, copy=False)
    else:
        dx = dout
    ### END SOLUTION
    return dx


def conv_forward_naive(x, w, b, conv_param):
    """Convolutional layer, written with explicit loops.

    Each of F filters spans all C channels and slides over the zero-padded input.

    Inputs:
    - x: (N, C, H, W)
    - w: (F, C, HH, WW) filters
    - b: (F,) biases
    - conv_param: dict with stride (pixels between neighbouring windows) and pad (zeros
      added symmetrically on every side of H and W; leave x itself untouched)

    Returns a tuple of:
    - out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride
                               W' = 1 + (W + 2 * pad - WW) // stride
    - cache: (x, w, b, conv_param)
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    out = None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H+2pad, W+2pad)
    w_rows = w.reshape(F, -1)  # (F, C*HH*WW)
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = xp[
                :, :, i * stride : i * stride + HH, j * stride : j * stride + WW
            ]  # (N, C, HH, WW)
            out[:, :, i, j] = window.reshape(N, -1) @ w_rows.T + b  # (N, F)
    ### END SOLUTION
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """Backward pass of the naive convolution.

    Inputs:
    - dout: (N, F, H', W') upstream gradient
    - cache: (x, w, b, conv_param) from conv_forward_naive

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    dx, dw, db = None, None, None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(d, xp[:, :, rows, cols], axes=([0], [0]))  # (F, C, HH, WW)
            dxp[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))  # (N, C, HH, WW)
    dx = dxp[:, :, pad : pad + H, pad : pad + W]  # (N, C, H, W)
    db = dout.sum(axis=(0, 2, 3))
    ### END SOLUTION
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """Max pooling, written with explicit loops. No padding.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: dict with pool_height, pool_width and stride

    Returns a tuple of:
    - out: (N, C, H', W') with H' = 1 + (H - pool_height) // stride
                               W' = 1 + (W - pool_width) // stride
    - cache: (x, pool_param)
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    ### END SOLUTION
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """Backward pass of max pooling: each window's gradient goes to its maximum.

    When windows overlap, an input that is the maximum of several windows receives the sum
    of their gradients. On ties, the first maximum in row-major order takes the gradient.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: (x, pool_param) from max_pool_forward_naive

    Returns:
    - dx: (N, C, H, W)
    """
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = None
    ### BEGIN SOLUTION
    N, C, _, _ = x.shape
    _, _, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")  # (N, C) each
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            k = window.reshape(N, C, -1).argmax(axis=2)  # (N, C) flat index in the window
            dx[n, c, i * stride + k // pw, j * stride + k % pw] += dout[:, :, i, j]
    ### END SOLUTION
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of each channel over the examples and all positions (N, H, W).

    Inputs:
    - x: (N, C, H, W)
    - gamma, beta: (C,)
    - bn_param: as for batchnorm_forward (mode, eps, momentum, running_mean, running_var)

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: what spatial_batchnorm_backward needs

    Hint: reuse batchnorm_forward on a suitable reshape of x (mind the axis order).
    """
    out, cache = None, None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)  # (N*H*W, C)
    out, cache = batchnorm_forward(rows, gamma, beta, bn_param)
    out = out.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)
    ### END SOLUTION
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial batch normalization.

    Inputs:
    - dout: (N, C, H, W) upstream gradient
    - cache: from spatial_batchnorm_forward

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dgamma, dbeta: (C,)
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    N, C, H, W = dout.shape
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)  # (N*H*W, C)
    dx, dgamma, dbeta = batchnorm_backward_alt(rows, cache)
    dx = dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)
    ### END SOLUTION
    return dx, dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalization: per example, normalise each of G groups of C // G consecutive
    channels over the group's channels and positions.

    Inputs:
    - x: (N, C, H, W), C divisible by G
    - gamma, beta: (1, C, 1, 1) per-channel scale and shift
    - G: number of groups
    - gn_param: dict with eps (default 1e-5)

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: what spatial_groupnorm_backward needs
    """
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    if C % G:
        raise ValueError(
            f"spatial_groupnorm_forward: C={C} channels cannot be split into G={G} groups"
        )
    out, cache = None, None
    ### BEGIN SOLUTION
    groups = x.reshape(N, G, -1)  # (N, G, C//G*H*W)
    mu = groups.mean(axis=2, keepdims=True)  # (N, G, 1)
    std = np.sqrt(groups.var(axis=2, keepdims=True) + eps)  # (N, G, 1)
    x_hat = ((groups - mu) / std).reshape(N, C, H, W)
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, std, G)
    ### END SOLUTION
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of group normalization.

    Inputs:
    - dout: (N, C, H, W) upstream gradient
    - cache: from spatial_groupnorm_forward

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dgamma, dbeta: (1, C, 1, 1)
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, gamma, std, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    dx_hat = (dout * gamma).reshape(N, G, -1)  # (N, G, C//G*H*W)
    x_hat = x_hat.reshape(N, G, -1)
    dx = (
        dx_hat
        - dx_hat.mean(axis=2, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=2, keepdims=True)
    ) / std
    dx = dx.reshape(N, C, H, W)
    ### END SOLUTION
    return dx, dgamma, dbeta
