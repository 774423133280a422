"""Are the reference batch and layer normalization layers right, judged by an independent
oracle (PyTorch's functional layers and autograd, float64 centred differences), and does the
FC net with normalization reproduce the classic notebook's numbers?"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from assignment import layers
from assignment.checks.numeric import numeric_gradient
from assignment.classifiers.fc_net import FullyConnectedNet

from .oracle import rel, torch_grads

pytestmark = pytest.mark.bn
TORCH_TOL = 1e-10  # float64 against float64: only the order of the sums differs
NUMERIC_TOL = 1e-7  # centred differences, h=1e-5, on inputs of spread ~1 to 5
FLOAT32_TOL = 1e-5

torch.set_num_threads(1)


def inputs(N=6, D=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = (rng.uniform(-5, 5, D) + rng.uniform(1, 4, D) * rng.standard_normal((N, D))).astype(dtype)
    gamma = rng.uniform(0.5, 2, D).astype(dtype)
    beta = rng.standard_normal(D).astype(dtype)
    dout = rng.standard_normal((N, D)).astype(dtype)
    return x, gamma, beta, dout


# ---------------------------------------------------------------- batchnorm


@pytest.mark.parametrize("N,D", [(4, 5), (7, 3), (2, 6)])
def test_batchnorm_train_forward_and_both_backwards_match_torch(N, D):
    x, gamma, beta, dout = inputs(N, D)
    out, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 1e-5})
    t_out, t_grads = torch_grads(
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5),
        [x, gamma, beta],
        dout,
    )
    assert rel(out, t_out) < TORCH_TOL
    for backward in (layers.batchnorm_backward, layers.batchnorm_backward_alt):
        for g, t in zip(backward(dout, cache), t_grads):
            assert g.shape == t.shape and rel(g, t) < TORCH_TOL


def test_batchnorm_backward_matches_centred_differences():
    x, gamma, beta, dout = inputs(5, 3, seed=1)

    def f(x, gamma, beta):
        return layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    dx, dgamma, dbeta = layers.batchnorm_backward(
        dout, layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[1]
    )
    assert rel(dx, numeric_gradient(lambda v: f(v, gamma, beta), x.copy(), dout)) < NUMERIC_TOL
    assert rel(dgamma, numeric_gradient(lambda v: f(x, v, beta), gamma.copy(), dout)) < NUMERIC_TOL
    assert rel(dbeta, numeric_gradient(lambda v: f(x, gamma, v), beta.copy(), dout)) < NUMERIC_TOL


def test_running_averages_follow_the_classic_momentum_convention():
    """running = momentum * running + (1 - momentum) * batch, with the biased variance; torch
    calls 1 - momentum its momentum and keeps the unbiased variance, so the variance is
    checked against the formula itself."""
    rng = np.random.default_rng(2)
    x1, x2 = 3 + 2 * rng.standard_normal((8, 5)), -1 + rng.standard_normal((8, 5))
    gamma, beta = np.ones(5), np.zeros(5)
    bn_param = {"mode": "train", "momentum": 0.8}
    t_mean = torch.zeros(5, dtype=torch.float64)
    t_var = torch.ones(5, dtype=torch.float64)
    for x in (x1, x2):
        layers.batchnorm_forward(x, gamma, beta, bn_param)
        F.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.2)
    assert rel(bn_param["running_mean"], t_mean.numpy()) < TORCH_TOL
    want_var = 0.8 * (0.2 * x1.var(axis=0)) + 0.2 * x2.var(axis=0)
    assert rel(bn_param["running_var"], want_var) < TORCH_TOL


def test_test_mode_uses_the_running_statistics_like_torch_eval():
    x, gamma, beta, _ = inputs(9, 4, seed=3)
    rm, rv = np.array([1.0, -2.0, 0.5, 3.0]), np.array([2.0, 0.5, 1.5, 4.0])
    bn_param = {"mode": "test", "running_mean": rm, "running_var": rv}
    out, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    t_out = F.batch_norm(
        torch.tensor(x),
        torch.tensor(rm),
        torch.tensor(rv),
        torch.tensor(gamma),
        torch.tensor(beta),
        training=False,
        eps=1e-5,
    )
    assert rel(out, t_out.numpy()) < TORCH_TOL
    assert bn_param["running_mean"] is rm or np.array_equal(bn_param["running_mean"], rm)


def test_test_mode_after_warm_up_gives_roughly_normalised_features():
    """The notebook's warm-up: 50 training passes, then a test pass has means near beta = 0
    and stds near gamma = 1, noisier than in training."""
    rng = np.random.default_rng(231)
    W1, W2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    bn_param = {"mode": "train"}
    for _ in range(50):
        a = np.maximum(0, rng.standard_normal((200, 50)) @ W1) @ W2
        layers.batchnorm_forward(a, np.ones(3), np.zeros(3), bn_param)
    bn_param["mode"] = "test"
    a = np.maximum(0, rng.standard_normal((200, 50)) @ W1) @ W2
    out, _ = layers.batchnorm_forward(a, np.ones(3), np.zeros(3), bn_param)
    assert np.all(np.abs(out.mean(axis=0)) < 0.3) and np.all(np.abs(out.std(axis=0) - 1) < 0.3)


@pytest.mark.parametrize("mode", ["eval", None, "Train"])
def test_unknown_mode_is_a_value_error_naming_the_function(mode):
    x, gamma, beta, _ = inputs()
    with pytest.raises(ValueError, match=r"batchnorm_forward: .*'train' or 'test'"):
        layers.batchnorm_forward(x, gamma, beta, {"mode": mode})


def test_default_running_statistics_have_the_dtype_of_x():
    x, gamma, beta, _ = inputs(dtype=np.float32)
    bn_param = {"mode": "train"}
    out, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    assert (
        out.dtype == bn_param["running_mean"].dtype == bn_param["running_var"].dtype == np.float32
    )


def test_float32_stays_float32_through_forward_and_backward():
    x, gamma, beta, dout = inputs(dtype=np.float32)
    x64 = [a.astype(np.float64) for a in (x, gamma, beta, dout)]
    for forward, backwards, param in (
        (
            layers.batchnorm_forward,
            (layers.batchnorm_backward, layers.batchnorm_backward_alt),
            {"mode": "train"},
        ),
        (layers.layernorm_forward, (layers.layernorm_backward,), {}),
    ):
        out, cache = forward(x, gamma, beta, dict(param))
        out64, cache64 = forward(*x64[:3], dict(param))
        assert out.dtype == np.float32 and rel(out, out64) < FLOAT32_TOL
        for backward in backwards:
            for g, g64 in zip(backward(dout, cache), backward(x64[3], cache64)):
                assert g.dtype == np.float32 and rel(g, g64) < FLOAT32_TOL


def test_inputs_are_not_changed_in_place():
    x, gamma, beta, dout = inputs()
    copies = [a.copy() for a in (x, gamma, beta, dout)]
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    layers.batchnorm_backward(dout, cache)
    layers.batchnorm_backward_alt(dout, cache)
    _, cache = layers.layernorm_forward(x, gamma, beta, {})
    layers.layernorm_backward(dout, cache)
    assert all(np.array_equal(a, b) for a, b in zip((x, gamma, beta, dout), copies))


def test_alt_backward_agrees_with_the_staged_one_on_a_large_batch():
    """The notebook's comparison (N=100, D=500): nearly identical results."""
    x, gamma, beta, dout = inputs(100, 500, seed=4)
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    for a, b in zip(
        layers.batchnorm_backward(dout, cache), layers.batchnorm_backward_alt(dout, cache)
    ):
        assert rel(a, b) < 1e-12


