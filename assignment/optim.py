"""First-order update rules.

Every rule has the signature `update(w, dw, config=None) -> (next_w, config)`:
- w: array of the current weights
- dw: array of the same shape, the gradient of the loss with respect to w
- config: dict of hyperparameters and of the state the rule keeps between steps (velocity,
  caches, moments); missing entries take the defaults named in each docstring.

A rule never modifies w, dw or the arrays of the config it is given: it returns next_w and
a config holding the new state. The Solver passes that config back at the next step.
"""

import numpy as np


def _config(config, w, state=(), **defaults):
    """A new config dict: the defaults, then the caller's entries, then zeros shaped like w
    for each state array still missing. A copy, so the caller's dict is never changed."""
    out = {**defaults, **(config or {})}
    for key in state:
        out.setdefault(key, np.zeros_like(w))
    return out


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w - learning_rate * dw.

    config: learning_rate (default 1e-2).
    """
    config = _config(config, w, learning_rate=1e-2)
    next_w = w - config["learning_rate"] * dw
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """Stochastic gradient descent with momentum.

        v = momentum * v - learning_rate * dw
        next_w = w + v

    config:
    - learning_rate: default 1e-2
    - momentum: in [0, 1), default 0.9 (0 gives plain SGD)
    - velocity: array shaped like w, default zeros; the new one is stored in config
    """
    config = _config(config, w, ("velocity",), learning_rate=1e-2, momentum=0.9)
    next_w = None
    ### BEGIN SOLUTION
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    ### END SOLUTION
    return next_w, config


def nesterov_momentum(w, dw, config=None):
    """Nesterov's accelerated gradient, in the form that keeps w at the look-ahead point.

        v_prev = v
        v = momentum * v - learning_rate * dw
        next_w = w - momentum * v_prev + (1 + momentum) * v

    config: learning_rate (1e-2), momentum (0.9), velocity (zeros).
    """
    config = _config(config, w, ("velocity",), learning_rate=1e-2, momentum=0.9)
    v_prev = config["velocity"]
    v = config["momentum"] * v_prev - config["learning_rate"] * dw
    next_w = w - config["momentum"] * v_prev + (1 + config["momentum"]) * v
    config["velocity"] = v
    return next_w, config


def adagrad(w, dw, config=None):
    """AdaGrad: per-parameter step sizes from the running SUM of squared gradients.

        cache = cache + dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    The cache only grows, so the steps shrink towards zero as training goes on.

    config: learning_rate (1e-2), epsilon (1e-8), cache (zeros).
    """
    config = _config(config, w, ("cache",), learning_rate=1e-2, epsilon=1e-8)
    cache = config["cache"] + dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: per-parameter step sizes from a moving average of squared gradients.

        cache = decay_rate * cache + (1 - decay_rate) * dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    config:
    - learning_rate: default 1e-2
    - decay_rate: default 0.99
    - epsilon: default 1e-8, avoids dividing by zero
    - cache: array shaped like w, default zeros; the new one is stored in config
    """
    config = _config(config, w, ("cache",), learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    next_w = None
    ### BEGIN SOLUTION
    cache = config["decay_rate"] * config["cache"] + (1 - config["decay_rate"]) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient and RMSProp-style step sizes, both bias-corrected.

        t = t + 1                      (t counts steps; increment it before using it)
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    config:
    - learning_rate: default 1e-3
    - beta1: default 0.9; beta2: default 0.999
    - epsilon: default 1e-8
    - m, v: arrays shaped like w, default zeros; t: int, default 0. New values go in config.
    """
    config = _config(
        config, w, ("m", "v"), learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0
    )
    next_w = None
    ### BEGIN SOLUTION
    t = config["t"] + 1
    m = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    v = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw**2
    m_hat = m / (1 - config["beta1"] ** t)
    v_hat = v / (1 - config["beta2"] ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config.update(t=t, m=m, v=v)
    ### END SOLUTION
    return next_w, config
