"""Centred-difference gradients computed inside a check's run (from the code under test)."""

import numpy as np


def numeric_gradient(f, x, dout=None, h=1e-5):
    """Gradient of sum(f(x) * dout) (or of the scalar f(x)) with respect to x.

    x is perturbed in place and restored; returns an array shaped like x.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)  # a view: perturbing flat perturbs x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.array(f(x), dtype=np.float64)
        flat[i] = old - h
        minus = np.array(f(x), dtype=np.float64)
        flat[i] = old
        diff = plus - minus if dout is None else (plus - minus) * dout
        grad.reshape(-1)[i] = np.sum(diff) / (2 * h)
    return grad


def numeric_or_none(f, x, dout=None):
    """numeric_gradient, or None when the forward function itself fails (a stub, say):
    the reference comparison reports the failure, the numeric hint is just left out."""
    try:
        return numeric_gradient(f, x.copy(), dout)
    except Exception:  # noqa: BLE001
        return None


def with_numeric(outputs, **numeric):
    """outputs plus every numeric gradient that could be computed."""
    outputs.update({k: v for k, v in numeric.items() if v is not None})
    return outputs


def model_outputs(net, params, X, y):
    """What a model's loss check judges: a training pass (loss, gradients; batchnorm's running
    statistics move), then test-time scores, then the numeric gradient of the training loss
    for every parameter. The parameters are set from `params`, never from the model's init."""
    net.params = dict(params)
    loss, grads = net.loss(X, y)
    scores = net.loss(X)
    out = {"scores": scores, "loss": loss, **{f"grads.{k}": g for k, g in grads.items()}}

    def loss_of(name):
        def f(v):
            net.params = {**params, name: v}
            return net.loss(X, y)[0]

        return f

    for k in params:
        num = numeric_or_none(loss_of(k), params[k])
        if num is not None:
            out[f"numeric.{k}"] = num
    return out
