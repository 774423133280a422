"""Do the BatchNormalization checks pass the reference, fail the stub, and catch the bugs
students really make?"""

import pytest

from assignment.checks import norm

from .conftest import assert_bug_caught, run_check, source_bug

pytestmark = pytest.mark.bn

NAMES = [c.name for c in norm.CHECKS]


def test_every_case_has_n_different_from_d():
    """A statistic over the wrong axis, or a mean without keepdims, only shows when N != D."""
    for check in norm.CHECKS:
        for case in check.all_cases(hidden=True):
            x = check.inputs_for(case).get("x")
            if x is not None:
                assert x.shape[-2] != x.shape[-1], (check.name, case.key)


def test_every_backward_check_uses_a_random_upstream_gradient():
    for check in (norm.batchnorm_backward, norm.batchnorm_backward_alt, norm.layernorm_backward):
        for case in check.all_cases(hidden=True):
            dout = check.inputs_for(case)["dout"]
            assert len(set(dout.ravel().tolist())) == dout.size, (check.name, case.key)


# Each bug: (check name, module, old reference text, buggy text, words the message must contain)
RUNNING_MEAN = "running_mean = momentum * running_mean + (1 - momentum) * mu"
RUNNING_VAR = "running_var = momentum * running_var + (1 - momentum) * var"
LN_STATS = (
    "mu = x.mean(axis=1, keepdims=True)  # (N, 1)\n"
    "    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)  # (N, 1)"
)
LN_DX = (
    "dx = (\n"
    "        dx_hat\n"
    "        - dx_hat.mean(axis=1, keepdims=True)\n"
    "        - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True)\n"
    "    ) / std"
)
NET_BACKWARD = '(dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"])'
NET_WEIGHTS = 'weights = [self.params[f"W{i}"] for i in range(1, L + 1)]'
NET_GAMMA_REG = (
    'weights = [v for k, v in self.params.items() if k[0] == "W" or k.startswith("gamma")]'
)
BUGS = [
    # batchnorm_forward
    (
        "batchnorm_forward",
        "layers",
        "out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta",
        "out = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta",
        "out_test differs",
    ),
    (
        "batchnorm_forward",
        "layers",
        RUNNING_MEAN,
        "running_mean = (1 - momentum) * running_mean + momentum * mu",
        "running_mean differs",
    ),
    (
        "batchnorm_forward",
        "layers",
        RUNNING_VAR,
        "running_var = (1 - momentum) * running_var + momentum * var",
        "running_var differs",
    ),
    (
        "batchnorm_forward",
        "layers",
        "var = x.var(axis=0)  # (D,)",
        "var = x.var(axis=0, ddof=1)  # (D,)",
        "out0 differs",
    ),
    (
        "batchnorm_forward",
        "layers",
        "std = np.sqrt(var + eps)",
        "std = np.sqrt(var) + eps",
        "out0 differs",
    ),
    ("batchnorm_forward", "layers", RUNNING_VAR, "pass", "running_var differs"),
    (
        "batchnorm_forward",
        "layers",
        'if mode not in ("train", "test"):',
        "if mode is None:",
        "raise ValueError",
    ),
    # batchnorm_backward
    (
        "batchnorm_backward",
        "layers",
        "dx_hat = dout * gamma  # (N, D)",
        "dx_hat = dout  # (N, D)",
        "dx differs",
    ),
    (
        "batchnorm_backward",
        "layers",
        "dgamma = (dout * x_hat).sum(axis=0)",
        "dgamma = (dout * x_hat).sum(axis=0, keepdims=True)",
        "dgamma has shape (1,",
    ),
    (
        "batchnorm_backward",
        "layers",
        "dbeta = dout.sum(axis=0)",
        "dbeta = dout.sum(axis=0, keepdims=True)",
        "dbeta has shape (1,",
    ),
    ("batchnorm_backward", "layers", "dx = dxc - dxc.mean(axis=0)", "dx = dxc", "dx differs"),
    ("batchnorm_backward", "layers", "2 * xc * dvar / N", "2 * xc * dvar / (N - 1)", "dx differs"),
    # batchnorm_backward_alt
    (
        "batchnorm_backward_alt",
        "layers",
        "dx = gamma / (N * std)",
        "dx = 1 / (N * std)",
        "dx differs",
    ),
    (
        "batchnorm_backward_alt",
        "layers",
        "dgamma = (dout * x_hat).sum(axis=0)",
        "dgamma = (dout * x_hat).sum(axis=0, keepdims=True)",
        "dgamma has shape (1,",
    ),
    (
        "batchnorm_backward_alt",
        "layers",
        "dbeta = dout.sum(axis=0)",
        "dbeta = dout.sum(axis=0, keepdims=True)",
        "dbeta has shape (1,",
    ),
    ("batchnorm_backward_alt", "layers", " - x_hat * dgamma)", ")", "dx differs"),
    (
        "batchnorm_backward_alt",
        "layers",
        "(N * dout - dbeta",
        "((N - 1) * dout - dbeta",
        "dx differs",
    ),
    # layernorm_forward
    ("layernorm_forward", "layers", LN_STATS, LN_STATS.replace("axis=1", "axis=0"), "out differs"),
    ("layernorm_forward", "layers", LN_STATS, LN_STATS.replace(", keepdims=True", ""), "raised"),
    (
        "layernorm_forward",
        "layers",
        "np.sqrt(x.var(axis=1, keepdims=True) + eps)",
        "np.sqrt(x.var(axis=1, keepdims=True)) + eps",
        "out differs",
    ),
    (
        "layernorm_forward",
        "layers",
        "x.var(axis=1, keepdims=True)",
        "x.var(axis=1, keepdims=True, ddof=1)",
        "out differs",
    ),
    # layernorm_backward
    ("layernorm_backward", "layers", LN_DX, LN_DX.replace("axis=1", "axis=0"), "dx differs"),
    ("layernorm_backward", "layers", LN_DX, LN_DX.replace(", keepdims=True", ""), "raised"),
    (
        "layernorm_backward",
        "layers",
        "dx_hat = dout * gamma  # (N, D)",
        "dx_hat = dout  # (N, D)",
        "dx differs",
    ),
    (
        "layernorm_backward",
        "layers",
        "dgamma = (dout * x_hat).sum(axis=0)",
        "dgamma = (dout * x_hat).sum(axis=1)",
        "dgamma has shape",
    ),
    (
        "layernorm_backward",
        "layers",
        "dbeta = dout.sum(axis=0)",
        "dbeta = dout.sum(axis=0, keepdims=True)",
        "dbeta has shape (1,",
    ),
    # the network
    ("FullyConnectedNet.loss_batchnorm", "fc_net", NET_WEIGHTS, NET_GAMMA_REG, "loss differs"),
    (
        "FullyConnectedNet.loss_batchnorm",
        "fc_net",
        "self.bn_params[i - 1],",
        '{"mode": mode},',
        "scores differs",
    ),
    (
        "FullyConnectedNet.loss_batchnorm",
        "fc_net",
        NET_BACKWARD,
        NET_BACKWARD.replace("gamma{i}", "tmp")
        .replace("beta{i}", "gamma{i}")
        .replace("tmp", "beta{i}"),
        "grads.gamma1 differs",
    ),
    (
        "FullyConnectedNet.loss_batchnorm",
        "fc_net",
        "if self.normalization is None:\n                h, cache",
        "if True:\n                h, cache",
        "raised",
    ),
    ("FullyConnectedNet.loss_layernorm", "fc_net", NET_WEIGHTS, NET_GAMMA_REG, "loss differs"),
    (
        "FullyConnectedNet.loss_layernorm",
        "fc_net",
        NET_BACKWARD,
        NET_BACKWARD.replace("gamma{i}", "tmp")
        .replace("beta{i}", "gamma{i}")
        .replace("tmp", "beta{i}"),
        "grads.gamma1 differs",
    ),
    (
        "FullyConnectedNet.loss_layernorm",
        "fc_net",
        "                    self.normalization,\n                )",
        '                    "batchnorm",\n                )',
        "raised ValueError",
    ),
]


