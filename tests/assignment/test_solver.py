"""Does the Solver train, schedule the learning rate, record its diagnostics and reject
what it does not understand?"""

import math

import numpy as np
import pytest

from assignment.classifiers.fc_net import FullyConnectedNet
from assignment.solver import Solver

pytestmark = pytest.mark.fc


def toy_data(n=200, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((c, d))
    y = rng.integers(c, size=n)
    X = centres[y] + rng.standard_normal((n, d))
    return {"X_train": X[:150], "y_train": y[:150], "X_val": X[150:], "y_val": y[150:]}


def make_solver(**kwargs):
    np.random.seed(0)
    model = FullyConnectedNet([16], input_dim=6, num_classes=3, weight_scale=0.1, dtype=np.float64)
    settings = dict(
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        num_epochs=6,
        batch_size=25,
        verbose=False,
    )
    settings.update(kwargs)
    return Solver(model, toy_data(), **settings)


def test_training_learns_a_separable_problem():
    solver = make_solver()
    solver.train()
    assert solver.best_val_acc > 0.9
    assert solver.loss_history[-1] < solver.loss_history[0]


def test_unknown_keyword_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'learning_rate'"):
        make_solver(learning_rate=1e-3)


def test_unknown_update_rule_is_a_value_error():
    with pytest.raises(ValueError, match="unknown update_rule 'adamw'"):
        make_solver(update_rule="adamw")


def test_exponential_decay_multiplies_once_per_epoch():
    solver = make_solver(lr_decay=0.5, num_epochs=3)
    solver.train()
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-2 * 0.5**3)


def test_step_decay_waits_for_its_epochs():
    solver = make_solver(lr_decay=0.5, lr_schedule="step", lr_step_epochs=2, num_epochs=5)
    solver.train()
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(1e-2 * 0.5**2)


def test_cosine_schedule_anneals_towards_zero():
    solver = make_solver(lr_schedule="cosine")
    solver.train()
    lrs = solver.lr_history
    assert lrs[0] == pytest.approx(1e-2) and lrs[-1] < 1e-2 * 1e-2
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    half = len(lrs) // 2
    assert lrs[half] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * half / len(lrs))))


def test_update_ratio_is_recorded_per_parameter_and_iteration():
    solver = make_solver(num_epochs=1)
    solver.train()
    ratios = solver.update_ratio_history
    assert set(ratios) == {"W1", "b1", "W2", "b2"}
    assert len(ratios["W1"]) == len(solver.loss_history)
    assert 1e-5 < np.median(ratios["W1"]) < 1e-1
    assert math.isnan(ratios["b1"][0])  # biases start at zero: no ratio yet


def test_progress_bar_and_checkpoints(tmp_path, capsys):
    solver = make_solver(num_epochs=2, progress=True, checkpoint_name=str(tmp_path / "ck"))
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ck_epoch_0.pkl",
        "ck_epoch_1.pkl",
        "ck_epoch_2.pkl",
    ]


def test_best_parameters_are_kept():
    solver = make_solver()
    solver.train()
    assert solver.check_accuracy(solver.X_val, solver.y_val) == pytest.approx(solver.best_val_acc)
