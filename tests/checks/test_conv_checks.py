"""Do the ConvolutionalNetworks checks pass the reference, fail the stub, and catch the bugs
students really make?"""

import numpy as np
import pytest

from assignment.checks import CATALOGUE, conv

from .conftest import assert_bug_caught, run_check, with_bug

pytestmark = pytest.mark.conv

NAMES = [c.name for c in conv.CHECKS]


def test_convnet_loss_is_judged_even_while_init_is_missing(
    reference_api, stub_api, public_expected
):
    """A student who wrote loss before __init__ gets loss judged, not init's error."""
    api = with_bug(
        reference_api,
        "cnn",
        ThreeLayerConvNet=type(
            "ThreeLayerConvNet",
            (reference_api.cnn.ThreeLayerConvNet,),
            {"__init__": stub_api.cnn.ThreeLayerConvNet.__init__},
        ),
    )
    result = run_check("ThreeLayerConvNet.loss", api, expected=public_expected, hidden=False)
    assert result.passed, result.message


# Each bug: (check name, module, old reference text, buggy text, words the message must contain)
GN_FORWARD_GROUPS = """    groups = x.reshape(N, G, -1)  # (N, G, C//G*H*W)
    mu = groups.mean(axis=2, keepdims=True)  # (N, G, 1)
    std = np.sqrt(groups.var(axis=2, keepdims=True) + eps)  # (N, G, 1)
    x_hat = ((groups - mu) / std).reshape(N, C, H, W)"""
GN_BACKWARD_GROUPS = """    dx_hat = (dout * gamma).reshape(N, G, -1)  # (N, G, C//G*H*W)
    x_hat = x_hat.reshape(N, G, -1)
    dx = (
        dx_hat
        - dx_hat.mean(axis=2, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=2, keepdims=True)
    ) / std
    dx = dx.reshape(N, C, H, W)"""


def _interleaved(text, n_groups="G"):
    """The group code above with channel c put in group c % G instead of c // (C // G)."""
    return text.replace(
        "reshape(N, G, -1)", f"reshape(N, C // G, {n_groups}, -1).swapaxes(1, 2).reshape(N, G, -1)"
    ).replace("reshape(N, C, H, W)", "reshape(N, G, C // G, -1).swapaxes(1, 2).reshape(N, C, H, W)")