@pytest.mark.parametrize(
    "name,module,old,new,words", BUGS, ids=[f"{b[0]}:{b[3][:40]}" for b in BUGS]
)
def test_realistic_bug_is_caught(name, module, old, new, words, reference_api, public_expected):
    assert_bug_caught(name, module, old, new, words, reference_api, public_expected)


def test_forward_bug_in_backward_check_is_blamed_on_the_forward_pass(
    reference_api, public_expected
):
    """With the unbiased variance in the forward pass, dgamma (x_hat summed) still matches
    the student's own forward pass: the message must point there, not at the backward pass."""
    buggy = source_bug(
        reference_api,
        "layers",
        "var = x.var(axis=0)  # (D,)",
        "var = x.var(axis=0, ddof=1)  # (D,)",
        within="batchnorm_forward",
    )
    result = run_check("batchnorm_backward", buggy, expected=public_expected, hidden=False)
    assert not result.passed
    assert (
        "dgamma does match the numeric gradient of your own forward pass, so look for the bug "
        "in the forward pass" in result.message
    )


def test_unbiased_variance_is_caught_in_a_students_kernel_without_reference(reference_api):
    """Hidden cases in the notebook have no reference values; the output statistics still
    give ddof=1 away."""
    buggy = source_bug(
        reference_api,
        "layers",
        "var = x.var(axis=0)  # (D,)",
        "var = x.var(axis=0, ddof=1)  # (D,)",
        within="batchnorm_forward",
    )
    result = run_check("batchnorm_forward", buggy)
    assert not result.passed and "biased variance" in result.message


def test_zero_bias_gradient_before_batchnorm_is_judged_by_size_not_by_rounding_noise(reference_api):
    """The hidden biases' gradients are rounding noise around 0; a correct net whose noise
    differs from the reference's must pass, a net that leaks gradient into them must not."""
    import numpy as np

    class Noisy(reference_api.fc_net.FullyConnectedNet):
        def loss(self, X, y=None):
            result = super().loss(X, y)
            if y is None:
                return result
            loss, grads = result
            grads["b1"] = grads["b1"] + 1e-15 * np.arange(len(grads["b1"]))
            return loss, grads

    from .conftest import with_bug

    result = run_check(
        "FullyConnectedNet.loss_batchnorm",
        with_bug(reference_api, "fc_net", FullyConnectedNet=Noisy),
        reference=reference_api,
    )
    assert result.passed, result.message
    msgs = norm._bias_before_batchnorm_is_inert(
        {"hidden_dims": np.array([3]), "b1": np.zeros(3)}, {"grads.b1": np.array([0.0, 1e-3, 0.0])}
    )
    assert msgs and "should be 0 up to rounding" in msgs[0]
