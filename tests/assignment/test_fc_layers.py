"""Are the reference layers of the FC notebook right, judged by an independent oracle
(PyTorch's autograd where it applies, float64 centred differences always)?"""

import numpy as np
import pytest
import torch

from assignment import layers
from assignment.checks.numeric import numeric_gradient

from .oracle import rel, torch_grads

pytestmark = pytest.mark.fc
TORCH_TOL = 1e-10  # float64 against float64: only summation order differs
NUMERIC_TOL = 1e-7  # centred differences, h=1e-5, on well-scaled inputs

torch.set_num_threads(1)


@pytest.mark.parametrize("x_shape,M", [((2, 4, 5), 3), ((1, 7), 2), ((3, 2, 2, 2), 5)])
def test_affine_matches_torch(x_shape, M):
    rng = np.random.default_rng(0)
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal((np.prod(x_shape[1:]), M)),
        rng.standard_normal(M),
    )
    dout = rng.standard_normal((x_shape[0], M))
    out, cache = layers.affine_forward(x, w, b)
    t_out, t_grads = torch_grads(lambda x, w, b: x.reshape(x.shape[0], -1) @ w + b, [x, w, b], dout)
    assert rel(out, t_out) < TORCH_TOL
    for g, t in zip(layers.affine_backward(dout, cache), t_grads):
        assert g.shape == t.shape and rel(g, t) < TORCH_TOL


def test_relu_matches_torch():
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    out, cache = layers.relu_forward(x)
    t_out, (t_dx,) = torch_grads(torch.relu, [x], dout)
    assert rel(out, t_out) < TORCH_TOL and rel(layers.relu_backward(dout, cache), t_dx) < TORCH_TOL


@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_softmax_loss_matches_torch_even_for_large_scores(scale):
    rng = np.random.default_rng(2)
    x, y = scale * rng.standard_normal((5, 7)), rng.integers(7, size=5)
    loss, dx = layers.softmax_loss(x, y)
    tx = torch.tensor(x, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(tx, torch.tensor(y))
    t_loss.backward()
    assert abs(loss - t_loss.item()) <= TORCH_TOL * max(1.0, abs(loss))
    assert rel(dx, tx.grad.numpy()) < TORCH_TOL


def test_svm_loss_matches_torch():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), rng.integers(4, size=6)
    loss, dx = layers.svm_loss(x, y)
    tx = torch.tensor(x, requires_grad=True)
    margins = torch.clamp(tx - tx[torch.arange(6), torch.tensor(y)][:, None] + 1, min=0)
    t_loss = (margins.sum() - 6.0) / 6  # the correct class contributes a margin of exactly 1
    t_loss.backward()
    assert abs(loss - t_loss.item()) < TORCH_TOL and rel(dx, tx.grad.numpy()) < TORCH_TOL


def test_softmax_gradient_matches_centred_differences():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 5)), rng.integers(5, size=3)
    _, dx = layers.softmax_loss(x, y)
    assert rel(dx, numeric_gradient(lambda v: layers.softmax_loss(v, y)[0], x)) < NUMERIC_TOL


def test_layers_do_not_mutate_inputs():
    rng = np.random.default_rng(5)
    x, w, b, dout = (
        rng.standard_normal((3, 4)),
        rng.standard_normal((4, 2)),
        rng.standard_normal(2),
        rng.standard_normal((3, 2)),
    )
    copies = [a.copy() for a in (x, w, b, dout)]
    out, cache = layers.affine_forward(x, w, b)
    layers.affine_backward(dout, cache)
    layers.softmax_loss(out, np.array([0, 1, 1]))
    layers.relu_backward(dout, layers.relu_forward(out)[1])
    assert all(np.array_equal(a, c) for a, c in zip((x, w, b, dout), copies))