BUGS = [
    # convolution forward
    (
        "conv_forward_naive",
        "layers",
        "    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    H_out",
        "    pad = 0\n    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    H_out",
        "out has shape",
    ),
    (
        "conv_forward_naive",
        "layers",
        "    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    H_out",
        "    stride = 1\n    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    H_out",
        "out has shape",
    ),
    (
        "conv_forward_naive",
        "layers",
        "N, C, H, W = x.shape",
        "N, C, W, H = x.shape",
        "conv_forward_naive",
    ),
    (
        "conv_forward_naive",
        "layers",
        "j * stride : j * stride + WW",
        "j * stride : j * stride + HH",
        "conv_forward_naive",
    ),
    ("conv_forward_naive", "layers", "@ w_rows.T + b", "@ w_rows.T", "out differs"),
    (
        "conv_forward_naive",
        "layers",
        "w_rows = w.reshape(F, -1)",
        "w_rows = w[:, :, ::-1, ::-1].reshape(F, -1)",
        "out differs",
    ),
    # convolution backward
    (
        "conv_backward_naive",
        "layers",
        "dx = dxp[:, :, pad : pad + H, pad : pad + W]",
        "dx = dxp[:, :, pad:-pad, pad:-pad]",
        "a [pad:-pad] crop is empty when pad is 0",
    ),
    (
        "conv_backward_naive",
        "layers",
        "    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    _, _, H_out",
        "    stride = 1\n    N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    _, _, H_out",
        "dx differs",
    ),
    (
        "conv_backward_naive",
        "layers",
        "cols = slice(j * stride, j * stride + WW)",
        "cols = slice(j * stride, j * stride + HH)",
        "conv_backward_naive",
    ),
    (
        "conv_backward_naive",
        "layers",
        "db = dout.sum(axis=(0, 2, 3))",
        "db = dout.sum(axis=(2, 3))",
        "db has shape",
    ),
    ("conv_backward_naive", "layers", "dw += np.tensordot", "dw = np.tensordot", "dw differs"),
    # max pooling forward
    (
        "max_pool_forward_naive",
        "layers",
        "window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]",
        "window = x[:, :, i * ph : i * ph + ph, j * pw : j * pw + pw]",
        "max_pool_forward_naive",
    ),
    (
        "max_pool_forward_naive",
        "layers",
        "window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]",
        "window = x[:, :, i * stride : i * stride + pw, j * stride : j * stride + ph]",
        "out differs",
    ),
    (
        "max_pool_forward_naive",
        "layers",
        "window.max(axis=(2, 3))",
        "window.mean(axis=(2, 3))",
        "out differs",
    ),
    (
        "max_pool_forward_naive",
        "layers",
        "H_out = 1 + (H - ph) // stride",
        "H_out = (H - ph) // stride",
        "out has shape",
    ),
    # max pooling backward
    (
        "max_pool_backward_naive",
        "layers",
        "k % pw] += dout[:, :, i, j]",
        "k % pw] = dout[:, :, i, j]",
        "add the gradients (+=)",
    ),
    (
        "max_pool_backward_naive",
        "layers",
        "            k = window.reshape(N, C, -1).argmax(axis=2)  # (N, C) flat index in the "
        "window\n"
        "            dx[n, c, i * stride + k // pw, j * stride + k % pw] += dout[:, :, i, j]",
        "            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[:, "
        ":, i, j, None, None]",
        "only to the position of its maximum",
    ),
    (
        "max_pool_backward_naive",
        "layers",
        "i * stride + k // pw, j * stride + k % pw",
        "i * stride + k // ph, j * stride + k % ph",
        "max_pool_backward_naive",
    ),
    (
        "max_pool_backward_naive",
        "layers",
        'pool_param["pool_width"], pool_param["stride"]\n    dx = None\n'
        "    ### BEGIN SOLUTION\n    N, C, _, _",
        'pool_param["pool_width"], pool_param["pool_height"]\n    dx = None\n'
        "    ### BEGIN SOLUTION\n    N, C, _, _",
        "max_pool_backward_naive",
    ),
    # spatial batchnorm
    (
        "spatial_batchnorm_forward",
        "layers",
        "rows = x.transpose(0, 2, 3, 1).reshape(-1, C)",
        "rows = x.reshape(-1, C)",
        "out differs",
    ),
    (
        "spatial_batchnorm_forward",
        "layers",
        "out = out.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        "out = out.reshape(N, C, H, W)",
        "out differs",
    ),
    (
        "spatial_batchnorm_forward",
        "layers",
        "batchnorm_forward(rows, gamma, beta, bn_param)",
        "batchnorm_forward(rows, gamma, beta, dict(bn_param))",
        "running_mean differs",
    ),
    (
        "spatial_batchnorm_forward",
        "layers",
        "batchnorm_forward(rows, gamma, beta, bn_param)",
        'batchnorm_forward(rows, gamma, beta, {**bn_param, "mode": "train"})',
        "out differs",
    ),
    (
        "spatial_batchnorm_backward",
        "layers",
        "rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)",
        "rows = dout.reshape(-1, C)",
        "dx differs",
    ),
    (
        "spatial_batchnorm_backward",
        "layers",
        "dx = dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        "dx = dx.reshape(N, C, H, W)",
        "dx differs",
    ),
    (
        "spatial_batchnorm_backward",
        "layers",
        "dx = dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        "dx = dx.reshape(N, H, W, C).transpose(0, 3, 2, 1)",
        "dx has shape",
    ),
    # spatial groupnorm
    (
        "spatial_groupnorm_forward",
        "layers",
        GN_FORWARD_GROUPS,
        _interleaved(GN_FORWARD_GROUPS),
        "out differs",
    ),
    (
        "spatial_groupnorm_forward",
        "layers",
        "groups = x.reshape(N, G, -1)",
        "groups = x.reshape(N, C, -1)",
        "out differs",
    ),
    (
        "spatial_groupnorm_forward",
        "layers",
        "groups.var(axis=2, keepdims=True)",
        "groups.var(axis=2, keepdims=True, ddof=1)",
        "out differs",
    ),
    (
        "spatial_groupnorm_forward",
        "layers",
        "out = gamma * x_hat + beta",
        "out = x_hat + beta",
        "out differs",
    ),
    (
        "spatial_groupnorm_backward",
        "layers",
        GN_BACKWARD_GROUPS,
        _interleaved(GN_BACKWARD_GROUPS),
        "dx differs",
    ),
    (
        "spatial_groupnorm_backward",
        "layers",
        "dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)",
        "dgamma = (dout * x_hat).sum(axis=(0, 2, 3))",
        "dgamma has shape",
    ),
    (
        "spatial_groupnorm_backward",
        "layers",
        "        - x_hat * (dx_hat * x_hat).mean(axis=2, keepdims=True)\n    ) / std",
        "    ) / std",
        "dx differs",
    ),
    (
        "spatial_groupnorm_backward",
        "layers",
        "dx_hat = (dout * gamma).reshape(N, G, -1)",
        "dx_hat = dout.reshape(N, G, -1)",
        "dx differs",
    ),
    # the network
    (
        "ThreeLayerConvNet.__init__",
        "cnn",
        "num_filters * (H // 2) * (W // 2)",
        "num_filters * H * W",
        "params.W2 has shape",
    ),
    (
        "ThreeLayerConvNet.__init__",
        "cnn",
        'self.params["b1"] = np.zeros(num_filters)',
        'self.params["b1"] = weight_scale * np.random.randn(num_filters)',
        "differs",
    ),
    (
        "ThreeLayerConvNet.__init__",
        "cnn",
        'self.params["W1"] = weight_scale * np.random.randn(',
        'self.params["W1"] = np.random.randn(',
        "params.W1 differs",
    ),
    (
        "ThreeLayerConvNet.__init__",
        "cnn",
        "C, H, W = input_dim",
        "C, H, W = 3, 32, 32",
        "has shape",
    ),
    (
        "ThreeLayerConvNet.__init__",
        "cnn",
        "np.random.randn(num_filters, C, filter_size, filter_size)",
        "np.random.randn(C, num_filters, filter_size, filter_size)",
        "params.W1 has shape",
    ),
    (
        "ThreeLayerConvNet.loss",
        "cnn",
        "(np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3))",
        "(np.sum(W2 * W2) + np.sum(W3 * W3))",
        "loss differs",
    ),
    (
        "ThreeLayerConvNet.loss",
        "cnn",
        'for k in ("W1", "W2", "W3"):',
        'for k in ("W2", "W3"):',
        "grads.W1 differs",
    ),
    (
        "ThreeLayerConvNet.loss",
        "cnn",
        "loss += 0.5 * self.reg *",
        "loss += self.reg *",
        "loss differs",
    ),
    (
        "ThreeLayerConvNet.loss",
        "cnn",
        "grads[k] += self.reg * self.params[k]",
        "grads[k] += 2 * self.reg * self.params[k]",
        "differs",
    ),
    (
        "ThreeLayerConvNet.loss",
        "cnn",
        "np.sum(W3 * W3))",
        "np.sum(W3 * W3) + np.sum(b1 * b1))",
        "loss differs",
    ),
]


