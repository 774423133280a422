"""Is the reference inverted dropout right (statistics, scaling, seeding, dtype, gradients
against centred differences), and does the FC net with dropout reproduce the classic
notebook's numbers?"""

import numpy as np
import pytest

from assignment import layers
from assignment.checks.numeric import numeric_gradient
from assignment.classifiers.fc_net import FullyConnectedNet

pytestmark = pytest.mark.dropout
NUMERIC_TOL = 1e-9  # dropout is linear in x: centred differences are exact up to rounding
SIGMAS = 5


def test_classic_forward_statistics_are_reproduced():
    """The notebook prints the fraction zeroed at p = 0.25, 0.4, 0.7 after seed 231."""
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    zeroed = []
    for p in (0.25, 0.4, 0.7):
        out, _ = layers.dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = layers.dropout_forward(x, {"mode": "test", "p": p})
        zeroed.append(round(float((out == 0).mean()), 4))
        assert np.array_equal(out_test, x)
        assert abs(out.mean() - x.mean()) < SIGMAS * np.sqrt(np.mean(x**2) * (1 - p) / p / x.size)
    assert zeroed == [0.7498, 0.6008, 0.3007]


@pytest.mark.parametrize("p", [0.1, 0.3, 0.75, 0.95])
def test_kept_units_are_a_fraction_p_scaled_by_one_over_p(p):
    x = 1 + np.random.default_rng(0).random((300, 400))
    out, (_, mask) = layers.dropout_forward(x, {"mode": "train", "p": p, "seed": 1})
    kept = out != 0
    assert abs(kept.mean() - p) < SIGMAS * np.sqrt(p * (1 - p) / x.size)
    assert np.allclose(out[kept], x[kept] / p, rtol=1e-14, atol=0)
    assert np.array_equal(kept, mask != 0)


def test_p_is_the_keep_probability_and_one_keeps_everything():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    out, _ = layers.dropout_forward(x, {"mode": "train", "p": 1})
    assert np.array_equal(out, x)


def test_same_seed_same_mask_other_seed_other_mask():
    x = np.ones((20, 30))
    a = layers.dropout_forward(x, {"mode": "train", "p": 0.6, "seed": 4})[0]
    b = layers.dropout_forward(x, {"mode": "train", "p": 0.6, "seed": 4})[0]
    c = layers.dropout_forward(x, {"mode": "train", "p": 0.6, "seed": 5})[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_forward_and_backward(dtype):
    x = (np.random.default_rng(1).standard_normal((6, 7)) + 5).astype(dtype)
    dout = np.ones_like(x)
    for mode in ("train", "test"):
        out, cache = layers.dropout_forward(x, {"mode": mode, "p": 0.3, "seed": 0})
        assert out.dtype == dtype and layers.dropout_backward(dout, cache).dtype == dtype


def test_backward_reuses_the_forward_mask_and_matches_centred_differences():
    """The classic check: x (10, 10), p = 0.2, seed 123; error around 1e-10 or less."""
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = layers.dropout_forward(x, param)
    dx = layers.dropout_backward(dout, cache)
    assert np.allclose(dx, dout * out / x, rtol=1e-14, atol=0)
    num = numeric_gradient(lambda v: layers.dropout_forward(v, param)[0], x.copy(), dout)
    assert np.max(np.abs(dx - num)) / np.max(np.abs(num)) < NUMERIC_TOL


def test_test_mode_backward_is_the_identity():
    x, dout = np.ones((3, 4)), np.arange(12.0).reshape(3, 4)
    _, cache = layers.dropout_forward(x, {"mode": "test", "p": 0.3})
    assert np.array_equal(layers.dropout_backward(dout, cache), dout)


def test_input_is_not_changed_in_place():
    x = np.random.default_rng(2).standard_normal((5, 5))
    copy = x.copy()
    layers.dropout_forward(x, {"mode": "train", "p": 0.4, "seed": 3})
    assert np.array_equal(x, copy)


@pytest.mark.parametrize(
    "param,words",
    [
        ({"mode": "train", "p": 0}, "keep probability"),
        ({"mode": "train", "p": 1.5}, "keep probability"),
        ({"mode": "eval", "p": 0.5}, "'train' or 'test'"),
    ],
)
def test_bad_parameters_are_value_errors_naming_the_function(param, words):
    with pytest.raises(ValueError, match=f"dropout_forward: .*{words}"):
        layers.dropout_forward(np.ones((2, 2)), param)


def classic_net_inputs():
    np.random.seed(231)
    N, D, C = 2, 15, 10
    return np.random.randn(N, D), np.random.randint(C, size=(N,))


def test_dropout_net_reproduces_the_classic_initial_losses():
    X, y = classic_net_inputs()
    losses = []
    for keep in (1, 0.75, 0.5):
        net = FullyConnectedNet(
            [20, 30],
            input_dim=15,
            num_classes=10,
            weight_scale=5e-2,
            dtype=np.float64,
            dropout_keep_ratio=keep,
            seed=123,
        )
        losses.append(net.loss(X, y)[0])
    assert losses == pytest.approx(
        [2.3004790897684924, 2.302371489704412, 2.3042759220785896], rel=1e-12
    )


def test_dropout_net_gradients_match_centred_differences_and_test_mode_is_deterministic():
    X, y = classic_net_inputs()
    net = FullyConnectedNet(
        [20, 30],
        input_dim=15,
        num_classes=10,
        weight_scale=5e-2,
        dtype=np.float64,
        dropout_keep_ratio=0.6,
        seed=123,
        reg=0.5,
    )
    _, grads = net.loss(X, y)
    for k, p in net.params.items():
        num = numeric_gradient(lambda v: net.loss(X, y)[0], p)
        assert np.max(np.abs(grads[k] - num)) / max(np.max(np.abs(num)), 1e-12) < 1e-6, k
    assert np.array_equal(net.loss(X), net.loss(X))
