"""Are the reference layers of the ConvolutionalNetworks notebook right, judged by an
independent oracle (PyTorch's float64 conv2d, max_pool2d, batch_norm and group_norm with
autograd; float64 centred differences)?"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from assignment import layers
from assignment.checks.numeric import numeric_gradient

from .oracle import rel, torch_grads

pytestmark = pytest.mark.conv
TORCH_TOL = 1e-10  # float64 against float64: only summation order differs
NUMERIC_TOL = 1e-7  # centred differences, h=1e-5, on well-scaled inputs
FLOAT32_TOL = 1e-5  # float32 layers against the float64 result

torch.set_num_threads(1)


def distinct_values(rng, shape):
    """Values at least 1/size apart: no ties inside a pooling window."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) + 0.5 * rng.random(size)) / size - 0.5).reshape(shape)


CONV_SHAPES = [  # x shape, w shape, stride, pad
    ((2, 3, 5, 5), (2, 3, 3, 3), 1, 1),
    ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1),  # the notebook's hard-coded check
    ((1, 2, 7, 5), (3, 2, 3, 1), 2, 0),  # batch of 1, pad 0, H != W, HH != WW
    ((2, 1, 6, 9), (2, 1, 2, 4), 3, 2),  # stride 3; trailing rows a stride cannot reach
    ((3, 4, 6, 4), (5, 4, 1, 1), 1, 0),  # 1x1 filters
]


@pytest.mark.parametrize("x_shape,w_shape,stride,pad", CONV_SHAPES)
def test_conv_matches_torch_conv2d(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(0)
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    out, cache = layers.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    t_out, t_grads = torch_grads(
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad), [x, w, b], dout
    )
    assert out.shape == t_out.shape and rel(out, t_out) < TORCH_TOL
    for g, t in zip(layers.conv_backward_naive(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL


POOL_SHAPES = [  # x shape, pool height, pool width, stride
    ((2, 3, 4, 4), 2, 2, 2),
    ((2, 2, 5, 6), 3, 3, 1),  # overlapping windows
    ((1, 2, 7, 9), 3, 3, 2),  # overlapping, batch of 1
    ((2, 2, 5, 7), 2, 3, 1),  # pool_height != pool_width
    ((2, 1, 9, 6), 4, 2, 3),  # trailing rows a stride cannot reach
]


@pytest.mark.parametrize("x_shape,ph,pw,stride", POOL_SHAPES)
def test_max_pool_matches_torch_max_pool2d(x_shape, ph, pw, stride):
    rng = np.random.default_rng(1)
    x = distinct_values(rng, x_shape)
    out, cache = layers.max_pool_forward_naive(
        x, {"pool_height": ph, "pool_width": pw, "stride": stride}
    )
    dout = rng.standard_normal(out.shape)
    t_out, (t_dx,) = torch_grads(lambda x: F.max_pool2d(x, (ph, pw), stride), [x], dout)
    assert out.shape == t_out.shape and rel(out, t_out) < TORCH_TOL
    assert rel(layers.max_pool_backward_naive(dout, cache), t_dx) < TORCH_TOL


def test_max_pool_gives_a_tie_to_the_first_maximum_only():
    """The docstring's promise: on ties the first maximum in row-major order takes it all."""
    x = np.zeros((1, 1, 2, 2))
    out, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = layers.max_pool_backward_naive(np.ones_like(out), cache)
    assert dx[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 4, 3, 2), (5, 2, 1, 1)])
