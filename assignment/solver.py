"""Solver: trains a model with minibatch first-order updates and tracks its accuracy.

    model = FullyConnectedNet([100], reg=1e-3)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    num_epochs=10, batch_size=100)
    solver.train()
    solver.model.params  # the best parameters by validation accuracy

A model has `params` (dict name -> array) and `loss(X, y=None)`: scores (N, C) when y is
None, else (loss, grads) with grads keyed like params.
"""

import copy
import math
import pickle

import numpy as np

from . import optim

SCHEDULES = ("exponential", "step", "cosine")


class Solver:
    """Minibatch training loop with learning-rate schedules and training diagnostics.

    Required:
    - model: object with params and loss(X, y=None), as above
    - data: dict with X_train, y_train, X_val, y_val

    Optional keyword arguments:
    - update_rule: name of a rule in assignment.optim ('sgd', 'sgd_momentum', 'rmsprop',
      'adam', ...) or a callable with the same signature. Default 'sgd'.
    - optim_config: hyperparameters of the rule, e.g. {'learning_rate': 1e-3}; every
      parameter gets its own copy, since rules keep per-parameter state in it.
    - lr_decay: factor applied to the learning rate by the 'exponential' and 'step' schedules.
      Default 1.0 (constant learning rate).
    - lr_schedule: 'exponential' (multiply by lr_decay after every epoch; the classic
      behaviour and the default), 'step' (multiply by lr_decay every lr_step_epochs epochs),
      or 'cosine' (anneal from the initial rate to 0 along a half cosine, every iteration).
    - lr_step_epochs: epochs between decays of the 'step' schedule. Default 1.
    - batch_size: default 100. num_epochs: default 10.
    - num_train_samples, num_val_samples: how many examples to score for the accuracy
      histories (default 1000 and all); None means all.
    - checkpoint_name: when given, pickle a checkpoint after every epoch to
      '<checkpoint_name>_epoch_<e>.pkl'.
    - print_every: print the loss every this many iterations (default 10).
    - verbose: print progress (default True). progress: show a tqdm bar (default False).

    Histories after train(): loss_history (per iteration), train_acc_history and
    val_acc_history (per epoch, plus the start), lr_history (per iteration) and
    update_ratio_history: {param name: list of ||update|| / ||w|| per iteration}. A ratio near
    1e-3 is the usual rule of thumb for a healthy learning rate.
    """

    _DEFAULTS = dict(
        update_rule="sgd",
        optim_config=None,
        lr_decay=1.0,
        lr_schedule="exponential",
        lr_step_epochs=1,
        batch_size=100,
        num_epochs=10,
        num_train_samples=1000,
        num_val_samples=None,
        checkpoint_name=None,
        print_every=10,
        verbose=True,
        progress=False,
    )

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(self._DEFAULTS))
        if unknown:
            raise ValueError(
                f"Solver: unknown keyword argument(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(self._DEFAULTS)}"
            )
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise ValueError(f"Solver: data is missing {', '.join(missing)}")
        settings = {**self._DEFAULTS, **kwargs}
        if settings["lr_schedule"] not in SCHEDULES:
            raise ValueError(
                f"Solver: lr_schedule must be one of {SCHEDULES}, got {settings['lr_schedule']!r}"
            )
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        for key, value in settings.items():
            setattr(self, key, value)
        self.optim_config = dict(self.optim_config or {})

        if isinstance(self.update_rule, str):
            if not hasattr(optim, self.update_rule):
                raise ValueError(f"Solver: unknown update_rule {self.update_rule!r}")
            self.update_rule = getattr(optim, self.update_rule)
        elif not callable(self.update_rule):
            raise ValueError("Solver: update_rule must be a name in assignment.optim or a callable")
        self._reset()

    def _reset(self):
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.lr_history = []
        self.update_ratio_history = {p: [] for p in self.model.params}
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}
        self._initial_lr = {p: c.get("learning_rate") for p, c in self.optim_configs.items()}

    def _step(self, iteration, num_iterations):
        """One minibatch gradient step."""
        batch = np.random.choice(self.X_train.shape[0], self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self.loss_history.append(loss)
        if self.lr_schedule == "cosine":
            self._set_cosine_lr(iteration, num_iterations)
        for p, w in self.model.params.items():
            next_w, self.optim_configs[p] = self.update_rule(w, grads[p], self.optim_configs[p])
            norm_w = np.linalg.norm(w)
            self.update_ratio_history[p].append(
                float(np.linalg.norm(next_w - w) / norm_w) if norm_w > 0 else math.nan
            )
            self.model.params[p] = next_w
        first = next(iter(self.optim_configs.values()), {})
        self.lr_history.append(first.get("learning_rate"))

    def _set_cosine_lr(self, iteration, num_iterations):
        factor = 0.5 * (1 + math.cos(math.pi * iteration / num_iterations))
        for p, config in self.optim_configs.items():
            if self._initial_lr[p] is not None:
                config["learning_rate"] = self._initial_lr[p] * factor

    def _end_of_epoch_decay(self):
        if self.lr_schedule == "exponential" or (
            self.lr_schedule == "step" and self.epoch % self.lr_step_epochs == 0
        ):
            for config in self.optim_configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay

    def _save_checkpoint(self):
        if self.checkpoint_name is None:
            return
        checkpoint = {
            "model": self.model,
            "update_rule": self.update_rule,
            "lr_decay": self.lr_decay,
            "lr_schedule": self.lr_schedule,
            "optim_config": self.optim_config,
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        with open(f"{self.checkpoint_name}_epoch_{self.epoch}.pkl", "wb") as f:
            pickle.dump(checkpoint, f)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples of X whose highest score is their label y.

        Inputs:
        - X: (N, d_1, ..., d_k); y: (N,)
        - num_samples: score a random subset of this size (None: all)
        - batch_size: examples per forward pass, to bound memory
        """
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            subset = np.random.choice(N, num_samples)
            X, y, N = X[subset], y[subset], num_samples
        predictions = [
            np.argmax(self.model.loss(X[i : i + batch_size]), axis=1)
            for i in range(0, N, batch_size)
        ]
        return float(np.mean(np.concatenate(predictions) == y))

    def train(self):
        """Run the optimisation for num_epochs epochs, then keep the best parameters."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=num_iterations, unit="it")

        for t in range(num_iterations):
            self._step(t, num_iterations)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{self.loss_history[-1]:.3f}")
            if self.verbose and t % self.print_every == 0:
                self._print(
                    f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}", bar
                )

            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                self._end_of_epoch_decay()
            if t == 0 or t == num_iterations - 1 or epoch_end:
                self._record_accuracy(bar)
        if bar is not None:
            bar.close()
        self.model.params = self.best_params

    def _record_accuracy(self, bar):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self._save_checkpoint()
        if self.verbose:
            self._print(
                f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                f"val_acc: {val_acc:f}",
                bar,
            )
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}

    @staticmethod
    def _print(message, bar):
        if bar is not None:
            bar.write(message)
        else:
            print(message)
