"""Do the update rules match torch.optim step for step, and keep their inputs intact?"""

import numpy as np
import pytest
import torch

from assignment import optim

pytestmark = pytest.mark.fc
TOL = 1e-12  # float64 on both sides

torch.set_num_threads(1)


def run_ours(rule, w, grads, config):
    for g in grads:
        w, config = rule(w, g, config)
    return w


def run_torch(make_opt, w, grads):
    p = torch.tensor(w, requires_grad=True)
    opt = make_opt([p])
    for g in grads:
        opt.zero_grad()
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(5)]


def test_sgd(problem):
    w, grads = problem
    ours = run_ours(optim.sgd, w, grads, {"learning_rate": 0.1})
    assert np.allclose(
        ours, run_torch(lambda p: torch.optim.SGD(p, lr=0.1), w, grads), rtol=TOL, atol=TOL
    )


def test_adam(problem):
    w, grads = problem
    ours = run_ours(optim.adam, w, grads, {"learning_rate": 0.01})
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-8), w, grads)
    assert (
        np.max(np.abs(ours - theirs)) < 1e-9
    )  # torch adds eps after the bias correction of sqrt(v)


def test_adagrad(problem):
    w, grads = problem
    ours = run_ours(optim.adagrad, w, grads, {"learning_rate": 0.1, "epsilon": 1e-10})
    theirs = run_torch(lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10), w, grads)
    assert np.allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_rmsprop(problem):
    w, grads = problem
    ours = run_ours(optim.rmsprop, w, grads, {"learning_rate": 0.01})
    theirs = run_torch(lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8), w, grads)
    assert np.allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_momentum_rules_reach_the_minimum_of_a_quadratic():
    """Momentum and Nesterov must converge on f(w) = 0.5 * |w|^2 (gradient w)."""
    for rule in (optim.sgd_momentum, optim.nesterov_momentum):
        w, config = np.ones(3), {"learning_rate": 0.1}
        for _ in range(300):
            w, config = rule(w, w, config)
        assert np.linalg.norm(w) < 1e-6, rule.__name__


def test_adagrad_steps_shrink_to_a_halt():
    w, config, steps = np.ones(2), {"learning_rate": 0.1}, []
    for _ in range(200):
        next_w, config = optim.adagrad(w, np.ones(2), config)
        steps.append(np.abs(next_w - w).max())
        w = next_w
    assert steps[-1] < steps[0] / 10


@pytest.mark.parametrize(
    "rule",
    [
        optim.sgd,
        optim.sgd_momentum,
        optim.nesterov_momentum,
        optim.adagrad,
        optim.rmsprop,
        optim.adam,
    ],
)
def test_rule_never_changes_its_inputs(rule):
    w, dw = np.ones((2, 2)), np.full((2, 2), 0.5)
    _, config = rule(w, dw, None)
    frozen = {k: np.array(v, copy=True) for k, v in config.items()}
    before = dict(config)
    rule(w, dw, config)
    assert np.array_equal(w, np.ones((2, 2))) and np.array_equal(dw, np.full((2, 2), 0.5))
    assert before.keys() == config.keys() and all(
        np.array_equal(config[k], frozen[k]) for k in frozen
    )