def test_spatial_batchnorm_train_matches_torch_batch_norm(shape):
    rng = np.random.default_rng(2)
    C = shape[1]
    x, gamma, beta = (
        4 * rng.standard_normal(shape) + 10,
        rng.standard_normal(C),
        rng.standard_normal(C),
    )
    mean0, var0 = rng.standard_normal(C), 1 + rng.random(C)
    bn_param = {
        "mode": "train",
        "momentum": 0.8,
        "running_mean": mean0.copy(),
        "running_var": var0.copy(),
    }
    out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    dout = rng.standard_normal(shape)
    t_mean, t_var = torch.tensor(mean0), torch.tensor(var0)
    t_out, t_grads = torch_grads(
        lambda x, g, b: F.batch_norm(x, t_mean, t_var, g, b, training=True, momentum=0.2, eps=1e-5),
        [x, gamma, beta],
        dout,
    )
    assert rel(out, t_out) < TORCH_TOL
    for g, t in zip(layers.spatial_batchnorm_backward(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL
    # torch's momentum is our 1 - momentum; its running variance is unbiased, ours (the
    # classic's) the biased batch variance.
    assert rel(bn_param["running_mean"], t_mean.numpy()) < TORCH_TOL
    assert rel(bn_param["running_var"], 0.8 * var0 + 0.2 * x.var(axis=(0, 2, 3))) < TORCH_TOL


def test_spatial_batchnorm_test_mode_matches_torch_batch_norm():
    rng = np.random.default_rng(3)
    x, gamma, beta = (
        2.3 * rng.standard_normal((4, 3, 5, 6)) + 13,
        rng.standard_normal(3),
        rng.standard_normal(3),
    )
    mean, var = 13 + rng.standard_normal(3), 5 + rng.random(3)
    out, _ = layers.spatial_batchnorm_forward(
        x, gamma, beta, {"mode": "test", "running_mean": mean, "running_var": var}
    )
    expected = F.batch_norm(
        *(torch.tensor(a) for a in (x, mean, var, gamma, beta)), training=False, eps=1e-5
    )
    assert rel(out, expected.numpy()) < TORCH_TOL


@pytest.mark.parametrize(
    "shape,G",
    [((2, 6, 4, 5), 2), ((1, 6, 3, 5), 3), ((2, 3, 3, 4), 1), ((2, 4, 3, 2), 4), ((3, 8, 2, 3), 4)],
)
def test_spatial_groupnorm_matches_torch_group_norm(shape, G):
    """Contiguous groups as torch's group_norm takes them, 1 < G < C included."""
    rng = np.random.default_rng(4)
    C = shape[1]
    x = 3 * rng.standard_normal((1, C, 1, 1)) + (
        1 + rng.random((1, C, 1, 1))
    ) * rng.standard_normal(shape)
    gamma, beta = rng.standard_normal((1, C, 1, 1)), rng.standard_normal((1, C, 1, 1))
    out, cache = layers.spatial_groupnorm_forward(x, gamma, beta, G, {})
    dout = rng.standard_normal(shape)
    t_out, t_grads = torch_grads(
        lambda x, g, b: F.group_norm(x, G, g.reshape(C), b.reshape(C), eps=1e-5),
        [x, gamma, beta],
        dout,
    )
    assert rel(out, t_out) < TORCH_TOL
    for g, t in zip(layers.spatial_groupnorm_backward(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL


def test_spatial_groupnorm_rejects_groups_that_do_not_divide_C():
    x, gamma = np.zeros((1, 6, 2, 2)), np.ones((1, 6, 1, 1))
    with pytest.raises(ValueError, match="spatial_groupnorm_forward: C=6 .* G=4"):
        layers.spatial_groupnorm_forward(x, gamma, 0 * gamma, 4, {})


def test_conv_gradients_match_centred_differences():
    rng = np.random.default_rng(5)
    x, w, b = (
        rng.standard_normal((2, 2, 5, 4)),
        rng.standard_normal((3, 2, 3, 2)),
        rng.standard_normal(3),
    )
    conv_param = {"stride": 2, "pad": 1}
    out, cache = layers.conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.conv_backward_naive(dout, cache)
    f = layers.conv_forward_naive
    assert rel(dx, numeric_gradient(lambda v: f(v, w, b, conv_param)[0], x, dout)) < NUMERIC_TOL
    assert rel(dw, numeric_gradient(lambda v: f(x, v, b, conv_param)[0], w, dout)) < NUMERIC_TOL
    assert rel(db, numeric_gradient(lambda v: f(x, w, v, conv_param)[0], b, dout)) < NUMERIC_TOL


def test_overlapping_max_pool_gradient_matches_centred_differences():
    rng = np.random.default_rng(6)
    x = distinct_values(rng, (2, 2, 5, 6))
    pool_param = {"pool_height": 3, "pool_width": 3, "stride": 1}
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    numeric = numeric_gradient(lambda v: layers.max_pool_forward_naive(v, pool_param)[0], x, dout)
    assert rel(layers.max_pool_backward_naive(dout, cache), numeric) < NUMERIC_TOL


def test_normalization_gradients_match_centred_differences():
    rng = np.random.default_rng(7)
    x, dout = 2 * rng.standard_normal((2, 6, 3, 2)) + 1, rng.standard_normal((2, 6, 3, 2))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    bn = lambda v: layers.spatial_batchnorm_forward(v, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    _, cache = layers.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert (
        rel(layers.spatial_batchnorm_backward(dout, cache)[0], numeric_gradient(bn, x, dout))
        < NUMERIC_TOL
    )
    g4, b4 = gamma.reshape(1, 6, 1, 1), beta.reshape(1, 6, 1, 1)
    gn = lambda v: layers.spatial_groupnorm_forward(v, g4, b4, 3, {})[0]  # noqa: E731
    _, cache = layers.spatial_groupnorm_forward(x, g4, b4, 3, {})
    assert (
        rel(layers.spatial_groupnorm_backward(dout, cache)[0], numeric_gradient(gn, x, dout))
        < NUMERIC_TOL
    )


def test_float32_stays_float32():
    rng = np.random.default_rng(8)
    x, w, b = (
        rng.standard_normal(s).astype(np.float32) for s in ((2, 2, 4, 4), (3, 2, 3, 3), (3,))
    )
    out, cache = layers.conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    grads = layers.conv_backward_naive(np.ones_like(out), cache)
    pooled, pool_cache = layers.max_pool_forward_naive(
        x, {"pool_height": 2, "pool_width": 2, "stride": 2}
    )
    dx_pool = layers.max_pool_backward_naive(np.ones_like(pooled), pool_cache)
    assert {a.dtype for a in (out, *grads, pooled, dx_pool)} == {np.dtype(np.float32)}
    out64, _ = layers.conv_forward_naive(
        *(a.astype(np.float64) for a in (x, w, b)), {"stride": 1, "pad": 1}
    )
    assert rel(out, out64) < FLOAT32_TOL


def test_conv_layers_do_not_mutate_inputs():
    rng = np.random.default_rng(9)
    arrays = [
        rng.standard_normal(s)
        for s in ((2, 2, 4, 4), (2, 2, 3, 3), (2,), (2, 2, 4, 4), (1, 2, 1, 1))
    ]
    x, w, b, dout, g = arrays
    copies = [a.copy() for a in arrays]
    layers.conv_backward_naive(dout, layers.conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})[1])
    layers.max_pool_backward_naive(
        dout[:, :, :2, :2],
        layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[1],
    )
    layers.spatial_batchnorm_backward(
        dout, layers.spatial_batchnorm_forward(x, b, b, {"mode": "train"})[1]
    )
    layers.spatial_groupnorm_backward(dout, layers.spatial_groupnorm_forward(x, g, g, 2, {})[1])
    assert all(np.array_equal(a, c) for a, c in zip(arrays, copies))