# ---------------------------------------------------------------- layernorm


@pytest.mark.parametrize("N,D", [(4, 5), (7, 3), (1, 6)])
def test_layernorm_forward_and_backward_match_torch(N, D):
    x, gamma, beta, dout = inputs(N, D, seed=5)
    out, cache = layers.layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    t_out, t_grads = torch_grads(
        lambda x, g, b: F.layer_norm(x, (D,), g, b, eps=1e-5), [x, gamma, beta], dout
    )
    assert rel(out, t_out) < TORCH_TOL
    for g, t in zip(layers.layernorm_backward(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL


def test_layernorm_backward_matches_centred_differences():
    x, gamma, beta, dout = inputs(4, 5, seed=6)

    def f(x, gamma, beta):
        return layers.layernorm_forward(x, gamma, beta, {})[0]

    dx, dgamma, dbeta = layers.layernorm_backward(
        dout, layers.layernorm_forward(x, gamma, beta, {})[1]
    )
    assert rel(dx, numeric_gradient(lambda v: f(v, gamma, beta), x.copy(), dout)) < NUMERIC_TOL
    assert rel(dgamma, numeric_gradient(lambda v: f(x, v, beta), gamma.copy(), dout)) < NUMERIC_TOL
    assert rel(dbeta, numeric_gradient(lambda v: f(x, gamma, v), beta.copy(), dout)) < NUMERIC_TOL


def test_layernorm_is_the_same_in_train_and_test_and_keeps_no_state():
    x, gamma, beta, _ = inputs(3, 5, seed=7)
    param = {"mode": "train"}
    train, _ = layers.layernorm_forward(x, gamma, beta, param)
    test, _ = layers.layernorm_forward(x, gamma, beta, {"mode": "test"})
    assert np.array_equal(train, test) and param == {"mode": "train"}


# ---------------------------------------------------------------- the network


def classic_net_inputs():
    np.random.seed(231)
    N, D, C = 2, 15, 10
    return np.random.randn(N, D), np.random.randint(C, size=(N,))


def test_batchnorm_net_reproduces_the_classic_initial_losses():
    X, y = classic_net_inputs()
    losses = []
    for reg in (0, 3.14):
        net = FullyConnectedNet(
            [20, 30],
            input_dim=15,
            num_classes=10,
            reg=reg,
            weight_scale=5e-2,
            dtype=np.float64,
            normalization="batchnorm",
        )
        losses.append(net.loss(X, y)[0])
    assert losses == pytest.approx([2.2611955101340957, 6.996533220108303], rel=1e-12)


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_normalised_net_gradients_match_centred_differences(normalization):
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((4, 6)), rng.integers(5, size=4)
    net = FullyConnectedNet(
        [7, 8],
        input_dim=6,
        num_classes=5,
        reg=0.3,
        weight_scale=0.3,
        dtype=np.float64,
        normalization=normalization,
    )
    for k in net.params:  # move gamma and beta off 1 and 0 so that their gradients matter
        net.params[k] = net.params[k] + 0.1 * rng.standard_normal(net.params[k].shape)
    _, grads = net.loss(X, y)
    for k, p in net.params.items():
        num = numeric_gradient(lambda v: net.loss(X, y)[0], p)
        if normalization == "batchnorm" and k in (
            "b1",
            "b2",
        ):  # the batch mean removes these biases
            assert np.abs(grads[k]).max() < 1e-12 and np.abs(num).max() < 1e-8
        else:
            assert rel(grads[k], num) < NUMERIC_TOL, k


def test_gamma_and_beta_are_not_regularised():
    X, y = classic_net_inputs()
    nets = {}
    for reg in (0.0, 2.0):
        np.random.seed(0)
        nets[reg] = FullyConnectedNet(
            [20, 30],
            input_dim=15,
            num_classes=10,
            reg=reg,
            weight_scale=5e-2,
            dtype=np.float64,
            normalization="layernorm",
        )
        nets[reg].params["gamma1"] = nets[reg].params["gamma1"] * 3
    (l0, g0), (l2, g2) = nets[0.0].loss(X, y), nets[2.0].loss(X, y)
    weights = sum(np.sum(nets[2.0].params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert l2 - l0 == pytest.approx(0.5 * 2.0 * weights, rel=1e-12)
    for k in ("gamma1", "beta1", "gamma2", "beta2"):
        assert np.array_equal(g0[k], g2[k])


def test_running_statistics_of_the_net_persist_between_calls():
    X, y = classic_net_inputs()
    net = FullyConnectedNet(
        [20, 30],
        input_dim=15,
        num_classes=10,
        weight_scale=5e-2,
        dtype=np.float64,
        normalization="batchnorm",
    )
    net.loss(X, y)
    first = net.bn_params[0]["running_mean"].copy()
    net.loss(X, y)
    assert not np.array_equal(first, net.bn_params[0]["running_mean"])
    assert net.bn_params[0]["mode"] == "train" and net.loss(X).shape == (2, 10)
    assert net.bn_params[0]["mode"] == "test"