@pytest.mark.parametrize(
    "name,module,old,new,words", BUGS, ids=[f"{b[0]}:{b[3].strip()[:40]}" for b in BUGS]
)
def test_realistic_bug_is_caught(name, module, old, new, words, reference_api, public_expected):
    assert_bug_caught(name, module, old, new, words, reference_api, public_expected)


def _public_kwargs(name):
    return [case.kwargs for case in CATALOGUE[name].cases]


def test_public_conv_cases_cover_pad_0_stride_2_non_square_and_batch_of_1():
    """Each of these shapes is what one classic bug needs to show itself."""
    cases = [
        {"x_shape": (2, 3, 4, 4), "w_shape": (2, 3, 3, 3), "stride": 1, "pad": 1, **kw}
        for kw in _public_kwargs("conv_forward_naive")
    ]
    assert any(c["pad"] == 0 for c in cases) and any(c["stride"] == 2 for c in cases)
    assert any(
        c["x_shape"][2] != c["x_shape"][3] and c["w_shape"][2] != c["w_shape"][3] for c in cases
    )
    assert any(c["x_shape"][0] == 1 for c in cases)


def test_public_pool_cases_cover_overlapping_windows():
    cases = [
        {"ph": 2, "pw": 2, "stride": 2, **kw} for kw in _public_kwargs("max_pool_backward_naive")
    ]
    assert {(3, 3, 1), (3, 3, 2)} <= {(c["ph"], c["pw"], c["stride"]) for c in cases}


def test_public_groupnorm_cases_have_between_one_and_C_groups():
    for name in ("spatial_groupnorm_forward", "spatial_groupnorm_backward"):
        cases = [{"shape": (2, 6, 4, 5), "G": 2, **kw} for kw in _public_kwargs(name)]
        assert all(1 < c["G"] < c["shape"][1] for c in cases)


def test_pool_inputs_have_one_clear_maximum_per_window():
    """Ties would make the routed gradient ambiguous; values are kept well apart."""
    for case in CATALOGUE["max_pool_backward_naive"].all_cases(hidden=True):
        x = CATALOGUE["max_pool_backward_naive"].inputs_for(case)["x"]
        gaps = np.diff(np.sort(x.ravel().astype(np.float64)))
        assert gaps.min() > 1e-3, case.key
