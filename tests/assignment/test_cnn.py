"""Is the reference ThreeLayerConvNet right: the classic sanity values, gradients against
PyTorch autograd and centred differences, dtypes, and can it learn?"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from assignment.checks.numeric import numeric_gradient
from assignment.classifiers.cnn import ThreeLayerConvNet
from assignment.solver import Solver

pytestmark = pytest.mark.conv
TORCH_TOL = 1e-10  # float64 against float64: only summation order differs
NUMERIC_TOL = 1e-6  # centred differences through ReLUs and max pooling, h=1e-5
INITIAL_LOSS_TOL = 5e-3  # tiny initial weights give nearly uniform scores: loss ~ log(C)

torch.set_num_threads(1)


def small_net(reg=0.0, input_dim=(3, 6, 5), dtype=np.float64, seed=0):
    """A small net with weights large enough that every ReLU and pool does something."""
    np.random.seed(seed)
    net = ThreeLayerConvNet(
        input_dim=input_dim,
        num_filters=3,
        filter_size=3,
        hidden_dim=6,
        num_classes=4,
        weight_scale=0.3,
        reg=reg,
        dtype=dtype,
    )
    return net


def test_initial_loss_is_about_log_10_and_rises_with_reg():
    """The notebook's sanity check: default model, 50 random inputs, seed 231."""
    np.random.seed(231)
    model = ThreeLayerConvNet()
    X, y = np.random.randn(50, 3, 32, 32), np.random.randint(10, size=50)
    loss0, _ = model.loss(X, y)
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    assert abs(loss0 - math.log(10)) < INITIAL_LOSS_TOL
    assert loss0 < loss_reg < loss0 + 1.0


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_loss_and_gradients_match_torch_autograd(reg):
    net = small_net(reg)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 3, 6, 5)), rng.integers(4, size=3)
    loss, grads = net.loss(X, y)
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    t = {k: torch.tensor(net.params[k], requires_grad=True) for k in names}
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(X), t["W1"], t["b1"], padding=1)), 2)
    h = F.relu(h.reshape(3, -1) @ t["W2"] + t["b2"])
    scores = h @ t["W3"] + t["b3"]
    t_loss = F.cross_entropy(scores, torch.tensor(y)) + 0.5 * reg * sum(
        (t[k] ** 2).sum() for k in ("W1", "W2", "W3")
    )
    t_loss.backward()
    assert abs(loss - t_loss.item()) < TORCH_TOL * max(1.0, abs(loss))
    assert (
        np.abs(net.loss(X) - scores.detach().numpy()).max()
        < TORCH_TOL * np.abs(scores.detach().numpy()).max()
    )
    for k in names:
        expected = t[k].grad.numpy()
        assert grads[k].shape == expected.shape
        assert np.abs(grads[k] - expected).max() < TORCH_TOL * np.abs(expected).max(), k


def test_gradients_match_centred_differences():
    net = small_net(reg=0.2, input_dim=(2, 4, 4))
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((2, 2, 4, 4)), rng.integers(4, size=2)
    _, grads = net.loss(X, y)
    for k, p in net.params.items():

        def f(v, k=k):
            net.params[k] = v
            return net.loss(X, y)[0]

        numeric = numeric_gradient(f, p.copy())
        net.params[k] = p
        assert np.abs(grads[k] - numeric).max() < NUMERIC_TOL * max(np.abs(numeric).max(), 1e-12), k


@pytest.mark.parametrize("input_dim", [(3, 32, 32), (1, 7, 5), (2, 8, 6)])
def test_init_shapes_follow_the_halving_pool(input_dim):
    C, H, W = input_dim
    net = ThreeLayerConvNet(
        input_dim=input_dim, num_filters=4, filter_size=5, hidden_dim=9, num_classes=3
    )
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (4, C, 5, 5),
        "b1": (4,),
        "W2": (4 * (H // 2) * (W // 2), 9),
        "b2": (9,),
        "W3": (9, 3),
        "b3": (3,),
    }
    assert all(not net.params[k].any() for k in ("b1", "b2", "b3"))


def test_init_draws_weights_with_the_given_scale():
    net = ThreeLayerConvNet(weight_scale=1e-2, dtype=np.float64)
    assert 0.009 < net.params["W2"].std() < 0.011


def test_float32_model_computes_in_float32():
    net = small_net(dtype=np.float32, input_dim=(3, 4, 4))
    X, y = np.random.default_rng(3).standard_normal((2, 3, 4, 4)), np.array([1, 3])
    _, grads = net.loss(X, y)
    assert net.loss(X).dtype == np.float32
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}


def test_loss_does_not_mutate_inputs_or_params():
    net = small_net(reg=0.1)
    X, y = np.random.default_rng(4).standard_normal((2, 3, 6, 5)), np.array([0, 2])
    before = {k: v.copy() for k, v in net.params.items()}
    X0 = X.copy()
    net.loss(X, y)
    assert np.array_equal(X, X0) and all(np.array_equal(before[k], net.params[k]) for k in before)


def test_overfits_a_few_random_images():
    """Twenty images with random labels are memorised within a few epochs: the net can learn."""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((20, 3, 8, 8)), rng.integers(10, size=20)
    np.random.seed(0)
    model = ThreeLayerConvNet(
        input_dim=(3, 8, 8),
        num_filters=8,
        filter_size=3,
        hidden_dim=50,
        weight_scale=1e-1,
        dtype=np.float64,
    )
    solver = Solver(
        model,
        {"X_train": X, "y_train": y, "X_val": X, "y_val": y},
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        num_epochs=15,
        batch_size=10,
        verbose=False,
    )
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
